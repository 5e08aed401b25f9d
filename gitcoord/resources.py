"""Resources that claims name: their grammar, validation and normal form (DESIGN §4).

A resource is one of:

- a named non-file resource ``scheme:name`` (``db:migrations``, ``port:8080``), matched exactly;
- a repo-relative path (``src/api.py``) or directory (``src/api/``);
- a gitignore-style glob (``src/**/*.py``, ``*``, ``?``, ``[a-z]``, ``[!a]``, ``**``).

``parse_resource`` turns typed text into a ``Resource`` or refuses it with one sentence. The glob
grammar here (segments of atoms over exact character sets, folded for ``core.ignorecase``) is
what ``gitcoord.overlap`` builds its automata from, so parsing and matching never disagree.
"""

from __future__ import annotations

import bisect
import re
import unicodedata
from collections.abc import Iterable
from functools import lru_cache
from typing import Literal, NamedTuple

from gitcoord.errors import InvalidInput
from gitcoord.validate import BIDI_CONTROLS

__all__ = ["MAX_RESOURCE_BYTES", "Kind", "Resource", "parse_resource"]

Kind = Literal["path", "dir", "glob", "named"]

MAX_RESOURCE_BYTES = 1024
# Case folding a class is done member by member; past this size we stop being exact and let the
# class match any character, which can only add overlaps, never hide one.
_FOLD_LIMIT = 4096

_SCHEME = re.compile(r"[a-z][a-z0-9+.\-]*:")
GLOB_CHARS = frozenset("*?[")
# Directional marks: harmless in prose, but a path holding one reads differently than it compares.
_BIDI_MARKS = frozenset("\u061c\u200e\u200f")
MAX_CODE_POINT = 0x10FFFF


class Resource(NamedTuple):
    """A validated, normalised resource, as stored in claim records.

    A NamedTuple rather than a dataclass: the commit hooks import this module, and
    the dataclasses machinery alone would cost them milliseconds on every commit.

    >>> parse_resource("./src//api/")
    Resource(text='src/api/', kind='dir')
    """

    text: str
    kind: Kind

    def __str__(self) -> str:
        return self.text


# --------------------------------------------------------------------------------------------
# Character sets: sorted, disjoint, non-adjacent inclusive code-point ranges. Negated classes
# become their (finite) complement over all of Unicode, so every intersection is exact.

CharSet = tuple[tuple[int, int], ...]

ALL_CHARS: CharSet = ((0, MAX_CODE_POINT),)
SLASH: CharSet = ((ord("/"), ord("/")),)
NOT_SLASH: CharSet = ((0, ord("/") - 1), (ord("/") + 1, MAX_CODE_POINT))


def _charset(ranges: Iterable[tuple[int, int]]) -> CharSet:
    merged: list[tuple[int, int]] = []
    for lo, hi in sorted(ranges):
        if merged and lo <= merged[-1][1] + 1:
            merged[-1] = (merged[-1][0], max(merged[-1][1], hi))
        else:
            merged.append((lo, hi))
    return tuple(merged)


def complement(chars: CharSet) -> CharSet:
    gaps: list[tuple[int, int]] = []
    next_free = 0
    for lo, hi in chars:
        if lo > next_free:
            gaps.append((next_free, lo - 1))
        next_free = hi + 1
    if next_free <= MAX_CODE_POINT:
        gaps.append((next_free, MAX_CODE_POINT))
    return tuple(gaps)


@lru_cache(maxsize=8192)
def intersect(a: CharSet, b: CharSet) -> CharSet:
    common: list[tuple[int, int]] = []
    i = j = 0
    while i < len(a) and j < len(b):
        lo, hi = max(a[i][0], b[j][0]), min(a[i][1], b[j][1])
        if lo <= hi:
            common.append((lo, hi))
        if a[i][1] < b[j][1]:
            i += 1
        else:
            j += 1
    return tuple(common)


def contains(chars: CharSet, code_point: int) -> bool:
    at = bisect.bisect_right(chars, (code_point, MAX_CODE_POINT + 1)) - 1
    return at >= 0 and chars[at][0] <= code_point <= chars[at][1]


def _size(chars: CharSet) -> int:
    return sum(hi - lo + 1 for lo, hi in chars)


# --------------------------------------------------------------------------------------------
# Case folding (git's core.ignorecase): compare in lowercase, one character for one character.
# A character whose lowercase is several characters (U+0130) is left alone, so `?` still
# matches it and folding never changes a path's length.


def fold_char(ch: str) -> str:
    low = ch.lower()
    return low if len(low) == 1 else ch


def fold_text(text: str) -> str:
    # str.lower() on a whole string applies context rules (Greek final sigma); char by char
    # keeps paths and patterns folded identically.
    return text.lower() if text.isascii() else "".join(map(fold_char, text))


@lru_cache(maxsize=1024)
def _fold_members(members: CharSet) -> CharSet | None:
    """The folded image of a class's listed characters, or None when too large to fold."""
    if _size(members) > _FOLD_LIMIT:
        return None
    folded = (ord(fold_char(chr(cp))) for lo, hi in members for cp in range(lo, hi + 1))
    return _charset((cp, cp) for cp in folded)


# --------------------------------------------------------------------------------------------
# Parsed patterns. A segment is a tuple of atoms, or None for a whole-segment `**`.


class Atom(NamedTuple):
    """One pattern element: a literal, `?`, `*` or a `[...]` class. Never matches '/'."""

    members: CharSet  # the characters written (a literal's own character; empty for ? and *)
    negated: bool  # matches every character except the members
    repeat: bool  # any run of matching characters (`*`) instead of exactly one

    @property
    def chars(self) -> CharSet:
        if self.negated:
            return complement(_charset((*self.members, *SLASH)))
        return intersect(self.members, NOT_SLASH)

    def folded(self) -> Atom:
        members = _fold_members(self.members)
        if members is None:
            return Atom((), negated=True, repeat=self.repeat)
        return Atom(members, self.negated, self.repeat)


Segment = tuple[Atom, ...] | None
_ANY_ONE = Atom((), negated=True, repeat=False)
_ANY_RUN = Atom((), negated=True, repeat=True)


class _PatternError(Exception):
    """A glob syntax problem; parse_resource turns it into InvalidInput with the resource."""


def _literal(ch: str) -> Atom:
    return Atom(((ord(ch), ord(ch)),), negated=False, repeat=False)


def _is_globstar(segment: str) -> bool:
    # git's wildmatch treats any run of two or more stars filling a segment as `**`.
    return len(segment) >= 2 and segment.strip("*") == ""


def _parse_segment(segment: str) -> Segment:
    if _is_globstar(segment):
        return None
    atoms: list[Atom] = []
    i = 0
    while i < len(segment):
        ch = segment[i]
        if ch == "*":
            while i < len(segment) and segment[i] == "*":
                i += 1
            atoms.append(_ANY_RUN)
            continue
        if ch == "[":
            atom, i = _parse_class(segment, i)
            atoms.append(atom)
            continue
        atoms.append(_ANY_ONE if ch == "?" else _literal(ch))
        i += 1
    return tuple(atoms)


def _parse_class(segment: str, start: int) -> tuple[Atom, int]:
    """Parse the class opening at segment[start]; return it and the index after its ']'."""
    i = start + 1
    negated = i < len(segment) and segment[i] in "!^"
    if negated:
        i += 1
    first = i
    ranges: list[tuple[int, int]] = []
    while True:
        if i >= len(segment):
            raise _PatternError(
                f"the character class starting at {segment[start:]!r} is unterminated"
                " (a '[' needs a closing ']' in the same path segment)"
            )
        if segment[i] == "]" and i > first:
            return Atom(_charset(ranges), negated, repeat=False), i + 1
        if segment.startswith("[:", i):
            raise _PatternError("POSIX classes such as [:alpha:] are not supported; list the characters")
        i = _parse_class_member(segment, i, ranges)


def _parse_class_member(segment: str, i: int, ranges: list[tuple[int, int]]) -> int:
    """Append the single character or range at segment[i] to ranges; return the next index."""
    low = ord(segment[i])
    if i + 2 < len(segment) and segment[i + 1] == "-" and segment[i + 2] != "]":
        high = ord(segment[i + 2])
        if low > high:
            raise _PatternError(f"the class range {segment[i : i + 3]!r} is reversed and matches nothing")
        ranges.append((low, high))
        return i + 3
    ranges.append((low, low))
    return i + 1


def pattern_segments(text: str) -> list[str]:
    """The non-empty segments of a normalised path resource (its trailing '/' dropped)."""
    return [segment for segment in text.split("/") if segment]


@lru_cache(maxsize=4096)
def glob_segments(text: str, ignorecase: bool) -> tuple[Segment, ...]:
    parsed = tuple(_parse_segment(segment) for segment in pattern_segments(text))
    if not ignorecase:
        return parsed
    return tuple(None if seg is None else tuple(atom.folded() for atom in seg) for seg in parsed)


# --------------------------------------------------------------------------------------------
# Parsing and validating resource text.


def parse_resource(text: str) -> Resource:
    """Validate and normalise a resource as typed by a user or an agent.

    Raises InvalidInput (exit 2) with a sentence naming the problem.

    >>> parse_resource("db:migrations").kind
    'named'
    >>> parse_resource("./src/**/*.py")
    Resource(text='src/**/*.py', kind='glob')
    """
    _check_characters(text)
    scheme = _SCHEME.match(text)
    if scheme:
        return _parse_named(text, scheme.end())
    return _parse_path(text)


def _refuse(text: str, problem: str, hint: str | None = None) -> InvalidInput:
    return InvalidInput(f"The resource {text!r} {problem}.", hint=hint)


def _check_characters(text: str) -> None:
    if not text:
        raise InvalidInput("The resource is empty.", hint="name a path, a directory/, a glob or scheme:name")
    # Size first, so an absurdly long input is refused before any per-character work.
    try:
        size = len(text.encode("utf-8"))
    except UnicodeEncodeError:
        raise _refuse(text, "is not valid Unicode (it holds a lone surrogate)") from None
    if size > MAX_RESOURCE_BYTES:
        raise _refuse(
            text[:40] + "...", f"is {size} bytes long, over the limit of {MAX_RESOURCE_BYTES} bytes"
        )
    if text.isascii() and text.isprintable() and "\\" not in text:
        return  # the common case: no control, no bidirectional mark, no backslash (below)
    for ch in text:
        # Records are TOML and hook messages go to terminals: control characters would
        # corrupt both, and no sane file name needs them.
        if unicodedata.category(ch) == "Cc":
            raise _refuse(text, f"contains the control character {ch!r}")
        if ch in BIDI_CONTROLS or ch in _BIDI_MARKS:
            # A path shown in a refusal or a dashboard must read as it is stored.
            raise _refuse(text, f"contains the bidirectional control {ch!r}")
    if "\\" in text:
        raise _refuse(text, "contains a backslash", hint="resources use '/' as the only separator")


def _parse_named(text: str, name_start: int) -> Resource:
    if name_start == len(text):
        raise _refuse(text, "has a scheme but no name after the ':'", hint="for example db:migrations")
    return Resource(text, "named")


def _parse_path(text: str) -> Resource:
    if text.startswith("/"):
        raise _refuse(text, "is an absolute path", hint="use a path relative to the repository root")
    if text == ".":
        raise _refuse(text, "is '.', the whole repository", hint="claim '**' to mean every path")
    parts = text.split("/")
    segments = [part for part in parts if part not in ("", ".")]
    if ".." in segments:
        raise _refuse(text, "contains a '..' segment", hint="resources must stay inside the repository")
    if not segments:
        raise _refuse(text, "is empty after normalisation")
    # A trailing '/.' names the directory just like a trailing '/', as it does for git.
    is_dir = len(parts) > 1 and parts[-1] in ("", ".")
    normalised = "/".join(segments) + ("/" if is_dir else "")
    if not GLOB_CHARS.intersection(normalised):
        return Resource(normalised, "dir" if is_dir else "path")
    try:
        glob_segments(normalised, False)
    except _PatternError as error:
        raise _refuse(text, f"is not a valid glob: {error}") from None
    return Resource(normalised, "glob")
