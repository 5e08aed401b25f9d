"""The `gitcoord` console script: hand the call to the warm server, else run it in this process.

Stdlib only, and nothing of gitcoord but `warm.keys` until the call runs in-process: a call that
reaches the server pays for an interpreter, a few syscalls and one socket round trip.
Any failure to reach or use the server (none yet, refused, stale, another version, another user,
no AF_UNIX in a sandbox, a terminal) runs the call in-process with today's behaviour.
"""

from __future__ import annotations

import _socket  # the C module: `socket` and the `selectors` it imports cost every call ~7 ms
import marshal  # built in: the request needs no import of `json` (server and client share a key)
import os
import sys

TYPE_CHECKING = False  # `typing` is an import this path does not need
if TYPE_CHECKING:
    import signal
else:  # the C module: `signal` builds its enums at import, ~6 ms of every call; the ints suffice
    import _signal as signal

from gitcoord.warm import keys  # noqa: E402 (after the choice of `signal` above)

# The same four as `child.CALLER_SIGNALS`, which the server blocks across its fork (not imported:
# this module must stay tiny).
FORWARDED = (signal.SIGINT, signal.SIGTERM, signal.SIGHUP, signal.SIGQUIT)


class NotWarm(Exception):
    """The server cannot take this call (nothing was run): run it in-process."""


def entry() -> None:
    """Console script: through the warm server when possible, else `gitcoord.console.entry`."""
    if _is_guard(sys.argv[1:]) or not _has_terminal():
        _serve("console")
    from gitcoord.console import entry as in_process

    in_process()


def hook_entry() -> None:
    """An installed hook (`python -S -P -c BOOT HOOK SCRIPT MODE ARGS...`, `hooks.files.boot_code`):
    through the hooks' warm server when possible, else `gitcoord.hooks.run.entry` in this process.
    A commit from a terminal runs its hooks in-process, as a CLI call from a terminal does."""
    if not _has_terminal():
        _serve("hook")
    from gitcoord.hooks.run import entry as in_process

    in_process()


def _serve(kind: str) -> None:
    """Run the call in a child of the server and exit as it did; return when it cannot be served
    (nothing ran), after starting a server for later calls when none was there."""
    if os.environ.get(keys.WARM_ENV) == "0":
        return
    try:
        code = _through_server(keys.warm_key(), kind)
    except NotWarm as why:
        if str(why) == "absent":
            _spawn_server(kind)
        return
    except OSError:
        return
    _exit_like(code)


def _is_guard(argv: list[str]) -> bool:
    """The editor guard is served even when the caller has a terminal: editors run it with pipes
    for its streams while their own screen holds the terminal, so a prompt there would hang the
    edit, not help it (DESIGN §9)."""
    return bool(argv) and argv[0] == "guard"


def _has_terminal() -> bool:
    """A forked child cannot own the caller's terminal, and git and ssh prompt on /dev/tty: a caller
    with a controlling terminal runs in-process so that prompts behave as they always did."""
    try:
        os.close(os.open("/dev/tty", os.O_RDONLY | os.O_NOCTTY))
    except OSError:
        return False
    return True


def _through_server(key: str, kind: str = "console") -> int:
    """Run the call in a child of the server; its raw wait status. NotWarm when nothing ran."""
    directory = keys.runtime_dir()
    path = keys.socket_path(key)
    if not keys.private_dir(directory):
        raise NotWarm("absent" if not os.path.lexists(directory) else "untrusted directory")
    if not keys.own_socket(path):
        raise NotWarm("absent" if not os.path.lexists(path) else "untrusted socket")
    try:
        sock = _socket.socket(_socket.AF_UNIX, _socket.SOCK_STREAM)
    except OSError as exc:  # a sandbox without AF_UNIX
        raise NotWarm("no unix sockets") from exc
    try:
        try:
            sock.connect(path)
        except (ConnectionRefusedError, FileNotFoundError) as exc:
            raise NotWarm("absent") from exc  # a server that died: start a new one
        _check_peer(sock)
        early = _catch_signals()  # from here on a call may be running: no signal may be lost
        try:
            _send_request(sock, key, kind)
            return _await_child(sock, early)
        except (NotWarm, OSError):  # OSError: a failed send, no answer in time; the call runs here
            _default_signals(early)  # no call runs: a signal meant for it is this process's own
            raise
    finally:
        sock.close()


def _check_peer(sock: _socket.socket) -> None:
    if keys.peer_uid(sock) != os.getuid():
        raise NotWarm("another user")


def _send_request(sock: _socket.socket, key: str, kind: str) -> None:
    mask = os.umask(0o022)
    os.umask(mask)
    cwd = os.open(".", os.O_RDONLY | os.O_DIRECTORY)  # the directory itself, not its name
    try:
        body = marshal.dumps(
            {
                "key": key,
                "entry": kind,
                "argv": sys.argv,
                "env": dict(os.environ),
                "umask": mask,
                "pid": os.getpid(),
                "ppid": os.getppid(),  # for a hook: the git process that runs it
            }
        )
        fds = b"".join(fd.to_bytes(4, sys.byteorder) for fd in (0, 1, 2, cwd))  # an int array
        size = len(body).to_bytes(4, "big")  # `struct.pack("!I", ...)` without `struct`
        sent = sock.sendmsg([size], [(_socket.SOL_SOCKET, _socket.SCM_RIGHTS, fds)])
        if sent != 4:
            raise NotWarm("a short send")
        sock.sendall(body)
    finally:
        os.close(cwd)


def _catch_signals() -> list[int]:
    """Hold the forwarded signals that arrive before the child's pid is known; the list fills."""
    early: list[int] = []
    for sig in FORWARDED:
        signal.signal(sig, lambda signum, _frame: early.append(signum))
    return early


def _default_signals(early: list[int]) -> None:
    """Back to the interpreter's handlers, and act on a signal that came meanwhile."""
    for sig in FORWARDED:
        signal.signal(sig, signal.default_int_handler if sig == signal.SIGINT else signal.SIG_DFL)
    for signum in early:
        os.kill(os.getpid(), signum)


def _await_child(sock: _socket.socket, early: list[int]) -> int:
    """Forward signals to the child until the server reports its exit status."""
    sock.settimeout(keys.handshake_seconds())  # for the server's answer; the call itself has no limit
    reader = _Lines(sock)
    first = reader.readline().split()
    if first[:1] != [b"pid"]:
        raise NotWarm(b" ".join(first[1:]).decode(errors="replace") or "no answer")
    child = int(first[1])
    for sig in FORWARDED:
        signal.signal(sig, lambda signum, _frame: _forward(child, signum))
    for signum in early:  # sent while the call was being set up: it is the call's
        _forward(child, signum)
    sock.settimeout(None)
    try:
        last = reader.readline().split()
    except OSError:  # the child runs (or ran) the call: never run it again in-process
        last = []
    if last[:1] != [b"exit"]:
        # The server went away mid-call: the child may have done its work; say so, never rerun it.
        sys.stderr.write("gitcoord: internal error: the warm server stopped before the call ended.\n")
        return 1 << 8
    return int(last[1])


class _Lines:
    """The server's answer, line by line (what `socket.makefile` gives, without `socket`)."""

    def __init__(self, sock: _socket.socket) -> None:
        self.sock = sock
        self.buffer = b""

    def readline(self) -> bytes:
        while b"\n" not in self.buffer:
            more = self.sock.recv(256)
            if not more:  # the server closed: whatever came is the last line
                line, self.buffer = self.buffer, b""
                return line
            self.buffer += more
        line, _, self.buffer = self.buffer.partition(b"\n")
        return line + b"\n"


def _forward(child: int, signum: int) -> None:
    """To the call's process group (the child leads one, `child.run_call`): what a signal to the
    caller's group does in-process, it does to the call's git and hook processes too."""
    try:
        os.killpg(child, signum)
    except OSError:  # not a group yet (the child sets it first thing): the child alone
        try:  # noqa: SIM105 (contextlib is an import this path does not need)
            os.kill(child, signum)
        except ProcessLookupError:
            pass


def _exit_like(status: int) -> None:
    """Exit as the child did: its code, or death by the same signal."""
    if os.WIFSIGNALED(status):
        sig = os.WTERMSIG(status)
        if sig not in (signal.SIGKILL, signal.SIGSTOP):
            signal.signal(sig, signal.SIG_DFL)
        os.kill(os.getpid(), sig)
        os._exit(128 + sig)
    os._exit(os.waitstatus_to_exitcode(status))


def _spawn_server(kind: str = "console") -> None:
    """Start a detached server for the calls that follow this one; never fail this call for it."""
    directory = keys.runtime_dir()
    try:
        os.makedirs(directory, mode=0o700, exist_ok=True)
        if not keys.private_dir(directory):
            return
        code = (
            f"import sys; sys.path[:] = {sys.path!r}; "
            f"from gitcoord.warm.server import main; main({os.getpid()}, {kind!r})"
        )
        quiet = [(os.POSIX_SPAWN_OPEN, fd, os.devnull, os.O_RDWR, 0) for fd in (0, 1, 2)]
        # The server runs under this interpreter's flags (`-P` from the launcher, `-S`...): they are
        # part of the key it listens under (`keys.warm_key`), so it must share them to be reached.
        from subprocess import _args_from_interpreter_flags as flags  # type: ignore[attr-defined]

        argv = [sys.executable, *flags(), "-c", code]
        os.posix_spawn(sys.executable, argv, os.environ, file_actions=quiet, setsid=True)
    except (OSError, ValueError, AttributeError):
        return
