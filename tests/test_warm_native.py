"""The hooks' C client (issue 13): an installed hook hands its call to the hooks' server without
starting Python, and becomes the hook's Python command whenever it cannot.

Real `git commit` through the installed scripts, a real hooks' server, and the client built by it
with the machine's C compiler. A hook held on a FIFO (its `.legacy`, which the served child runs
first) shows which process git started for the hook, and lets a signal or a dead server arrive
mid-call without any timing.
"""

from __future__ import annotations

import marshal
import os
import shutil
import signal
import socket
import struct
import subprocess
import tempfile
import threading
from pathlib import Path

import pytest

from gitcoord.hooks import native
from gitcoord.hooks.files import boot_code
from tests.conftest import git, run, wait_for
from tests.test_warm_hooks import Trace, _hooks_server, _stage, agent_git
from tests.warm_helpers import Warm, _alive

# Run first by the served child (as `pre-commit.legacy`): writes its pid, then waits for the FIFO.
HELD_LEGACY = """#!/bin/sh
echo $$ > "$HOLD_MARK"
[ -n "$HOLD_FIFO" ] && read -r _ < "$HOLD_FIFO"
printf '%s' "$ODD_BYTES" > "$HOLD_MARK.bytes"
exit 0
"""
FALLBACK = """#!/bin/sh
printf '%s\\n' "$@" > "$FALLBACK_LOG"
exit 7
"""


@pytest.fixture
def client(tmp_path: Path) -> Path:
    """The client, built where a test calls it by hand."""
    where = tmp_path / "bin"
    where.mkdir(mode=0o700)
    built = native.build(str(where))
    if built is None:
        pytest.skip("no C compiler here: the hooks run through Python, as tests/test_warm_hooks.py checks")
    return built


def hooks_up(local_repo: Path, warm: Warm) -> dict[str, str]:
    """Hooks installed, beta holding src/held.py, the hooks' server started: alpha's env."""
    assert run(local_repo, "hooks", "install").code == 0
    assert run(local_repo, "claim", "src/held.py", agent="beta").code == 0
    env = dict(warm.env, GITCOORD_AGENT="alpha")
    _stage(local_repo, "first.txt", "1\n")
    assert agent_git(local_repo, env, "commit", "-q", "-m", "first").returncode == 0
    _hooks_server(warm)
    return env


def served_repo(local_repo: Path, warm: Warm) -> dict[str, str]:
    """`hooks_up`, and the server's link for the C client in place."""
    env = hooks_up(local_repo, warm)
    wait_for(lambda: bool(list(warm.directory.glob("hook-*.sock"))), "the hooks' server's link")
    return env


def built_by_server(warm: Warm) -> Path:
    """The client the hooks' server built and tried in its runtime directory."""
    client = warm.directory / native.name()
    assert os.access(client, os.X_OK)
    return client


def the_link(warm: Warm) -> str:
    (link,) = warm.directory.glob("hook-*.sock")
    return link.name.removeprefix("hook-").removesuffix(".sock")


def hold(tmp_path: Path, repo: Path) -> dict[str, str]:
    """A legacy pre-commit that waits on a FIFO; the variables that make it wait."""
    legacy = repo / ".git" / "hooks" / "pre-commit.legacy"
    legacy.write_text(HELD_LEGACY)
    legacy.chmod(0o755)
    fifo = tmp_path / "hold.fifo"
    os.mkfifo(fifo)
    return {"HOLD_MARK": str(tmp_path / "started"), "HOLD_FIFO": str(fifo)}


def started(held: dict[str, str]) -> bool:
    """Has the held hook written its pid yet?"""
    mark = Path(held["HOLD_MARK"])
    return mark.exists() and mark.read_text().strip().isdigit()


def release(held: dict[str, str]) -> None:
    with open(held["HOLD_FIFO"], "w") as fifo:
        fifo.write("go\n")


def children(pid: int) -> list[tuple[int, str]]:
    """(pid, command name) of each live child of `pid`."""
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
        except OSError:
            continue
        name, _, rest = stat.partition(" (")[2].rpartition(")")
        if int(rest.split()[1]) == pid:
            found.append((int(entry.name), name))
    return found


def start_commit(repo: Path, env: dict[str, str]) -> subprocess.Popen[str]:
    return subprocess.Popen(
        ["git", "commit", "-q", "-m", "edits beta's file"],
        cwd=repo,
        env={**os.environ, **env},
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        start_new_session=True,
    )


def test_a_served_commit_runs_its_hook_without_python(tmp_path: Path, local_repo: Path, warm: Warm) -> None:
    env = served_repo(local_repo, warm)
    held = hold(tmp_path, local_repo)
    _stage(local_repo, "src/held.py", "x\n")
    commit = start_commit(local_repo, {**env, **held})
    wait_for(lambda: started(held), "the held pre-commit")
    # What git started for the hook is the C client (sh exec'd it), not an interpreter.
    names = [name for _pid, name in children(commit.pid)]
    assert len(names) == 1 and names[0].startswith("hookc-"), names
    release(held)
    _, err = commit.communicate(timeout=300)
    # The outcome is the in-process hook's, word for word.
    here = agent_git(
        local_repo,
        {**env, "GITCOORD_WARM": "0", "HOLD_MARK": held["HOLD_MARK"]},
        "commit",
        "-q",
        "-m",
        "edits beta's file",
    )
    assert (commit.returncode, err) == (here.returncode, here.stderr)
    assert commit.returncode == 1 and "src/held.py: beta's exclusive claim C-" in err


def test_a_served_commit_passes_its_trailers_like_in_process(
    tmp_path: Path, local_repo: Path, warm: Warm
) -> None:
    env = served_repo(local_repo, warm)
    assert run(local_repo, "claim", "src/mine.py", agent="alpha").code == 0
    trace = Trace(tmp_path)
    _stage(local_repo, "src/mine.py", "mine\n")
    done = agent_git(local_repo, {**env, **trace.env}, "commit", "-q", "-m", "mine")
    assert done.returncode == 0, done.stderr
    assert trace.served()
    message = git(local_repo, "log", "-1", "--format=%B")
    assert "Coord-Agent: alpha" in message and "Coord-Claim: C-2@" in message


def call_client(
    client: Path, link: str, env: dict[str, str], cwd: Path, fallback: Path, *hook: str
) -> subprocess.CompletedProcess[str]:
    argv = [str(client), link, "--", str(fallback), "-S", "-P", "-c", "BOOT", *hook]
    return subprocess.run(
        argv, cwd=cwd, env=env, capture_output=True, text=True, timeout=300, start_new_session=True
    )


@pytest.fixture
def fallback(tmp_path: Path) -> tuple[Path, Path]:
    script = tmp_path / "fallback.sh"
    script.write_text(FALLBACK)
    script.chmod(0o755)
    return script, tmp_path / "fallback.log"


def test_the_client_runs_the_python_command_whenever_it_cannot_hand_over(
    tmp_path: Path, local_repo: Path, client: Path, fallback: tuple[Path, Path]
) -> None:
    script, log = fallback
    runtime = tmp_path / "rt"
    base = dict(os.environ, XDG_RUNTIME_DIR=str(runtime), FALLBACK_LOG=str(log))
    base.pop("GITCOORD_WARM", None)

    def falls_back(env: dict[str, str], why: str) -> None:
        log.unlink(missing_ok=True)
        res = call_client(client, "abc", env, local_repo, script, "pre-commit", "-", "others")
        assert res.returncode == 7, (why, res.stderr)
        # The Python command got exactly its own arguments.
        assert log.read_text().splitlines() == ["-S", "-P", "-c", "BOOT", "pre-commit", "-", "others"], why

    falls_back(base, "no runtime directory")
    (runtime / "gitcoord").mkdir(parents=True, mode=0o755)
    falls_back(base, "a runtime directory others may enter")
    (runtime / "gitcoord").chmod(0o700)
    falls_back(base, "no link")
    (runtime / "gitcoord" / "hook-abc.sock").symlink_to("gone.sock")
    falls_back(base, "a link to a socket that is gone")
    (runtime / "gitcoord" / "gone.sock").write_text("not a socket")
    falls_back(base, "a link to a file that is not a socket")
    falls_back({**base, "GITCOORD_WARM": "0"}, "GITCOORD_WARM=0")

    # A listener that refuses, then one that never answers: nothing ran, so Python runs the hook.
    (runtime / "gitcoord" / "gone.sock").unlink()
    for answer, extra in ((b"no another version\n", {}), (None, {"GITCOORD_WARM_HANDSHAKE_SECONDS": "1"})):
        with listener(runtime / "gitcoord" / "gone.sock", answer) as requests:
            falls_back({**base, **extra}, f"a server that answers {answer!r}")
        assert len(requests) == 1 and requests[0]["link"] == "abc" and requests[0]["native"] == 1

    log.unlink()
    usage = subprocess.run([str(client), "abc", "x", str(script)], capture_output=True, text=True)
    assert usage.returncode == 2 and usage.stderr.startswith("usage: hookc")
    assert not log.exists(), "a client called wrongly runs nothing"


class listener:
    """A stand-in server on `path`: takes one request, answers `answer` (or nothing) and keeps
    the connection open until the client hangs up."""

    def __init__(self, path: Path, answer: bytes | None) -> None:
        self.path, self.answer = path, answer
        self.requests: list[dict[str, object]] = []

    def __enter__(self) -> list[dict[str, object]]:
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self.sock.bind(str(self.path))
        self.sock.listen(1)
        self.thread = threading.Thread(target=self._serve, daemon=True)
        self.thread.start()
        return self.requests

    def _serve(self) -> None:
        conn, _ = self.sock.accept()
        with conn:
            head, fds, _flags, _addr = socket.recv_fds(conn, 4, 4)
            for fd in fds:
                os.close(fd)
            (size,) = struct.unpack("!I", head)
            body = b""
            while len(body) < size:
                body += conn.recv(size - len(body))
            self.requests.append(marshal.loads(body))
            if self.answer is not None:
                conn.sendall(self.answer)
            conn.recv(1)  # until the client hangs up

    def __exit__(self, *exc: object) -> None:
        self.thread.join(timeout=300)
        self.sock.close()
        self.path.unlink()


def test_a_served_call_exits_as_its_hook_did_and_never_runs_twice(
    tmp_path: Path, local_repo: Path, warm: Warm, fallback: tuple[Path, Path]
) -> None:
    env = served_repo(local_repo, warm)
    client = built_by_server(warm)
    script, log = fallback
    _stage(local_repo, "src/held.py", "x\n")
    full = {**os.environ, **env, "FALLBACK_LOG": str(log)}
    # What the installed script runs, with a stand-in Python command that would leave a trace.
    res = call_client(client, the_link(warm), full, local_repo, script, "pre-commit", "-", "others")
    assert res.returncode == 1 and "src/held.py: beta's exclusive claim C-" in res.stderr
    assert not log.exists(), "served: the Python command never ran"
    git(local_repo, "reset", "-q", "src/held.py")
    _stage(local_repo, "free.txt", "free\n")
    res = call_client(client, the_link(warm), full, local_repo, script, "pre-commit", "-", "others")
    assert (res.returncode, res.stderr, log.exists()) == (0, "", False)


def test_a_signal_to_the_client_reaches_the_served_hook(tmp_path: Path, local_repo: Path, warm: Warm) -> None:
    env = served_repo(local_repo, warm)
    held = hold(tmp_path, local_repo)
    _stage(local_repo, "free.txt", "free\n")
    commit = start_commit(local_repo, {**env, **held})
    wait_for(lambda: started(held), "the held pre-commit")
    [(hook, name)] = children(commit.pid)
    assert name.startswith("hookc-")
    legacy = int(Path(held["HOLD_MARK"]).read_text())  # the held hook's shell: it wrote its pid
    os.kill(hook, signal.SIGTERM)
    commit.communicate(timeout=300)
    assert commit.returncode == 1, "git saw its hook die"
    wait_for(lambda: not _alive(legacy), "the served hook's own child to get the signal")
    assert not git(local_repo, "log", "--format=%s", "-1").startswith("edits")


def test_a_server_gone_mid_call_is_an_internal_error_not_a_second_run(
    tmp_path: Path, local_repo: Path, warm: Warm, fallback: tuple[Path, Path]
) -> None:
    env = served_repo(local_repo, warm)
    client = built_by_server(warm)
    held = hold(tmp_path, local_repo)
    script, log = fallback
    _stage(local_repo, "free.txt", "free\n")
    argv = [
        str(client),
        the_link(warm),
        "--",
        str(script),
        "-c",
        "BOOT",
        "pre-commit",
        str(local_repo / ".git/hooks/pre-commit"),
        "others",
    ]
    call = subprocess.Popen(
        argv,
        cwd=local_repo,
        env={**os.environ, **env, **held, "FALLBACK_LOG": str(log)},
        stderr=subprocess.PIPE,
        text=True,
        start_new_session=True,
    )
    wait_for(lambda: started(held), "the held pre-commit")
    warm.stop()  # SIGKILL: the server cannot report the call's end
    assert call.wait(timeout=300) == 1
    release(held)  # the orphaned child finishes its call, and lets go of the client's stderr
    assert call.stderr is not None
    assert call.stderr.read() == "gitcoord: internal error: the warm server stopped before the call ended.\n"
    assert not log.exists(), "the call is not run again in Python"


def test_the_environment_reaches_the_served_hook_byte_for_byte(
    tmp_path: Path, local_repo: Path, warm: Warm
) -> None:
    env = served_repo(local_repo, warm)
    held = hold(tmp_path, local_repo)
    del held["HOLD_FIFO"]
    _stage(local_repo, "free.txt", "free\n")
    odd = {
        **os.environb,
        **{k.encode(): v.encode() for k, v in {**env, **held}.items()},
        b"ODD_BYTES": b"caf\xe9 \xff",
    }
    trace = Trace(tmp_path)
    odd.update({k.encode(): v.encode() for k, v in trace.env.items()})
    done = subprocess.run(
        ["git", "commit", "-q", "-m", "odd"],
        cwd=local_repo,
        env=odd,
        capture_output=True,
        start_new_session=True,
        timeout=300,
    )
    assert done.returncode == 0, done.stderr
    assert trace.served()
    assert Path(held["HOLD_MARK"] + ".bytes").read_bytes() == b"caf\xe9 \xff"


def _raw_request(warm: Warm, cwd: Path, **fields: object) -> bytes:
    """Send a hand-made native request to the hooks' server; its first line of answer."""
    request = {
        "key": "",
        "native": 1,
        "link": the_link(warm),
        "entry": "hook",
        "argv": [b"-c", b"pre-commit", b"-", b"others"],
        "env": dict(os.environb),
        "umask": 0o022,
        "pid": os.getpid(),
        "ppid": os.getppid(),
    }
    request.update(fields)
    body = marshal.dumps(request)
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as sock:
        sock.connect(str(warm.directory / f"hook-{the_link(warm)}.sock"))
        here = os.open(cwd, os.O_RDONLY | os.O_DIRECTORY)
        null = os.open(os.devnull, os.O_RDWR)
        try:
            socket.send_fds(sock, [struct.pack("!I", len(body))], [null, null, null, here])
            sock.sendall(body)
            answer = b""
            while not answer.endswith(b"\n"):
                more = sock.recv(64)
                if not more:
                    break
                answer += more
        finally:
            os.close(here)
            os.close(null)
    return answer


def test_the_server_takes_native_requests_only_for_its_own_link_and_hooks(
    local_repo: Path, warm: Warm
) -> None:
    served_repo(local_repo, warm)
    assert _raw_request(warm, local_repo, link="0" * 20) == b"no another version\n"
    assert _raw_request(warm, local_repo, native=2) == b"no another version\n"
    assert _raw_request(warm, local_repo, entry="console") == b"no not a hook\n"
    assert _raw_request(warm, local_repo, env={**os.environb, b"PYTHONPATH": b"/x"}) == (
        b"no other interpreter settings\n"
    )
    assert _raw_request(warm, local_repo, argv=["-c", 5]) == b""  # not a request: dropped
    assert _raw_request(warm, local_repo).startswith(b"pid ")


def test_without_a_compiler_the_hooks_are_served_through_python(
    tmp_path: Path, local_repo: Path, warm: Warm, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("CC", str(tmp_path / "no-such-cc"))
    env = hooks_up(local_repo, warm)
    trace = Trace(tmp_path)
    _stage(local_repo, "src/held.py", "x\n")
    refused = agent_git(local_repo, {**env, **trace.env}, "commit", "-q", "-m", "edits beta's file")
    assert trace.served(), "served all the same, through the Python client"
    assert refused.returncode == 1 and "src/held.py: beta's exclusive claim C-" in refused.stderr
    assert not list(warm.directory.glob("hook-*.sock")) and not list(warm.directory.glob("hookc-*"))


def test_doctor_says_whether_the_hooks_go_through_the_c_client(
    tmp_path: Path, local_repo: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    runtime = tmp_path / "rt"
    (runtime / "gitcoord").mkdir(parents=True, mode=0o700)
    monkeypatch.setenv("XDG_RUNTIME_DIR", str(runtime))
    assert run(local_repo, "hooks", "install").code == 0

    def hooks_finding() -> str:
        found = run(local_repo, "doctor", "--json").json()["findings"]
        (hooks,) = [f for f in found if f["check"] == "hooks"]
        assert hooks["level"] == "ok"
        return str(hooks["message"])

    assert "the hooks' C client is not built yet" in hooks_finding()
    built = native.build(str(runtime / "gitcoord"))
    if built is None:
        pytest.skip("no C compiler here")
    assert f"through the C client {built}" in hooks_finding()


def plant(tmp_path: Path, directory: Path) -> None:
    """Another user's program where the hooks look for the client: it would leave a mark."""
    planted = directory / native.name()
    planted.write_text(f"#!/bin/sh\ntouch {tmp_path / 'ran'}\nexit 1\n")
    planted.chmod(0o755)
    os.chown(planted, 4242, 4242)


def commit_passes_it_by(
    tmp_path: Path, local_repo: Path, runtime: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A commit with the hooks installed and `runtime` as XDG_RUNTIME_DIR: done, the program not run."""
    monkeypatch.setenv("XDG_RUNTIME_DIR", str(runtime))
    monkeypatch.delenv("GITCOORD_WARM")
    assert run(local_repo, "hooks", "install").code == 0
    _stage(local_repo, "free.txt", "free\n")
    done = agent_git(local_repo, {"GITCOORD_AGENT": "alpha"}, "commit", "-q", "-m", "free")
    assert done.returncode == 0, done.stderr
    assert not (tmp_path / "ran").exists()


@pytest.mark.skipif(os.getuid() != 0, reason="gives a directory to another user: needs root")
def test_a_runtime_directory_of_someone_else_is_never_run_from(
    tmp_path: Path, local_repo: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The script execs the client only from a runtime directory of this user (`[ -O ]`): in a
    shared /tmp another user could make /tmp/gitcoord-UID first and put a program in it."""
    runtime = tmp_path / "rt"
    (runtime / "gitcoord").mkdir(parents=True)
    plant(tmp_path, runtime / "gitcoord")
    os.chown(runtime / "gitcoord", 4242, 4242)
    commit_passes_it_by(tmp_path, local_repo, runtime, monkeypatch)


@pytest.mark.skipif(os.getuid() != 0, reason="gives a file to another user: needs root")
def test_a_client_someone_else_put_in_our_directory_is_never_run(
    tmp_path: Path, local_repo: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Our runtime directory opened to others (by us: the warm path never serves from it then): a
    link and a program planted there by another user are passed by (`[ -O ]` on the program)."""
    import sys

    runtime = Path(tempfile.mkdtemp(prefix="gn-", dir="/tmp"))  # a socket's path is short
    ours = runtime / "gitcoord"
    ours.mkdir(mode=0o777)
    ours.chmod(0o777)
    plant(tmp_path, ours)
    try:
        with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as stand_in:
            stand_in.bind(str(ours / f"hook-{native.link_id(sys.executable, boot_code())}.sock"))
            commit_passes_it_by(tmp_path, local_repo, runtime, monkeypatch)
    finally:
        shutil.rmtree(runtime, ignore_errors=True)
