"""Adversarial review of 788b181 / 5e1718b: the warm server reports a child's exit code as the child
exits (the code written to a pipe), and a child takes the caller's environment by differences.

Real hooks' server, real C client (the installed pre-commit, run as git runs it), a legacy hook
(`pre-commit.legacy`, which the served child runs first) that does what each test needs: writes
the environment it got, holds on a FIFO, exits with a code, or kills the child that runs it.
"""

from __future__ import annotations

import os
import signal
import subprocess
from pathlib import Path

import pytest

from tests.conftest import wait_for
from tests.test_warm_hooks import _hooks_server
from tests.test_warm_native import served_repo
from tests.warm_helpers import Warm, _alive, warm_dir

# The served child runs it: its pid and its grandparent (the server, when served) first.
LEGACY = """#!/bin/sh
read -r _p _c _s grand _r < /proc/$PPID/stat
[ -n "$MARK" ] && echo "$$ $grand" > "$MARK"
[ -n "$ENV_DUMP" ] && env -0 > "$ENV_DUMP"
[ -n "$HOLD_FIFO" ] && read -r _ < "$HOLD_FIFO"
[ -n "$KILL_PARENT" ] && kill -s "$KILL_PARENT" $PPID
exit "${LEGACY_CODE:-0}"
"""


def setup(tmp_path: Path, repo: Path, warm: Warm) -> tuple[dict[str, str], int]:
    env = served_repo(repo, warm)
    legacy = repo / ".git" / "hooks" / "pre-commit.legacy"
    legacy.write_text(LEGACY)
    legacy.chmod(0o755)
    return env, _hooks_server(warm)


def hook(repo: Path, env: dict[str, str], **extra: str) -> subprocess.Popen[str]:
    """The installed pre-commit, started as git starts it (its own session, pipes)."""
    full = {**os.environ, **env, **extra}
    return subprocess.Popen(
        [str(repo / ".git" / "hooks" / "pre-commit")],
        cwd=repo,
        env=full,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        start_new_session=True,
    )


def finished(proc: subprocess.Popen[str]) -> tuple[int, str]:
    _, err = proc.communicate(timeout=300)
    return proc.returncode, err


def served_by(mark: Path) -> int:
    return int(mark.read_text().split()[1])


def fds(pid: int) -> int:
    return len(os.listdir(f"/proc/{pid}/fd"))


def test_a_legacy_exit_code_reaches_the_caller(tmp_path: Path, local_repo: Path, warm: Warm) -> None:
    env, server = setup(tmp_path, local_repo, warm)
    mark = tmp_path / "mark"
    for code in (0, 1, 5, 120, 255):
        res = finished(hook(local_repo, env, MARK=str(mark), LEGACY_CODE=str(code)))
        assert res[0] == code, res
        assert served_by(mark) == server


@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGHUP, signal.SIGINT])
def test_a_child_killed_by_a_signal_is_reported_as_that_death(
    tmp_path: Path, local_repo: Path, warm: Warm, sig: signal.Signals
) -> None:
    env, server = setup(tmp_path, local_repo, warm)
    mark = tmp_path / "mark"
    code, err = finished(hook(local_repo, env, MARK=str(mark), KILL_PARENT=sig.name.removeprefix("SIG")))
    assert served_by(mark) == server
    # In-process the hook's interpreter dies of the signal (SIGINT: an uncaught KeyboardInterrupt,
    # which CPython ends by dying of SIGINT); served, the C client dies of the same.
    here = finished(hook(local_repo, {**env, "GITCOORD_WARM": "0"}, KILL_PARENT=sig.name.removeprefix("SIG")))
    assert code == here[0] == -sig, (code, here, err)


def test_no_descriptor_leaks_over_many_calls(tmp_path: Path, local_repo: Path, warm: Warm) -> None:
    env, server = setup(tmp_path, local_repo, warm)
    mark = tmp_path / "mark"
    assert finished(hook(local_repo, env, MARK=str(mark)))[0] == 0
    before = fds(server)
    for i in range(30):
        extra = {"MARK": str(mark)}
        if i % 3 == 1:
            extra["LEGACY_CODE"] = "3"
        if i % 3 == 2:
            extra["KILL_PARENT"] = "TERM"
        finished(hook(local_repo, env, **extra))
    wait_for(lambda: fds(server) <= before, f"the server's descriptors back to {before}", timeout=60)


def test_overlapping_calls_and_a_polite_stop(tmp_path: Path, local_repo: Path, warm: Warm) -> None:
    env, server = setup(tmp_path, local_repo, warm)
    fifo = tmp_path / "hold.fifo"
    os.mkfifo(fifo)
    held_mark = tmp_path / "held"
    held = hook(local_repo, env, MARK=str(held_mark), HOLD_FIFO=str(fifo), LEGACY_CODE="9")
    wait_for(lambda: held_mark.exists() and held_mark.read_text().strip() != "", "the held call")
    assert served_by(held_mark) == server
    mark = tmp_path / "mark"
    for code in (0, 4, 0, 6):  # others finish meanwhile, each with its own code
        assert finished(hook(local_repo, env, MARK=str(mark), LEGACY_CODE=str(code)))[0] == code
        assert served_by(mark) == server
    assert held.poll() is None
    (lock,) = [p for p in warm.directory.glob("*.lock") if p.read_text().strip() == str(server)]
    sock = lock.with_suffix(".sock")
    assert sock.exists()
    os.kill(server, signal.SIGTERM)  # polite: the running call finishes and is reported
    wait_for(lambda: not sock.exists() or not _alive(server), "the socket to go")
    assert _alive(server)
    with open(fifo, "w") as f:
        f.write("go\n")
    assert finished(held)[0] == 9
    wait_for(lambda: not _alive(server), "the server to end after its last call")


def test_a_killed_caller_takes_its_call_along(tmp_path: Path, local_repo: Path, warm: Warm) -> None:
    env, server = setup(tmp_path, local_repo, warm)
    fifo = tmp_path / "hold.fifo"
    os.mkfifo(fifo)
    mark = tmp_path / "held"
    held = hook(local_repo, env, MARK=str(mark), HOLD_FIFO=str(fifo))
    wait_for(lambda: mark.exists() and mark.read_text().strip() != "", "the held call")
    legacy = int(mark.read_text().split()[0])
    assert served_by(mark) == server
    held.kill()
    held.communicate(timeout=300)
    wait_for(lambda: not _alive(legacy), "the held call's group to be killed")
    # The server still serves.
    assert finished(hook(local_repo, env, MARK=str(mark), LEGACY_CODE="3"))[0] == 3


def environment(dump: Path) -> dict[str, str]:
    pairs = [entry.partition("=") for entry in dump.read_text().split("\0") if entry]
    return {name: value for name, _, value in pairs}


def test_the_child_has_the_callers_environment_exactly(tmp_path: Path, local_repo: Path) -> None:
    # The hooks' server starts from the first hook call's environment: SERVER_ONLY is in it.
    with warm_dir(tmp_path) as warm:
        os.environ["SERVER_ONLY"] = "server"
        os.environ["SHARED"] = "same"
        try:
            env, server = setup(tmp_path, local_repo, warm)
        finally:
            del os.environ["SERVER_ONLY"]
        server_env = Path(f"/proc/{server}/environ").read_bytes()
        assert b"SERVER_ONLY=server\0" in server_env
        dump, mark = tmp_path / "env", tmp_path / "mark"
        extra = {"ENV_DUMP": str(dump), "MARK": str(mark), "EMPTY": "", "TZ": "UTC0", "SHARED": "same"}
        assert finished(hook(local_repo, env, **extra))[0] == 0
        assert served_by(mark) == server
        served = environment(dump)
        assert finished(hook(local_repo, {**env, "GITCOORD_WARM": "0"}, **extra))[0] == 0
        here = environment(dump)
        os.environ.pop("SHARED", None)
    assert "SERVER_ONLY" not in served
    assert served["EMPTY"] == "" and served["SHARED"] == "same" and served["TZ"] == "UTC0"
    # Nothing of the server's own beyond what the same call has in-process.
    assert set(served) - set(here) == set(), set(served) ^ set(here)
