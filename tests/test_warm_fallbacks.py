"""When the warm server cannot or must not be used, the call runs in-process, unchanged (issue 13).

A stale or killed server, a server of another version or of changed code, a directory or socket
someone else could reach, a peer of another uid; and the server's own life: idle exit, a child
that crashes, signals sent to the caller.
"""

from __future__ import annotations

import os
import shutil
import signal
import stat
import subprocess
import sys
from pathlib import Path

import pytest

from tests.conftest import wait_for
from tests.warm_helpers import SCRIPT, Warm, _alive, call, git_grandparents, git_spy, warm_dir

GIT_BLOCK = """#!/bin/sh
while [ -e "$GIT_BLOCK" ]; do sleep 0.05; done
exec {git} "$@"
"""


def _claims_ok(repo: Path, env: dict[str, str]) -> None:
    res = call(repo, "claim", "src/x.py", env=env, agent="alpha")
    assert (res.code, res.err) == (0, ""), res.err
    assert "claimed src/x.py" in res.out


def test_a_killed_server_falls_back_in_process_and_a_new_one_starts(
    tmp_path: Path, local_repo: Path, warm: Warm
) -> None:
    spy_env, spy_log = git_spy(tmp_path)
    old = warm.start(local_repo)
    socket_file = warm.socket()
    os.kill(old, signal.SIGKILL)
    wait_for(lambda: not _alive(old), "the server to die")
    assert socket_file is not None and socket_file.exists(), "a stale socket is left behind"

    _claims_ok(local_repo, dict(warm.env, **spy_env))
    assert old not in git_grandparents(spy_log)
    wait_for(lambda: warm.server_pid() not in (None, old), "a new server")


def test_changed_code_is_never_served_by_the_old_server(tmp_path: Path, local_repo: Path, warm: Warm) -> None:
    # A copy of the package (first on PYTHONPATH) is what gets "upgraded": touching the installed one
    # would make every other test's server, running beside this one, exit as well.
    copy = tmp_path / "pkg"
    shutil.copytree(
        Path(__file__).resolve().parent.parent / "gitcoord",
        copy / "gitcoord",
        ignore=shutil.ignore_patterns("__pycache__"),
    )
    warm.env["PYTHONPATH"] = str(copy)
    spy_env, spy_log = git_spy(tmp_path)
    old = warm.start(local_repo)
    module = copy / "gitcoord" / "warm" / "__init__.py"
    before = module.stat()
    os.utime(module, ns=(before.st_atime_ns, before.st_mtime_ns + 10**9))  # an upgrade, as the stat sees it
    _claims_ok(local_repo, dict(warm.env, **spy_env))
    assert old not in git_grandparents(spy_log)
    wait_for(lambda: not _alive(old), "the old server to exit on its changed code")


def test_a_server_of_another_version_is_not_used(tmp_path: Path, local_repo: Path, warm: Warm) -> None:
    spy_env, spy_log = git_spy(tmp_path)
    ours = warm.start(local_repo)
    our_socket = warm.socket()
    assert our_socket is not None
    warm.stop()
    # A server of other code answers at our socket's name: its key differs from the caller's.
    other = subprocess.Popen(
        [
            sys.executable,
            "-c",
            "import sys; sys.path.append('/another/install'); from gitcoord.warm.server import main; main()",
        ],
        env=dict(os.environ, **warm.env),
        start_new_session=True,
    )
    try:
        wait_for(lambda: len(list(warm.directory.glob("*.sock"))) == 2, "the other server's socket")
        theirs = next(p for p in warm.directory.glob("*.sock") if p != our_socket)
        theirs.rename(our_socket)
        _claims_ok(local_repo, dict(warm.env, **spy_env))
        assert {ours, other.pid}.isdisjoint(git_grandparents(spy_log))
        assert other.poll() is None, "the other server refused the call and lives on"
    finally:
        other.kill()
        other.wait()


def test_other_interpreter_settings_run_in_process(tmp_path: Path, local_repo: Path, warm: Warm) -> None:
    spy_env, spy_log = git_spy(tmp_path)
    server = warm.start(local_repo)
    _claims_ok(local_repo, dict(warm.env, **spy_env, PYTHONWARNINGS="error"))
    assert server not in git_grandparents(spy_log)


def test_idle_server_exits(tmp_path: Path, local_repo: Path) -> None:
    with warm_dir(tmp_path, idle=0.2) as warm:
        assert call(local_repo, "claims", env=warm.env).code == 0
        wait_for(lambda: warm.socket() is None and warm.server_pid() is None, "the idle server to exit")


def _blocked_call(tmp_path: Path, repo: Path, warm: Warm) -> tuple[subprocess.Popen[bytes], int, int, Path]:
    """A served `claims` whose git waits on a file: (client, server pid, child pid, the file)."""
    real = subprocess.run(["sh", "-c", "command -v git"], capture_output=True, text=True).stdout.strip()
    bindir = tmp_path / "blockbin"
    bindir.mkdir(exist_ok=True)
    (bindir / "git").write_text(GIT_BLOCK.format(git=real))
    (bindir / "git").chmod(0o755)
    block = tmp_path / "block"
    block.write_text("")
    server = warm.start(repo)
    env = dict(os.environ, **warm.env, PATH=f"{bindir}:{os.environ['PATH']}", GIT_BLOCK=str(block))
    client = subprocess.Popen(
        [str(SCRIPT), "claims"], cwd=repo, env=env, start_new_session=True, stdout=subprocess.DEVNULL
    )
    children: list[int] = []

    def forked() -> bool:
        text = Path(f"/proc/{server}/task/{server}/children").read_text().split()
        children[:] = [int(pid) for pid in text]
        return bool(children)

    wait_for(forked, "the server to fork the call's child")
    return client, server, children[0], block


def test_a_crashing_child_does_not_kill_the_server(tmp_path: Path, local_repo: Path, warm: Warm) -> None:
    client, server, child, block = _blocked_call(tmp_path, local_repo, warm)
    try:
        os.kill(child, signal.SIGKILL)
        assert client.wait(timeout=120) == -signal.SIGKILL, "the caller dies of what killed the call"
    finally:
        block.unlink()
    assert _alive(server)
    spy_env, spy_log = git_spy(tmp_path)
    _claims_ok(local_repo, dict(warm.env, **spy_env))
    assert git_grandparents(spy_log) == {server}


@pytest.mark.parametrize("sig", [signal.SIGINT, signal.SIGTERM])
def test_signals_to_the_caller_reach_the_call(
    tmp_path: Path, local_repo: Path, warm: Warm, sig: signal.Signals
) -> None:
    client, server, child, block = _blocked_call(tmp_path, local_repo, warm)
    try:
        client.send_signal(sig)
        wait_for(lambda: not _alive(child), "the call to end on the forwarded signal")
        code = client.wait(timeout=120)
    finally:
        block.unlink()
    # SIGTERM kills as it would in-process; SIGINT is Ctrl-C, which the CLI reports as aborted (exit 1)
    # or the interpreter re-raises, depending on where it lands.
    assert code == -signal.SIGTERM if sig == signal.SIGTERM else code in (1, -signal.SIGINT)
    assert _alive(server)


def test_a_directory_of_another_user_is_never_used(local_repo: Path, warm: Warm) -> None:
    if os.getuid() != 0:
        pytest.skip("needs root to give the directory to another uid")
    warm.directory.mkdir(mode=0o700)
    os.chown(warm.directory, 65534, 65534)
    _claims_ok(local_repo, warm.env)
    assert list(warm.directory.iterdir()) == []


def test_a_socket_of_another_user_is_never_used(tmp_path: Path, local_repo: Path, warm: Warm) -> None:
    if os.getuid() != 0:
        pytest.skip("needs root to give the socket to another uid")
    server = warm.start(local_repo)
    found = warm.socket()
    assert found is not None
    os.chown(found, 65534, 65534)
    spy_env, spy_log = git_spy(tmp_path)
    _claims_ok(local_repo, dict(warm.env, **spy_env))
    assert server not in git_grandparents(spy_log)


LISTENER = """
import os, socket, sys
path, log = sys.argv[1], open(sys.argv[2], "w")
s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
s.bind(path)
os.setuid(65534)  # the peer's credentials are the listener's at listen()
s.listen(1)
print("ready", flush=True)
conn, _ = s.accept()
conn.settimeout(60)
data = conn.recv(65536)
log.write(f"received {len(data)} bytes")
"""


def test_a_server_run_by_another_uid_is_refused(tmp_path: Path, local_repo: Path, warm: Warm) -> None:
    """SO_PEERCRED: a socket file of ours, but the process behind it is someone else's."""
    if os.getuid() != 0:
        pytest.skip("needs root to run a listener as another uid")
    path = warm.free_socket(local_repo)
    log = tmp_path / "listener.log"
    fake = subprocess.Popen(
        [sys.executable, "-c", LISTENER, str(path), str(log)], stdout=subprocess.PIPE, text=True
    )
    try:
        assert fake.stdout is not None and fake.stdout.readline() == "ready\n"
        assert stat.S_ISSOCK(path.lstat().st_mode) and path.lstat().st_uid == 0
        _claims_ok(local_repo, warm.env)
        fake.wait(timeout=120)
        assert log.read_text() == "received 0 bytes", "the client hung up without sending its request"
    finally:
        fake.kill()
        fake.wait()


def test_no_unix_sockets_runs_in_process(local_repo: Path, warm: Warm) -> None:
    """A sandbox that forbids AF_UNIX (here: a runtime path too long for a socket) still works."""
    deep = warm.runtime / ("d" * 100)
    deep.mkdir(mode=0o700)
    env = dict(warm.env, XDG_RUNTIME_DIR=str(deep))
    for _ in range(2):
        _claims_ok(local_repo, env)


def test_sigterm_stops_the_server_and_removes_its_socket(local_repo: Path, warm: Warm) -> None:
    server = warm.start(local_repo)
    os.kill(server, signal.SIGTERM)
    wait_for(lambda: not _alive(server) and warm.socket() is None, "the server to stop and tidy up")
    _claims_ok(local_repo, warm.env)


SLOW_PID = """
import os, socket, struct, sys
path, go, child = sys.argv[1], sys.argv[2], sys.argv[3]
s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
s.bind(path)
s.listen(1)
print("ready", flush=True)
conn, _ = s.accept()
head, fds, _, _ = socket.recv_fds(conn, 4, 4)
size = struct.unpack("!I", head)[0]
while size > 0:
    size -= len(conn.recv(size))
print("request", flush=True)
while not os.path.exists(go):  # the test signals the client now, before any pid is sent
    os.sched_yield()
conn.sendall(f"pid {child}\\n".encode())
conn.recv(1)  # until the client hangs up
"""


def test_a_signal_before_the_call_s_pid_is_known_still_reaches_the_call(
    tmp_path: Path, local_repo: Path, warm: Warm
) -> None:
    """The caller is interrupted after its request was sent but before the server named the child:
    the client holds the signal and forwards it as soon as the pid arrives (the call never runs on
    unstopped). A stand-in server holds the pid back for as long as the test needs."""
    path = warm.free_socket(local_repo)
    go = tmp_path / "go"
    call_process = subprocess.Popen(["sleep", "600"])  # stands for the forked call
    fake = subprocess.Popen(
        [sys.executable, "-c", SLOW_PID, str(path), str(go), str(call_process.pid)],
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert fake.stdout is not None and fake.stdout.readline() == "ready\n"
        env = dict(os.environ, **warm.env)
        client = subprocess.Popen([str(SCRIPT), "claims"], cwd=local_repo, env=env, start_new_session=True)
        assert fake.stdout.readline() == "request\n"
        client.send_signal(signal.SIGTERM)
        go.touch()
        assert call_process.wait(timeout=120) == -signal.SIGTERM, "the held signal reached the call"
        client.kill()
        client.wait()
    finally:
        for proc in (fake, call_process):
            proc.kill()
            proc.wait()


@pytest.mark.parametrize(
    ("given", "seconds"),
    [
        ("2", 2.0),
        ("0.5", 0.5),
        ("3600", 3600.0),
        ("0", 30.0),
        ("-1", 30.0),
        ("inf", 30.0),
        ("nan", 30.0),
        ("x", 30.0),
    ],
)
def test_the_handshake_time_is_a_sane_number_of_seconds_or_30(
    monkeypatch: pytest.MonkeyPatch, given: str, seconds: float
) -> None:
    """A value a socket timeout cannot take (infinite, not a number, not positive) is the default,
    never an error in the client that every call goes through."""
    from gitcoord.warm import keys

    monkeypatch.setenv(keys.HANDSHAKE_ENV, given)
    assert keys.handshake_seconds() == seconds
