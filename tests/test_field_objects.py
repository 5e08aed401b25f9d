"""Field hardening, objects: SHA-256 repositories, faults while writing objects, stale ref locks.

Everything runs on real git: repositories made with `--object-format`, bare remotes and
clones, real `git commit`/`git push` through installed hooks, real file system faults.
"""

from __future__ import annotations

import errno
import os
import subprocess
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest

from .conftest import Result, git, run
from .test_hooks import commit, install, push, stage

HEX = {"sha1": 40, "sha256": 64}
FORMATS = pytest.mark.parametrize("fmt", ["sha1", "sha256"])
STALE_LOCK = "exists: another git process is writing, or one died; remove it if no git is running"


def make_repo(path: Path, fmt: str) -> Path:
    path.mkdir(parents=True, exist_ok=True)
    git(path, "init", "-q", f"--object-format={fmt}")
    (path / "README.md").write_text("demo\n")
    git(path, "add", "README.md")
    git(path, "commit", "-q", "-m", "initial")
    return path


def make_world(root: Path, fmt: str) -> tuple[Path, Path, Path]:
    """A bare remote in `fmt` and two clones of it, coord initialised from the first."""
    seed = make_repo(root / "seed", fmt)
    remote = root / "remote.git"
    git(root, "clone", "-q", "--bare", str(seed), str(remote))
    a, b = root / "a", root / "b"
    for clone in (a, b):
        git(root, "clone", "-q", str(remote), str(clone))
        # A clone's object format comes from its remote, whatever this machine's default is.
        assert git(clone, "rev-parse", "--show-object-format") == fmt
    done = run(a, "init")
    assert done.code == 0, done.err
    return remote, a, b


def assert_fsck_clean(repo: Path) -> None:
    res = subprocess.run(
        ["git", "fsck", "--strict", "--no-progress"], cwd=repo, capture_output=True, text=True
    )
    assert res.returncode == 0, res.stdout + res.stderr
    assert "bad" not in res.stdout + res.stderr and "error" not in res.stdout + res.stderr


def assert_failed(res: Result, code: int, *fragments: str) -> None:
    assert res.code == code, (res.code, res.out, res.err)
    for fragment in fragments:
        assert fragment in res.err, res.err
    assert "Traceback" not in res.err


# -- SHA-256 repositories (and SHA-1 alike) ---------------------------------------------


@FORMATS
def test_local_mode_works_in_either_object_format(tmp_path: Path, fmt: str) -> None:
    repo = make_repo(tmp_path / "repo", fmt)
    done = run(repo, "init")
    assert done.code == 0, done.err
    assert len(git(repo, "rev-parse", "refs/heads/coord")) == HEX[fmt]
    assert run(repo, "claim", "src/api.py", "-m", "adding the endpoint", agent="alpha").code == 0
    assert_failed(run(repo, "claim", "src/", agent="beta"), 3, "alpha", "C-1")
    install(repo)
    stage(repo, "src/api.py")
    refused = commit(repo, "-m", "beta edits api", agent="beta")
    assert refused.returncode == 1 and "alpha's exclusive claim C-1 on src/api.py" in refused.stderr
    sneaked = commit(repo, "--no-verify", "-m", "beta sneaks", agent="beta")
    assert sneaked.returncode == 0, sneaked.stderr
    checked = run(repo, "verify", "HEAD~1..HEAD", "--json")
    assert checked.code == 3 and checked.json()["violations"][0]["holder"] == "alpha"
    assert run(repo, "release", "src/api.py", agent="alpha").code == 0
    assert run(repo, "claims", "--json").json() == []
    assert run(repo, "claim", "src/", agent="beta").code == 0
    assert int(git(repo, "rev-list", "--count", "coord")) == 4  # init, claim, release, claim
    assert_fsck_clean(repo)


@FORMATS
def test_remote_mode_works_in_either_object_format(tmp_path: Path, fmt: str) -> None:
    remote, a, b = make_world(tmp_path, fmt)
    assert len(git(remote, "rev-parse", "refs/heads/coord")) == HEX[fmt]
    assert run(a, "claim", "core/", "-m", "engine work", agent="alpha").code == 0
    assert_failed(run(b, "claim", "core/engine.py", agent="beta"), 3, "alpha", "C-1")
    install(b)
    server = run(remote, "hooks", "install", "--server")
    assert server.code == 0, server.err
    stage(b, "core/engine.py")
    refused = commit(b, "-m", "beta edits the engine", agent="beta")
    assert refused.returncode == 1 and "alpha's exclusive claim C-1 on core/" in refused.stderr
    assert commit(b, "--no-verify", "-m", "sneaky", agent="beta").returncode == 0
    checked = run(b, "verify", "origin/main..HEAD", "--json")
    assert checked.code == 3 and checked.json()["violations"][0]["path"] == "core/engine.py"
    # A new branch: its old id on the hooks' stdin is the format's all-zero id.
    refused_push = push(b, "origin", "HEAD:refs/heads/feature", agent="beta")
    assert refused_push.returncode != 0 and "core/engine.py" in refused_push.stderr
    fenced = push(b, "--no-verify", "origin", "HEAD:refs/heads/feature", agent="beta")
    assert fenced.returncode != 0 and "push to refs/heads/feature refused" in fenced.stderr
    assert run(a, "release", "--all", agent="alpha").code == 0
    assert run(b, "claim", "core/", agent="beta").code == 0
    assert [c["agent"] for c in run(a, "claims", "--json").json()] == ["beta"]
    for repo in (remote, a, b):
        assert_fsck_clean(repo)


# -- faults while writing objects ---------------------------------------------------------


def _coord_state(repo: Path) -> tuple[str, str]:
    return git(repo, "rev-parse", "refs/heads/coord"), git(repo, "ls-tree", "-r", "refs/heads/coord")


def _no_temp_objects(objects: Path) -> None:
    assert not [p for p in objects.rglob("tmp_obj_*")], "a temp object was left behind"


def test_an_object_store_that_refuses_new_files_is_exit_4_and_nothing_is_written(tmp_path: Path) -> None:
    """A fault any user can cause, root or not: every fan-out directory is a file, so no loose
    object can be created (reads still work: everything is packed)."""
    repo = make_repo(tmp_path / "repo", "sha1")
    assert run(repo, "init").code == 0
    git(repo, "repack", "-adq")
    git(repo, "prune-packed")
    objects = repo / ".git" / "objects"
    for n in range(256):
        assert not (objects / f"{n:02x}").exists()
        (objects / f"{n:02x}").write_bytes(b"")
    before = _coord_state(repo)
    failed = run(repo, "claim", "src/api.py", agent="alpha")
    assert_failed(failed, 4, f"cannot write git objects in {objects}: File exists", "nothing was written")
    assert _coord_state(repo) == before
    _no_temp_objects(objects)
    for n in range(256):
        (objects / f"{n:02x}").unlink()
    assert run(repo, "claim", "src/api.py", agent="alpha").code == 0
    assert_fsck_clean(repo)


@contextmanager
def _small_disk(where: Path, size: str) -> Iterator[Path]:
    where.mkdir()
    res = subprocess.run(
        ["mount", "-t", "tmpfs", "-o", f"size={size}", "tmpfs", str(where)], capture_output=True, text=True
    )
    if res.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs here (needs root with CAP_SYS_ADMIN): {res.stderr.strip()}")
    try:
        yield where
    finally:
        subprocess.run(["umount", "-l", str(where)], check=False)


def _fill(disk: Path) -> Path:
    """Write a file until the disk is full; the file, to delete when the fault should end."""
    filler = disk / "filler"
    fd = os.open(filler, os.O_WRONLY | os.O_CREAT | os.O_EXCL)
    try:
        while True:
            os.write(fd, b"\0" * 4096)
    except OSError as exc:
        assert exc.errno == errno.ENOSPC
    finally:
        os.close(fd)
    return filler


def test_a_full_disk_is_exit_4_with_the_cause_and_the_next_command_works(tmp_path: Path) -> None:
    """A real ENOSPC: the repository lives on a small tmpfs that is then filled up."""
    with _small_disk(tmp_path / "disk", "4m") as disk:
        repo = make_repo(disk / "repo", "sha256")
        assert run(repo, "init").code == 0
        assert run(repo, "claim", "docs/", agent="beta").code == 0
        before = _coord_state(repo)
        filler = _fill(disk)
        failed = run(repo, "claim", "src/api.py", "-m", "x" * 2000, agent="alpha")
        objects = repo / ".git" / "objects"
        assert_failed(
            failed, 4, f"cannot write git objects in {objects}: No space left on device", "free disk space"
        )
        assert _coord_state(repo) == before
        _no_temp_objects(objects)
        filler.unlink()
        assert run(repo, "claim", "src/api.py", agent="alpha").code == 0
        assert [c["resource"] for c in run(repo, "claims", "--json").json()] == ["docs/", "src/api.py"]
        assert_fsck_clean(repo)


def test_a_read_only_object_store_is_exit_4_and_the_next_command_works(tmp_path: Path) -> None:
    """Root ignores file modes, so the object store is made immutable (`chattr +i`) instead."""
    repo = make_repo(tmp_path / "repo", "sha256")
    assert run(repo, "init").code == 0
    objects = repo / ".git" / "objects"
    dirs = [objects, *(p for p in objects.iterdir() if p.is_dir())]
    res = subprocess.run(["chattr", "+i", *map(str, dirs)], capture_output=True, text=True)
    try:
        if res.returncode != 0:
            pytest.skip(f"chattr +i does not work here: {res.stderr.strip()}")
        before = _coord_state(repo)
        failed = run(repo, "claim", "src/api.py", agent="alpha")
        assert_failed(failed, 4, f"cannot write git objects in {objects}: Operation not permitted")
        assert _coord_state(repo) == before
    finally:
        subprocess.run(["chattr", "-i", *map(str, dirs)], check=False)
    _no_temp_objects(objects)
    assert run(repo, "claim", "src/api.py", agent="alpha").code == 0
    assert_fsck_clean(repo)


# -- stale ref locks ---------------------------------------------------------------------------


def test_a_stale_coord_lock_is_named_and_reported_by_doctor(tmp_path: Path) -> None:
    repo = make_repo(tmp_path / "repo", "sha1")
    assert run(repo, "init").code == 0
    lock = repo / ".git" / "refs" / "heads" / "coord.lock"
    lock.write_text("")  # what a git killed while moving the branch leaves behind
    failed = run(repo, "claim", "src/api.py", agent="alpha")
    assert_failed(failed, 4, f"refs/heads/coord.lock {STALE_LOCK}", str(lock))
    assert "contention" not in failed.err
    assert run(repo, "claims", "--json").json() == []
    report = run(repo, "doctor", "--json")
    assert report.code == 3
    found = [f for f in report.json()["findings"] if f["check"] == "ref-locks"]
    assert found and found[0]["level"] == "problem"
    assert f"refs/heads/coord.lock {STALE_LOCK}" in found[0]["message"] and str(lock) in found[0]["fix"]
    lock.unlink()
    assert run(repo, "claim", "src/api.py", agent="alpha").code == 0
    assert not [f for f in run(repo, "doctor", "--json").json()["findings"] if f["check"] == "ref-locks"]


def test_a_stale_tracking_ref_lock_is_named_in_remote_mode(tmp_path: Path) -> None:
    remote, a, b = make_world(tmp_path, "sha1")
    assert run(b, "claims").code == 0  # b's copy of the coord branch exists
    assert run(a, "claim", "docs/", agent="alpha").code == 0  # and is now behind
    lock = b / ".git" / "refs" / "remotes" / "origin" / "coord.lock"
    lock.write_text("")
    failed = run(b, "claim", "src/api.py", agent="beta")
    assert_failed(failed, 4, f"refs/remotes/origin/coord.lock {STALE_LOCK}")
    assert "cannot be reached" not in failed.err
    assert (
        git(remote, "ls-tree", "--name-only", "refs/heads/coord", ".coord/claims/")
        == ".coord/claims/C-1.toml"
    )
    report = run(b, "doctor", "--json")
    found = [f for f in report.json()["findings"] if f["check"] == "ref-locks"]
    assert report.code == 3 and found and "refs/remotes/origin/coord.lock" in found[0]["message"]
    lock.unlink()
    assert run(b, "claim", "src/api.py", agent="beta").code == 0


def test_a_stale_lock_on_the_remote_is_named(tmp_path: Path) -> None:
    remote, a, b = make_world(tmp_path, "sha256")
    lock = remote / "refs" / "heads" / "coord.lock"
    lock.write_text("")
    failed = run(a, "claim", "src/api.py", agent="alpha")
    assert_failed(
        failed, 4, f"the remote 'origin' could not take the write: refs/heads/coord.lock {STALE_LOCK}"
    )
    lock.unlink()
    assert run(b, "claim", "src/api.py", agent="beta").code == 0
