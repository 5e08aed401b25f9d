"""A coord commit written in-process is byte for byte the one `git commit-tree` writes
(gitcoord/commit_object.py), in SHA-1 and SHA-256 repositories; where git's answer could differ,
git writes it."""

from __future__ import annotations

import json
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from gitcoord import commit_object
from gitcoord.coordinator import Coordinator
from gitcoord.git import Git
from gitcoord.workspace import read_git_config
from tests.conftest import git

MESSAGE = "claim: bench/x.py\n\nSome text: é, 😀, tabs\tand trailers.\n\nCoord-Rev: 7\nCoord-Agent: alpha\n"
RAW_DATES = {"GIT_AUTHOR_DATE": "@1700000000 -0130", "GIT_COMMITTER_DATE": "@1700000001 +1400"}


@pytest.fixture(params=["sha1", "sha256"])
def repo(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Path]:
    path = tmp_path / request.param
    git(tmp_path, "init", "-q", f"--object-format={request.param}", str(path))
    yield path


def _tree_and_parent(repo: Path) -> tuple[str, str]:
    tree = subprocess.run(["git", "mktree"], cwd=repo, input=b"", capture_output=True, check=True)
    empty = tree.stdout.decode().strip()
    parent = git(repo, "commit-tree", empty, "-m", "first")
    return empty, parent


def _gits(repo: Path, tree: str, parents: list[str], message: str) -> tuple[str, bytes]:
    """`git commit-tree`'s commit id and bytes for the same inputs, in this environment."""
    args = ["git", "commit-tree", tree, *(a for p in parents for a in ("-p", p)), "-F", "-"]
    made = subprocess.run(args, cwd=repo, input=message.encode(), capture_output=True, check=True)
    oid = made.stdout.decode().strip()
    return oid, subprocess.run(["git", "cat-file", "commit", oid], cwd=repo, capture_output=True).stdout


def _ours(repo: Path, tree: str, parents: list[str], message: str) -> tuple[str, bytes]:
    body = commit_object.commit_body(tree, parents, message, read_git_config(repo))
    assert body is not None, "expected the commit to be written in-process"
    oid = Git(repo).write_object(b"commit", body)
    return oid, subprocess.run(["git", "cat-file", "commit", oid], cwd=repo, capture_output=True).stdout


def _same_second(repo: Path, tree: str, parents: list[str], message: str) -> None:
    """Ours equals git's; taken again when the clock's second turned between the two."""
    for _ in range(5):
        before = int(time.time())
        ours, theirs = _ours(repo, tree, parents, message), _gits(repo, tree, parents, message)
        if int(time.time()) == before:
            assert ours == theirs
            return
    raise AssertionError("the clock's second turned at every try")


def test_env_identity_and_raw_dates(repo: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    for name, value in RAW_DATES.items():
        monkeypatch.setenv(name, value)
    tree, parent = _tree_and_parent(repo)
    for parents in ([], [parent]):
        assert _ours(repo, tree, parents, MESSAGE) == _gits(repo, tree, parents, MESSAGE)
    assert _ours(repo, tree, [parent], "no newline at the end") == _gits(
        repo, tree, [parent], "no newline at the end"
    )


@pytest.mark.parametrize("date", ["@0 +0000", "@1234567890 -0000", "@1700000000 +0530", "@99 -1200"])
def test_raw_date_forms(repo: Path, monkeypatch: pytest.MonkeyPatch, date: str) -> None:
    monkeypatch.setenv("GIT_AUTHOR_DATE", date)
    monkeypatch.setenv("GIT_COMMITTER_DATE", date)
    tree, parent = _tree_and_parent(repo)
    assert _ours(repo, tree, [parent], MESSAGE) == _gits(repo, tree, [parent], MESSAGE)


@pytest.mark.parametrize("zone", ["UTC", "America/St_Johns", "Asia/Kolkata", "Pacific/Chatham"])
def test_now_in_the_local_zone(repo: Path, monkeypatch: pytest.MonkeyPatch, zone: str) -> None:
    if not Path("/usr/share/zoneinfo", zone).exists():
        pytest.skip(f"no zone data for {zone}")
    monkeypatch.setenv("TZ", zone)
    time.tzset()
    try:
        tree, parent = _tree_and_parent(repo)
        _same_second(repo, tree, [parent], MESSAGE)
    finally:
        monkeypatch.undo()
        time.tzset()


def test_identity_from_config(repo: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ("GIT_AUTHOR_NAME", "GIT_AUTHOR_EMAIL", "GIT_COMMITTER_NAME", "GIT_COMMITTER_EMAIL"):
        monkeypatch.delenv(name)
    for name, value in RAW_DATES.items():
        monkeypatch.setenv(name, value)
    tree, parent = _tree_and_parent_with(repo, {"user.name": "Us Er", "user.email": "user@example.com"})
    assert _ours(repo, tree, [parent], MESSAGE) == _gits(repo, tree, [parent], MESSAGE)
    # author.* and committer.* come before user.*, and the environment before all of them.
    git(repo, "config", "author.name", "Au Thor")
    git(repo, "config", "committer.email", "committer@example.com")
    assert _ours(repo, tree, [parent], MESSAGE) == _gits(repo, tree, [parent], MESSAGE)
    monkeypatch.setenv("GIT_COMMITTER_EMAIL", "env@example.com")
    monkeypatch.setenv("GIT_AUTHOR_NAME", "Env Name")
    found = _ours(repo, tree, [parent], MESSAGE)
    assert found == _gits(repo, tree, [parent], MESSAGE)
    assert b"author Env Name <user@example.com>" in found[1]
    assert b"committer Us Er <env@example.com>" in found[1]
    # The last value of a key set twice (the global file, then the repository's) is git's.
    git(repo, "config", "--add", "user.name", "Second Name")
    monkeypatch.delenv("GIT_AUTHOR_NAME")
    git(repo, "config", "--unset", "author.name")
    assert _ours(repo, tree, [parent], MESSAGE) == _gits(repo, tree, [parent], MESSAGE)


def _tree_and_parent_with(repo: Path, config: dict[str, str]) -> tuple[str, str]:
    for key, value in config.items():
        git(repo, "config", key, value)
    return _tree_and_parent(repo)


@pytest.mark.parametrize(
    ("env", "config", "message"),
    [
        ({"GIT_AUTHOR_DATE": "2026-01-02T03:04:05Z"}, {}, MESSAGE),  # not git's raw form
        ({"GIT_COMMITTER_DATE": "@1700000000"}, {}, MESSAGE),  # no zone
        ({"GIT_AUTHOR_NAME": " Spaced Name "}, {}, MESSAGE),  # git strips the ends
        ({"GIT_AUTHOR_NAME": "Name."}, {}, MESSAGE),
        ({"GIT_COMMITTER_NAME": "A <b> C"}, {}, MESSAGE),  # git drops < and >
        ({"GIT_COMMITTER_EMAIL": "<c@example.com>"}, {}, MESSAGE),
        ({}, {"commit.gpgSign": "false"}, MESSAGE),  # git reads it: git writes
        ({}, {"i18n.commitEncoding": "ISO-8859-1"}, MESSAGE),  # an encoding header
        ({}, {}, "a non-character: \ufdd0\n"),  # git's UTF-8 check rewrites it
        ({}, {}, "another one: \U0001fffe\n"),
    ],
)
def test_what_git_would_change_goes_to_git(
    repo: Path, monkeypatch: pytest.MonkeyPatch, env: dict[str, str], config: dict[str, str], message: str
) -> None:
    for name, value in {**RAW_DATES, **env}.items():
        monkeypatch.setenv(name, value)
    tree, parent = _tree_and_parent_with(repo, config)
    assert commit_object.commit_body(tree, [parent], message, read_git_config(repo)) is None
    written = commit_object.write(Git(repo), tree, [parent], message, read_git_config(repo))
    assert written == _gits(repo, tree, [parent], message)[0]


def test_no_identity_anywhere_goes_to_git(repo: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """git would guess one from the system, or refuse under useConfigOnly: its call, its message."""
    from gitcoord.errors import InvalidInput

    tree, parent = _tree_and_parent_with(repo, {"user.useConfigOnly": "true"})
    for name in ("GIT_AUTHOR_NAME", "GIT_AUTHOR_EMAIL", "GIT_COMMITTER_NAME", "GIT_COMMITTER_EMAIL"):
        monkeypatch.delenv(name)
    (repo.parent / "empty.gitconfig").write_text("")
    monkeypatch.setenv("GIT_CONFIG_GLOBAL", str(repo.parent / "empty.gitconfig"))
    assert commit_object.commit_body(tree, [parent], MESSAGE, read_git_config(repo)) is None
    with pytest.raises(InvalidInput, match="no identity"):
        commit_object.write(Git(repo), tree, [parent], MESSAGE, read_git_config(repo))


def test_a_key_set_empty_or_with_no_value_goes_to_git(repo: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("GIT_AUTHOR_NAME")
    tree, parent = _tree_and_parent(repo)
    with (repo / ".git" / "config").open("a") as config:
        config.write("[user]\n\tname\n")  # git refuses to use this
    assert commit_object.commit_body(tree, [parent], MESSAGE, read_git_config(repo)) is None
    said = subprocess.run(["git", "commit-tree", tree, "-m", "x"], cwd=repo, capture_output=True)
    assert said.returncode != 0


def test_a_claim_writes_its_commit_without_commit_tree(
    local_repo: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The store writes the commit itself: no `commit-tree` process, and git reads it whole."""
    trace = tmp_path / "trace.json"
    monkeypatch.setenv("GIT_TRACE2_EVENT", str(trace))
    with Coordinator(local_repo, agent="alpha") as coord:
        coord.claim(["src/x.py"])
    started = [json.loads(line) for line in trace.read_text().splitlines()]
    argvs = [e["argv"][1:2] for e in started if e["event"] == "start"]
    assert ["commit-tree"] not in argvs
    monkeypatch.delenv("GIT_TRACE2_EVENT")
    assert git(local_repo, "fsck", "--strict", "--no-dangling") == ""
    assert git(local_repo, "log", "-1", "--format=%an <%ae>|%cn <%ce>|%s", "coord") == (
        "Test Human <human@example.com>|Test Human <human@example.com>|alpha: claim src/x.py"
    )


def test_a_signed_act_still_goes_through_git(repo: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """`sign` is git's: with no signing key set up, git's refusal is what the caller gets."""
    from gitcoord.errors import Refused

    tree, parent = _tree_and_parent(repo)
    monkeypatch.setenv("GNUPGHOME", str(repo / "no-gnupg"))
    with pytest.raises(Refused, match="could not sign"):
        commit_object.write(Git(repo), tree, [parent], MESSAGE, read_git_config(repo), sign=True)
