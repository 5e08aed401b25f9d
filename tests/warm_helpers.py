"""Helpers for the warm-server tests: the real console script, run as an agent runs it.

Calls run with no controlling terminal (`start_new_session`), as an agent's tool call does, and with
a private runtime directory per test, so each test has its own server and never meets the user's.
"""

from __future__ import annotations

import os
import re
import shutil
import signal
import stat
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from gitcoord import kept
from tests.conftest import git, make_repo, wait_for

SCRIPT = Path(sys.executable).parent / "gitcoord"

# A `git` that notes which process ran it, that process's parent and its first argument, then runs
# the real git.
GIT_SPY = """#!/bin/sh
read -r _pid _comm _state grand _rest < /proc/$PPID/stat
echo "$PPID $grand $1" >> "$GIT_SPY_LOG"
exec {git} "$@"
"""


@dataclass
class Call:
    code: int
    out: str
    err: str


@dataclass
class Warm:
    """One test's runtime directory, and the environment that points calls at it."""

    runtime: Path
    env: dict[str, str]

    @property
    def directory(self) -> Path:
        return self.runtime / "gitcoord"

    def server_pid(self) -> int | None:
        """The pid in the server's lock file, while that process lives."""
        for lock in self.directory.glob("*.lock"):
            text = lock.read_text().strip()
            if text and _alive(int(text)):
                return int(text)
        return None

    def socket(self) -> Path | None:
        found = list(self.directory.glob("*.sock")) if self.directory.exists() else []
        return found[0] if found else None

    def start(self, cwd: Path) -> int:
        """A first call (in-process) starts the server; wait until it listens. Its pid."""
        assert call(cwd, "--version", env=self.env).code == 0
        wait_for(lambda: self.socket() is not None and self.server_pid() is not None, "the warm server")
        pid = self.server_pid()
        assert pid is not None
        return pid

    def free_socket(self, cwd: Path) -> Path:
        """The socket path a real server of this key listens on, with no server behind it: for a
        stand-in listener that takes its place."""
        self.start(cwd)
        path = self.socket()
        assert path is not None
        self.stop()
        path.unlink()
        return path

    def stop(self) -> None:
        """Kill every server of this directory: a call whose key changed (new code, an upgraded
        library) started one of its own beside the first."""
        for lock in self.directory.glob("*.lock") if self.directory.exists() else []:
            text = lock.read_text().strip()
            if text and _alive(pid := int(text)):
                os.kill(pid, signal.SIGKILL)
                wait_for(lambda pid=pid: not _alive(pid), "the warm server to die")


def _alive(pid: int) -> bool:
    try:
        text = Path(f"/proc/{pid}/stat").read_text()
    except (FileNotFoundError, ProcessLookupError):  # gone, or gone between open and read
        return False
    return text.rpartition(")")[2].split()[0] != "Z"


@contextmanager
def warm_dir(tmp_path: Path, idle: float = 300) -> Iterator[Warm]:
    """A private runtime directory; its server is killed and the directory removed afterwards."""
    warm = make_warm(tmp_path, idle)
    try:
        yield warm
    finally:
        warm.stop()
        shutil.rmtree(warm.runtime, ignore_errors=True)


def make_warm(tmp_path: Path, idle: float = 300) -> Warm:
    # A short path of its own: a unix socket's path has at most 107 bytes, and pytest's are long.
    runtime = Path(tempfile.mkdtemp(prefix="gw-", dir="/tmp"))
    (tmp_path / "runtime").symlink_to(runtime)  # found next to the test's other files
    # GITCOORD_WARM=1 overrides the suite's default (conftest turns the warm path off elsewhere).
    env = {"XDG_RUNTIME_DIR": str(runtime), "GITCOORD_WARM_IDLE_SECONDS": str(idle), "GITCOORD_WARM": "1"}
    return Warm(runtime, env)


def call(
    cwd: Path,
    *args: str,
    env: dict[str, str] | None = None,
    input: str | None = None,
    agent: str | None = None,
    warm: bool = True,
    umask: int = -1,
    unset: list[str] | None = None,
    command: Sequence[str] = (str(SCRIPT),),
) -> Call:
    """`gitcoord ARGS` through the console script (or `command`), without a terminal; warm=False
    sets GITCOORD_WARM=0."""
    full = dict(os.environ, **(env or {}))
    full.pop("GITCOORD_WARM", None)
    if not warm:
        full["GITCOORD_WARM"] = "0"
    if agent is not None:
        full["GITCOORD_AGENT"] = agent
    for name in unset or []:
        full.pop(name, None)
    res = subprocess.run(
        [*command, *args],
        cwd=cwd,
        env=full,
        input=input,
        capture_output=True,
        text=True,
        timeout=300,
        start_new_session=True,
        umask=umask,
    )
    return Call(res.returncode, res.stdout, res.stderr)


def git_spy(tmp_path: Path) -> tuple[dict[str, str], Path]:
    """PATH with the spying `git` first, and the log it writes."""
    real = subprocess.run(["sh", "-c", "command -v git"], capture_output=True, text=True).stdout.strip()
    bindir = tmp_path / "spybin"
    bindir.mkdir()
    spy = bindir / "git"
    spy.write_text(GIT_SPY.format(git=real))
    spy.chmod(spy.stat().st_mode | stat.S_IXUSR)
    log = tmp_path / "git-spy.log"
    return {"PATH": f"{bindir}:{os.environ['PATH']}", "GIT_SPY_LOG": str(log)}, log


def git_grandparents(log: Path) -> set[int]:
    """The parents of the processes that ran git (the server, for a call it served)."""
    if not log.exists():
        return set()
    return {int(line.split()[1]) for line in log.read_text().splitlines() if line.strip()}


STAMP = re.compile(
    r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ|\b\d\d:\d\d(?::\d\d)?Z"
    r"|\d\d-\d\d \d\d:\d\d|\d{4}-\d\d-\d\d \d\d:\d\d(:\d\d)?"
)


LEFT = re.compile(r'("seconds_left": )\d+')
SESSION = re.compile(r"\b([A-Za-z0-9_.]+)-[0-9a-f]{8}\b")  # `start` names a session with random hex


def mask_times(text: str) -> str:
    """Times and session ids out: two runs a second apart differ in these and nothing else."""
    return LEFT.sub(r"\1<left>", SESSION.sub(r"\1-<session>", STAMP.sub("<time>", text)))


def bare_remote_clone(root: Path, seed: Path | None = None) -> Path:
    """A clone `root/a` of a bare remote `root/remote.git` seeded with one commit (`seed`'s history
    when given: two worlds that must match commit for commit start from the same commit)."""
    root.mkdir(parents=True, exist_ok=True)
    seed = seed or make_repo(root / "seed")
    git(root, "clone", "-q", "--bare", str(seed), str(root / "remote.git"))
    git(root, "clone", "-q", str(root / "remote.git"), str(root / "a"))
    return root / "a"


def settled(*paths: Path) -> None:
    """Wait until every file is older than the racy window, as a config file not just edited is."""

    def old() -> bool:
        limit = time.time_ns() - int((kept.RACY_SECONDS + 0.1) * 10**9)
        return all(max(p.stat().st_mtime_ns, p.stat().st_ctime_ns) < limit for p in paths)

    wait_for(old, "the config files to age past the racy window", timeout=60)


def edit_in_place(path: Path, old: str, new: str) -> None:
    """The same file (inode), the same size, other contents: what an editor saving in place does."""
    assert len(old) == len(new)
    data = path.read_bytes()
    assert old.encode() in data
    inode = path.stat().st_ino
    with path.open("r+b") as file:
        file.write(data.replace(old.encode(), new.encode()))
    assert path.stat().st_ino == inode and len(path.read_bytes()) == len(data)
