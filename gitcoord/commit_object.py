"""A coord commit written in-process: the very bytes `git commit-tree` would write, or git writes it.

`git commit-tree TREE -p PARENT -F -` costs a process for what is a few header lines: tree,
parents, `author` and `committer` (name, email, date), an empty line, the message as given.
Written here when every input git would use is one whose treatment is known exactly
(tests/test_commit_object.py compares the bytes with git's, SHA-1 and SHA-256): otherwise, and
always for a signed commit, git writes it. The rules followed (git-commit-tree(1), "Commit
Information", and git-config(1), `user.*`, `author.*`, `committer.*`):

- the name is `GIT_AUTHOR_NAME` (`GIT_COMMITTER_NAME`), else `author.name` (`committer.name`)
  when not empty, else `user.name`; the email likewise with `*_EMAIL`, `*.email`, `user.email`.
  Nothing found means git would guess one (from the system, or `EMAIL`), or refuse under
  `user.useConfigOnly`: git decides;
- git strips "crud" (spaces, `.,:;<>"\\'`) from both ends and drops `<`, `>` and newlines: a
  value where that would change anything, an empty one, or a key set with no value anywhere
  (which git refuses) goes to git;
- the date is `GIT_AUTHOR_DATE` (`GIT_COMMITTER_DATE`) when set and not empty, else now in the
  local zone; a set date is only read here in git's own form `@<seconds> <+-hhmm>`, any other
  (ISO 8601, RFC 2822, "yesterday") goes to git;
- git rewrites text that is not valid UTF-8 or holds a non-character, and these go to git too,
  as do a NUL, `commit.gpgSign` (git signs), `i18n.commitEncoding` (an `encoding` header) and
  `extensions.compatObjectFormat` (git records a second object id).
"""

from __future__ import annotations

import os
import re
import time
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from gitcoord.git import Git

# Config keys that make git write something else: a signature, an encoding header, a mapping.
GIT_WRITES = ("commit.gpgsign", "i18n.commitencoding", "extensions.compatobjectformat")
# What git strips from both ends of a name or email (ident.c, `crud`), and drops anywhere.
CRUD = frozenset(".,:;<>\"\\'")
DROPPED = frozenset("<>\n")
# git's own date form, the one a set date is read in here: `@<seconds> <+-hhmm>`.
RAW_DATE = re.compile(r"@([0-9]{1,12}) ([+-])([0-9]{2})([0-5][0-9])")
# What git's UTF-8 check rewrites or refuses: NUL (ends a C string), surrogates, U+FFFD (a
# config value that was not UTF-8, as read), and the non-characters.
NOT_PLAIN = re.compile("[\x00\ud800-\udfff\ufdd0-\ufdef\ufffd\ufffe\uffff]")


def write(
    git: Git,
    tree: str,
    parents: Sequence[str],
    message: str,
    gitconfig: Mapping[str, list[str]] | None,
    *,
    sign: bool = False,
) -> str:
    """Write the commit and return its id: in-process when `commit_body` knows git's bytes (given
    git's config as read for this call), else (and always when signed) with `git commit-tree`."""
    body = None if sign or gitconfig is None else commit_body(tree, parents, message, gitconfig)
    if body is None:
        return git.commit_tree(tree, parents, message, sign=sign)
    return git.write_object(b"commit", body)


def commit_body(
    tree: str,
    parents: Sequence[str],
    message: str,
    gitconfig: Mapping[str, list[str]],
    environ: Mapping[str, str] = os.environ,
) -> bytes | None:
    """The commit object's text `git commit-tree` would write, or None: let git write it.

    >>> commit_body("4b825dc642cb6eb9a060e54bf8d69288fbee4904", [], "hi\\n", {},
    ...             {"GIT_AUTHOR_NAME": "A", "GIT_AUTHOR_EMAIL": "a@x", "GIT_AUTHOR_DATE": "@1 +0000",
    ...              "GIT_COMMITTER_NAME": "C", "GIT_COMMITTER_EMAIL": "c@x",
    ...              "GIT_COMMITTER_DATE": "@2 -0130"}).splitlines()[-3]
    b'committer C <c@x> 2 -0130'
    """
    if any(key in gitconfig for key in GIT_WRITES) or len(set(parents)) != len(parents):
        return None
    now = int(time.time())  # read once for both, as git does (ident.c keeps its default date)
    author = _ident("AUTHOR", "author", gitconfig, environ, now)
    committer = _ident("COMMITTER", "committer", gitconfig, environ, now)
    if author is None or committer is None or NOT_PLAIN.search(message) or _astral_non_character(message):
        return None
    head = [f"tree {tree}", *(f"parent {p}" for p in parents), f"author {author}", f"committer {committer}"]
    return ("\n".join(head) + "\n\n" + message).encode()


def _ident(
    env_word: str, config_word: str, gitconfig: Mapping[str, list[str]], environ: Mapping[str, str], now: int
) -> str | None:
    """`Name <email> seconds +hhmm` for the author or the committer, or None: git's answer."""
    name = _part(environ.get(f"GIT_{env_word}_NAME"), f"{config_word}.name", "user.name", gitconfig)
    email = _part(environ.get(f"GIT_{env_word}_EMAIL"), f"{config_word}.email", "user.email", gitconfig)
    date = _date(environ.get(f"GIT_{env_word}_DATE"), now)
    if name is None or email is None or date is None:
        return None
    return f"{name} <{email}> {date}"


def _part(
    from_env: str | None, own_key: str, user_key: str, gitconfig: Mapping[str, list[str]]
) -> str | None:
    """A name or an email as git picks it, when git would write it unchanged; else None."""
    if any("" in gitconfig.get(key, ()) for key in (own_key, user_key)):
        return None  # set empty, or with no value (which git refuses): the two look alike here
    if from_env is not None:
        value = from_env
    elif own_key in gitconfig:
        value = gitconfig[own_key][-1]
    elif user_key in gitconfig:
        value = gitconfig[user_key][-1]
    else:
        return None  # git would guess it, or refuse: its call
    return value if _kept_whole(value) else None


def _kept_whole(value: str) -> bool:
    """Would git write `value` as it is (nothing stripped, dropped or rewritten)?"""
    if not value or NOT_PLAIN.search(value) or _astral_non_character(value):
        return False
    ends = (value[0], value[-1])
    if any(c <= " " or c in CRUD for c in ends):
        return False
    return not any(c in DROPPED for c in value)


def _astral_non_character(text: str) -> bool:
    """Non-characters above the first plane (U+1FFFE, U+1FFFF, ...), which git rewrites too."""
    return any(ord(c) > 0xFFFF and (ord(c) & 0xFFFE) == 0xFFFE for c in text)


def _date(given: str | None, now: int) -> str | None:
    """`seconds +hhmm`: `now` in the local zone, or a set date in git's own form; else None."""
    if not given:  # unset or empty: git takes the time now
        minutes = int(time.localtime(now).tm_gmtoff / 60)  # git drops a zone's odd seconds
        return _stamp(now, minutes)
    found = RAW_DATE.fullmatch(given)
    if found is None:
        return None
    seconds, sign, hours, mins = found.groups()
    minutes = int(hours) * 60 + int(mins)
    return _stamp(int(seconds), -minutes if sign == "-" else minutes)


def _stamp(seconds: int, minutes: int) -> str:
    sign = "-" if minutes < 0 else "+"
    return f"{seconds} {sign}{abs(minutes) // 60:02d}{abs(minutes) % 60:02d}"
