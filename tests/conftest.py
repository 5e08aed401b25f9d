"""Fixtures over real git: bare remotes, clones, worktrees, a pinned identity.

No test touches the real home directory or the network: HOME and the global
git config point into the test's tmp dir, and remotes are file paths.
"""

from __future__ import annotations

import io
import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from contextlib import redirect_stderr, redirect_stdout
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest

from gitcoord.cli import main

if TYPE_CHECKING:
    from tests.warm_helpers import Warm  # which imports this module's helpers

GITCOORD = [sys.executable, "-m", "gitcoord"]


@pytest.fixture(autouse=True)
def pinned_git(tmp_path_factory: pytest.TempPathFactory, monkeypatch: pytest.MonkeyPatch) -> None:
    home = tmp_path_factory.mktemp("home")
    (home / ".gitconfig").write_text(
        "[user]\n\tname = Test Human\n\temail = human@example.com\n"
        '[init]\n\tdefaultBranch = main\n[protocol "file"]\n\tallow = always\n'
    )
    monkeypatch.setenv("HOME", str(home))
    monkeypatch.setenv("GIT_CONFIG_NOSYSTEM", "1")
    monkeypatch.setenv("GIT_CONFIG_GLOBAL", str(home / ".gitconfig"))
    for name in (
        "GITCOORD_AGENT",
        "GIT_DIR",
        "GIT_WORK_TREE",
        "GIT_INDEX_FILE",
        "GITCOORD_CLOCK_SKEW_SECONDS",
    ):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("GIT_AUTHOR_NAME", "Test Human")
    monkeypatch.setenv("GIT_AUTHOR_EMAIL", "human@example.com")
    monkeypatch.setenv("GIT_COMMITTER_NAME", "Test Human")
    monkeypatch.setenv("GIT_COMMITTER_EMAIL", "human@example.com")
    # No warm server outlives a test: calls through the console script run in process, except in
    # tests/test_warm*.py, which start their own in a directory of the test's (warm_helpers).
    monkeypatch.setenv("GITCOORD_WARM", "0")


def git(cwd: Path, *args: str, check: bool = True) -> str:
    res = subprocess.run(["git", *args], cwd=cwd, capture_output=True, text=True)
    if check and res.returncode != 0:
        raise AssertionError(f"git {' '.join(args)} failed: {res.stderr}")
    return res.stdout.strip()


@dataclass
class Result:
    code: int
    out: str
    err: str

    def json(self) -> Any:
        return json.loads(self.out)


def run(cwd: Path, *args: str, agent: str | None = None, env: dict[str, str] | None = None) -> Result:
    """Run the CLI in this process (fast): same code path as the console script."""
    out, err = io.StringIO(), io.StringIO()
    old = dict(os.environ)
    try:
        if agent is not None:
            os.environ["GITCOORD_AGENT"] = agent
        os.environ.update(env or {})
        with redirect_stdout(out), redirect_stderr(err):
            code = main(["-C", str(cwd), *args])
    finally:
        os.environ.clear()
        os.environ.update(old)
    return Result(code, out.getvalue(), err.getvalue())


def spawn(
    cwd: Path, *args: str, agent: str | None = None, env: dict[str, str] | None = None, timeout: float = 120
) -> Result:
    """Run the CLI as a separate process, as an agent would."""
    full_env = dict(os.environ, **(env or {}))
    if agent is not None:
        full_env["GITCOORD_AGENT"] = agent
    res = subprocess.run(
        [*GITCOORD, "-C", str(cwd), *args], capture_output=True, text=True, env=full_env, timeout=timeout
    )
    return Result(res.returncode, res.stdout, res.stderr)


def wait_for(condition: Callable[[], object], what: str, timeout: float = 120) -> None:
    """Wait on a condition, however slow the machine; fail naming `what` after a generous timeout."""
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"gave up after {timeout:.0f} s waiting for {what}")
        time.sleep(0.05)


def fetches(trace: Path) -> int:
    """How many `git fetch` the processes run with GIT_TRACE=`trace` have started: a count of
    attempts for the tests, where elapsed time would depend on the machine's speed."""
    text = trace.read_text(errors="replace") if trace.exists() else ""
    return sum(1 for line in text.splitlines() if "trace: built-in: git fetch " in line)


def make_repo(path: Path) -> Path:
    path.mkdir(parents=True, exist_ok=True)
    git(path, "init", "-q")
    (path / "README.md").write_text("demo\n")
    git(path, "add", "README.md")
    git(path, "commit", "-q", "-m", "initial")
    return path


def plant_records(repo: Path, files: dict[str, str], subject: str = "planted") -> None:
    """Commit files onto the coord branch by plumbing, as a careless or hostile writer could.

    `subject` is the whole commit message, given on stdin so that it may hold anything."""
    index = repo / ".git" / "plant.index"
    env = dict(os.environ, GIT_INDEX_FILE=str(index))
    old = git(repo, "rev-parse", "refs/heads/coord")
    subprocess.run(["git", "read-tree", old], cwd=repo, env=env, check=True)
    for path, text in files.items():
        sha = subprocess.run(
            ["git", "hash-object", "-w", "--stdin"],
            cwd=repo,
            input=text,
            text=True,
            capture_output=True,
            check=True,
        ).stdout.strip()
        subprocess.run(
            ["git", "update-index", "--add", "--cacheinfo", f"100644,{sha},{path}"],
            cwd=repo,
            env=env,
            check=True,
        )
    tree = subprocess.run(
        ["git", "write-tree"], cwd=repo, env=env, capture_output=True, text=True, check=True
    ).stdout.strip()
    new = subprocess.run(
        ["git", "commit-tree", tree, "-p", old],
        cwd=repo,
        input=subject,
        text=True,
        capture_output=True,
        check=True,
    ).stdout.strip()
    git(repo, "update-ref", "refs/heads/coord", new, old)
    index.unlink()


@dataclass
class World:
    """A bare remote and clones of it, the coord branch initialised."""

    root: Path
    remote: Path
    clones: list[Path]

    def clone(self, name: str) -> Path:
        path = self.root / name
        git(self.root, "clone", "-q", str(self.remote), str(path))
        self.clones.append(path)
        return path


@pytest.fixture
def world(tmp_path: Path) -> Iterator[World]:
    seed = make_repo(tmp_path / "seed")
    remote = tmp_path / "remote.git"
    git(tmp_path, "clone", "-q", "--bare", str(seed), str(remote))
    w = World(tmp_path, remote, [])
    first = w.clone("a")
    assert run(first, "init").code == 0
    w.clone("b")
    w.clone("c")
    yield w


@pytest.fixture
def warm(tmp_path: Path) -> Iterator[Warm]:
    """A private runtime directory for the warm path; its servers are stopped and the directory
    removed afterwards."""
    from tests.warm_helpers import warm_dir  # it imports this module's helpers

    with warm_dir(tmp_path) as found:
        yield found


@pytest.fixture
def local_repo(tmp_path: Path) -> Path:
    """One repository without a remote (local mode), coord initialised."""
    repo = make_repo(tmp_path / "repo")
    assert run(repo, "init").code == 0
    return repo


def kill_mid_write(work: Path, args: list[str], delay: float, agent: str = "alpha") -> None:
    """Start `gitcoord ARGS` as its own session, SIGKILL its leader after `delay` seconds, and
    wait for the session to end: the git children it started (push, fetch, update-ref,
    cat-file) outlive it and finish on their own, as they would on a real machine, and a
    check made while they still run would see a half-finished ref update from outside."""
    proc = subprocess.Popen(
        [*GITCOORD, "-C", str(work), *args],
        env=dict(os.environ, GITCOORD_AGENT=agent),
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,
    )
    time.sleep(delay)
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        try:
            os.killpg(proc.pid, 0)
        except ProcessLookupError:
            return
        time.sleep(0.02)
    os.killpg(proc.pid, signal.SIGKILL)
    raise AssertionError(f"children of the killed {args} still running after 60 s")
