"""Review of the in-process commit and loose objects (gitcoord/commit_object.py, gitcoord/loose.py):
where they differed from what git itself writes, with real git."""

from __future__ import annotations

import os
import stat
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

from gitcoord import commit_object
from gitcoord.coordinator import Coordinator
from gitcoord.git import Git
from gitcoord.workspace import read_git_config
from tests.conftest import git


@pytest.fixture
def umask_077() -> Iterator[None]:
    before = os.umask(0o077)
    try:
        yield
    finally:
        os.umask(before)


def _loose(objects: Path) -> list[Path]:
    return [p for p in objects.glob("[0-9a-f][0-9a-f]/*") if not p.name.startswith("tmp_obj_")]


@pytest.mark.usefixtures("umask_077")
@pytest.mark.parametrize("shared", ["group", "all", "0660"])
def test_a_shared_repository_gets_the_permissions_git_gives(local_repo: Path, shared: str) -> None:
    """core.sharedRepository: git makes each fan-out directory and object file readable (and the
    directory writable) by the group or everyone, whatever the umask; an object only its writer
    can read is one the rest of the team's git cannot read, a fan-out directory only its writer can
    write is one the rest of the team's git cannot add objects to."""
    git(local_repo, "config", "core.sharedRepository", shared)
    objects = local_repo / ".git" / "objects"
    made_by_git = Path(tempfile_repo := str(local_repo.parent / "by-git"))
    git(local_repo.parent, "init", "-q", f"--shared={shared}", tempfile_repo)
    oid = subprocess.run(
        ["git", "hash-object", "-w", "--stdin"],
        cwd=made_by_git,
        input=b"x\n",
        capture_output=True,
        check=True,
    ).stdout.decode()
    gits_dir = stat.S_IMODE((made_by_git / ".git" / "objects" / oid[:2]).stat().st_mode)
    gits_file = stat.S_IMODE((made_by_git / ".git" / "objects" / oid[:2] / oid[2:40]).stat().st_mode)

    before = set(_loose(objects))
    dirs_before = {path.parent for path in before}
    with Coordinator(local_repo, agent="alpha") as coord:
        coord.claim(["src/x.py"])
    written = set(_loose(objects)) - before
    assert written, "the claim wrote no loose object"
    for path in written:
        assert stat.S_IMODE(path.stat().st_mode) == gits_file, path
        if path.parent not in dirs_before:
            assert stat.S_IMODE(path.parent.stat().st_mode) == gits_dir, path.parent
    assert git(local_repo, "fsck", "--strict", "--no-dangling") == ""


def test_objects_flushed_to_disk_are_left_to_git(
    local_repo: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """core.fsyncObjectFiles (core.fsync): git flushes each object it stores before the ref
    names it; the in-process writer does not, so git stores them (a power cut must not leave the
    coord ref naming an object that never reached the disk)."""
    import json

    git(local_repo, "config", "core.fsyncObjectFiles", "true")
    trace = tmp_path / "trace.json"
    monkeypatch.setenv("GIT_TRACE2_EVENT", str(trace))
    with Coordinator(local_repo, agent="alpha") as coord:
        coord.claim(["src/x.py"])
    monkeypatch.delenv("GIT_TRACE2_EVENT")
    started = [json.loads(line) for line in trace.read_text().splitlines()]
    argvs = [e["argv"][1:2] for e in started if e["event"] == "start"]
    assert ["hash-object"] in argvs
    assert git(local_repo, "fsck", "--strict", "--no-dangling") == ""


def test_author_and_committer_take_one_now(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """git reads the clock once for both (ident.c keeps the default date): with no date set, the
    author's and the committer's are always the same, even when the second turns in between."""
    repo = tmp_path / "r"
    git(tmp_path, "init", "-q", str(repo))
    for name in ("GIT_AUTHOR_DATE", "GIT_COMMITTER_DATE"):
        monkeypatch.delenv(name, raising=False)
    ticks = iter([1700000000.99, 1700000001.0, 1700000001.0, 1700000001.0])
    real = commit_object.time.time
    monkeypatch.setattr(commit_object.time, "time", lambda: next(ticks, None) or real())
    body = commit_object.commit_body(
        "4b825dc642cb6eb9a060e54bf8d69288fbee4904", [], "m\n", read_git_config(repo)
    )
    assert body is not None
    lines = dict(line.split(b" ", 1) for line in body.split(b"\n\n")[0].splitlines())
    assert lines[b"author"].rsplit(b" ", 2)[1:] == lines[b"committer"].rsplit(b" ", 2)[1:]
    oid = Git(repo).write_object(b"commit", body)
    assert git(repo, "fsck", "--strict", "--no-dangling") == ""
    assert oid


def test_a_mirror_move_git_cannot_even_start_does_not_hang_the_moves_after_it(tmp_path: Path) -> None:
    """One worker takes the mirror moves in order: a move whose git cannot start (its directory
    is now a file: NotADirectoryError, not a GitcoordError) must not end the worker with later
    moves still queued, or every later call of the server waits for them forever."""
    import threading

    from gitcoord.mcp_reader import Mirrors

    repo = tmp_path / "r"
    git(tmp_path, "init", "-q", str(repo))
    first = git(repo, "commit-tree", git(repo, "mktree"), "-m", "one")
    gone = tmp_path / "gone"
    gone.write_text("a file where the repository was\n")
    lock = repo / ".git" / "refs" / "heads" / "held.lock"
    lock.write_text("")  # holds the first move until every move is handed over
    mirrors = Mirrors()
    run = mirrors.runner(Git(repo))
    run("-c", "core.filesRefLockTimeout=600000", "update-ref", "refs/heads/held", first)
    mirrors.runner(Git(gone))("update-ref", "refs/heads/x", first)
    run("update-ref", "refs/heads/after", first)
    lock.unlink()
    waiter = threading.Thread(target=mirrors.wait, daemon=True)
    waiter.start()
    waiter.join(timeout=120)
    assert not waiter.is_alive(), "the moves after the one that failed were never made"
    assert git(repo, "rev-parse", "refs/heads/after") == first
    mirrors.close()
