"""The warm server: imports gitcoord once, then forks one child per call and reports its exit status.

Started detached by the first in-process call (`client._spawn_server`); one per user, install and
interpreter (`keys.warm_key`), guarded by a lock file so that racing starts leave one server. It
holds no coordination state: it never runs a call itself, so every child starts from the state the
server had after its imports and reads the repository afresh. It exits after `GITCOORD_WARM_IDLE_SECONDS`
(600) without a call, and as soon as the installed code changes.
"""

from __future__ import annotations

import contextlib
import fcntl
import gc
import marshal
import os
import select
import selectors
import signal
import socket
import struct
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from gitcoord.hooks import native
from gitcoord.warm import keys
from gitcoord.warm.child import CALLER_SIGNALS, run_call

REQUEST_TIMEOUT = 10.0  # for a connected client to send its request; it is already running
MAX_REQUEST = 64 << 20  # bytes: argv and the environment, with room to spare
ENTRIES = ("console", "hook")  # what a child runs: the console script, or an installed hook
CODE_CHECK_SECONDS = 2.0  # how often an idle server looks whether its code changed
STARTER_WAIT_SECONDS = 60.0  # at most, for the call that started the server to end
COLD_MODULES = ("gitcoord.mcp", "gitcoord.notion", "gitcoord.demo", "gitcoord.warm")
WARM_IMPORTS = ("gitcoord.cli", "gitcoord.coordinator", "gitcoord.store", "gitcoord.records")
HOOK_IMPORTS = ("gitcoord.kept",)  # besides the modules of gitcoord.hooks


@dataclass
class Server:
    key: str
    path: str
    stamp: list[tuple[str, int, int]]
    idle_seconds: float
    start_env: dict[str, str]
    listener: socket.socket
    link: str = ""  # a hooks' server: the name its native clients reach it by (`native.link_id`)
    directory: str = ""  # the runtime directory (private): a hook child keeps git's answers there
    selector: selectors.BaseSelector = field(default_factory=selectors.DefaultSelector)
    running: dict[int, Call] = field(default_factory=dict)  # by the child's pidfd
    last_call: float = field(default_factory=time.monotonic)
    closing: bool = False

    def serve(self) -> None:
        self.selector.register(self.listener, selectors.EVENT_READ)
        last_check = time.monotonic()
        while not self.closing or self.running:
            for key, _ in self.selector.select(timeout=CODE_CHECK_SECONDS):
                if key.fileobj is self.listener:
                    self._accept()
                elif key.data is None:
                    self._reap(int(key.fd))
                elif key.data[0] == "done":
                    self._done(key.data[1])
                else:
                    self._caller_gone(key.data[1])
                # (The call itself rides with its pipe's and its caller's events: an event left in
                # this batch for a call handled meanwhile finds it done, never another call that
                # was given the same descriptor numbers.)
            now = time.monotonic()
            if not self.closing and not self.running and now - self.last_call > self.idle_seconds:
                self.close()
            if not self.closing and now - last_check >= CODE_CHECK_SECONDS:
                last_check = now
                if keys.code_stamp() != self.stamp:
                    self.close()

    def close(self) -> None:
        """Stop taking calls (the socket goes first, so new calls start their own server)."""
        if self.closing:
            return
        self.closing = True
        with contextlib.suppress(OSError):  # ours: another server binds it only after our lock is gone
            os.unlink(self.path)
        self.selector.unregister(self.listener)
        self.listener.close()

    def _accept(self) -> None:
        try:
            conn, _ = self.listener.accept()
        except OSError:
            return
        self.last_call = time.monotonic()
        fds: list[int] = []
        try:
            if keys.peer_uid(conn) != os.getuid():  # before anything of the request is read
                conn.sendall(b"no another user\n")
                raise _Done
            request, fds = _read_request(conn)
            refusal = self._refusal(request)
            if refusal:
                conn.sendall(f"no {refusal}\n".encode())
                raise _Done
            self._start_child(conn, request, fds)
        except (_Done, OSError, ValueError, KeyError, TypeError, MemoryError):
            for fd in fds:
                _close(fd)
            conn.close()

    def _refusal(self, request: dict[str, Any]) -> str:
        if "link" in request:  # the C client: it reached us by the name only we link
            if request["link"] != self.link or not self.link or request.get("native") != native.PROTOCOL:
                return "another version"
            if request.get("entry") != "hook":
                return "not a hook"
        elif request.get("key") != self.key:
            return "another version"
        if keys.code_stamp() != self.stamp:
            self.close()
            return "code changed"
        if keys.interpreter_env(request["env"]) != keys.interpreter_env(self.start_env):
            return "other interpreter settings"
        return ""

    def _start_child(self, conn: socket.socket, request: dict[str, Any], fds: list[int]) -> None:
        # A signal the caller forwards while the child still has the server's handlers (SIGINT
        # ignored, SIGTERM closing the server) would be lost: blocked, it waits for the child's own.
        mask = signal.pthread_sigmask(signal.SIG_BLOCK, CALLER_SIGNALS)
        done, said = os.pipe()  # the child's exit code, written as it exits (`run_call`)
        pid = os.fork()
        if pid == 0:
            conn.close()
            os.close(done)
            self._forget_in_child()
            run_call(request, fds, mask, self.directory, said)  # never returns
        os.close(said)
        signal.pthread_sigmask(signal.SIG_SETMASK, mask)
        with contextlib.suppress(OSError):  # the child does the same: whichever runs first
            os.setpgid(pid, pid)
        for fd in fds:
            _close(fd)
        pidfd = os.pidfd_open(pid)
        call = self.running[pidfd] = Call(pid, conn, done)
        self.selector.register(pidfd, selectors.EVENT_READ)
        self.selector.register(done, selectors.EVENT_READ, ("done", call))
        conn.sendall(f"pid {pid}\n".encode())
        # The client sends nothing more: its end closing while the call runs means it was killed
        # (SIGKILL cannot be forwarded). Its call dies with it, as it would have in-process.
        self.selector.register(conn, selectors.EVENT_READ, ("gone", call))

    def _done(self, call: Call) -> None:
        """The child wrote its exit code as it exits: the caller hears it now, not after the
        kernel has taken the child's memory down and the server has reaped it. A child that dies
        without writing it (a signal) is reported by `_reap`, from its wait status."""
        if call.done is None:  # reaped meanwhile
            return
        self.selector.unregister(call.done)
        try:
            said = os.read(call.done, 16)
        except OSError:
            said = b""
        _close(call.done)
        call.done = None
        if said.strip().isdigit():
            self._report(call, int(said) << 8)  # the wait status of a normal exit with that code

    def _report(self, call: Call, status: int) -> None:
        """Send the exit status once, and stop watching the caller: a caller that goes once it has
        its answer is not one that was killed."""
        if call.conn is None:
            return
        with contextlib.suppress(KeyError):  # still watched: its caller is there
            self.selector.unregister(call.conn)
        with contextlib.suppress(OSError):  # a caller gone: the call's work is done either way
            call.conn.sendall(f"exit {status}\n".encode())
        call.conn.close()
        call.conn = None

    def _caller_gone(self, call: Call) -> None:
        pid, conn = call.pid, call.conn
        if conn is None:  # its exit was reported meanwhile
            return
        self.selector.unregister(conn)
        try:
            gone = conn.recv(1, socket.MSG_DONTWAIT) == b""
        except BlockingIOError:
            gone = False
        except OSError:
            gone = True
        if gone:  # the call's group: the hook or command and every process it started
            with contextlib.suppress(OSError):
                os.killpg(pid, signal.SIGKILL)

    def _forget_in_child(self) -> None:
        if not self.closing:
            self.listener.close()
        for pidfd, other in self.running.items():
            _close(pidfd)
            if other.conn is not None:
                other.conn.close()
            if other.done is not None:
                _close(other.done)
        self.selector.close()

    def _reap(self, pidfd: int) -> None:
        call = self.running.pop(pidfd)
        self.selector.unregister(pidfd)
        if call.done is not None:  # gone before its code was read (or without writing it)
            self.selector.unregister(call.done)
            _close(call.done)
        _close(pidfd)
        _, status = os.waitpid(call.pid, 0)
        self.last_call = time.monotonic()
        self._report(call, status)


@dataclass
class Call:
    """A call running in a child: its pid, the caller's connection until the exit is reported,
    and the pipe the child writes its exit code to until it is read."""

    pid: int
    conn: socket.socket | None
    done: int | None


class _Done(Exception):
    pass


def _close(fd: int) -> None:
    with contextlib.suppress(OSError):
        os.close(fd)


def _read_request(conn: socket.socket) -> tuple[dict[str, Any], list[int]]:
    conn.settimeout(REQUEST_TIMEOUT)
    head, fds, _flags, _addr = socket.recv_fds(conn, 4, 4)
    try:
        request = _request_body(conn, head, len(fds))
    except BaseException:
        for fd in fds:
            _close(fd)
        raise
    return request, fds


def _request_body(conn: socket.socket, head: bytes, fds: int) -> dict[str, Any]:
    """The request after its 4-byte size; `fds`: how many descriptors came with it."""
    if fds != 4:
        raise ValueError("a request without its four descriptors")
    while len(head) < 4:
        more = conn.recv(4 - len(head))
        if not more:
            raise ValueError("a truncated request")
        head += more
    (size,) = struct.unpack("!I", head)
    if size > MAX_REQUEST:
        raise ValueError("a request larger than any client sends")
    body = b""
    while len(body) < size:
        more = conn.recv(min(1 << 16, size - len(body)))
        if not more:
            raise ValueError("a truncated request")
        body += more
    conn.settimeout(None)
    try:  # marshal: the client's cheapest encoding; the key (checked next) pins the interpreter
        request = marshal.loads(body)
    except (EOFError, TypeError) as exc:
        raise ValueError("not a request") from exc
    if isinstance(request, dict) and "native" in request:
        request = _from_native(request)
    if not isinstance(request, dict) or not _plain(request):
        raise ValueError("not a request")
    return request


def _from_native(request: dict[Any, Any]) -> dict[Any, Any]:
    """The C client sends argv and the environment as the bytes it has: decoded as the interpreter
    decodes its own (the file system encoding, surrogateescape), they are what a Python client sends."""
    argv, env = request.get("argv"), request.get("env")
    if not (isinstance(argv, list) and isinstance(env, dict)):
        raise ValueError("not a request")
    try:
        return {
            **request,
            "argv": [os.fsdecode(a) for a in argv],
            "env": {os.fsdecode(k): os.fsdecode(v) for k, v in env.items()},
        }
    except TypeError as exc:  # a str where bytes belong, or anything else
        raise ValueError("not a request") from exc


def _plain(request: dict[Any, Any]) -> bool:
    """Only what a client sends: argv a list of strings, env a dict of strings, umask and pids ints."""
    argv, env = request.get("argv"), request.get("env")
    return (
        isinstance(request.get("key"), str)
        and isinstance(argv, list)
        and all(isinstance(a, str) for a in argv)
        and isinstance(env, dict)
        and all(isinstance(k, str) and isinstance(v, str) for k, v in env.items())
        and isinstance(request.get("umask"), int)
        and isinstance(request.get("pid"), int)
        and isinstance(request.get("ppid"), int)
        and request.get("entry", "console") in ENTRIES
    )


def _warm_up(kind: str = "console") -> None:
    """Import what calls need, once: each child starts with it loaded. Not `__main__` modules (they
    run), nor the MCP server, Notion and the demo (their libraries are large and few calls need them).
    A hooks' server imports only what a hook may run (`HOOK_IMPORTS`): a smaller server forks
    faster, and its children copy fewer pages."""
    import importlib
    import pkgutil

    import gitcoord

    if kind == "hook":  # which system config files `kept` watches, for the server's own PATH
        with contextlib.suppress(Exception):
            importlib.import_module("gitcoord.kept").config_files(Path("/"), Path("/"))
    package = gitcoord if kind != "hook" else importlib.import_module("gitcoord.hooks")
    names = list(WARM_IMPORTS if kind != "hook" else HOOK_IMPORTS)
    for module in pkgutil.walk_packages(package.__path__, f"{package.__name__}."):
        if not module.name.endswith("__main__") and not module.name.startswith(COLD_MODULES):
            names.append(module.name)
    for name in names:
        with contextlib.suppress(Exception):
            importlib.import_module(name)


def prepare(kind: str = "console") -> None:
    """Everything a child should start with: the imports, then what first calls build (`prime`).

    The hooks' server runs under `-S` like the hooks themselves (`hooks.files.boot_code`): the
    installed libraries are not on its path, so the modules that need them are not imported and
    there is nothing of theirs to prime; its children run the stdlib-only hook modules."""
    _warm_up(kind)
    if kind != "hook" and os.environ.get(keys.PRIME_ENV) != "0":
        try:
            from gitcoord.warm import prime
        except ImportError:
            pass
        else:
            prime.prime()
    gc.collect()  # then everything alive goes to the permanent generation: forked children never
    gc.freeze()  # have the collector walk (and so copy, page by page) the server's heap


def _after(pid: int) -> None:
    """Wait for the call that started us to end, so that our imports do not slow it down."""
    try:
        pidfd = os.pidfd_open(pid)
    except OSError:
        return  # gone already
    try:
        select.select([pidfd], [], [], STARTER_WAIT_SECONDS)
    finally:
        os.close(pidfd)


def _listen(path: str) -> socket.socket:
    with contextlib.suppress(FileNotFoundError):  # we hold the lock: a socket here is a dead server's
        os.unlink(path)
    old = os.umask(0o077)
    try:
        listener = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        listener.bind(path)
    finally:
        os.umask(old)
    listener.listen(64)
    return listener


def _link(directory: str, link: str, target: str) -> None:
    """`hook-LINK.sock` -> our socket, replaced in one step. It stays when we go: a link to a
    socket that is gone sends the C client to Python, which starts the next server, which links."""
    tmp = os.path.join(directory, f".hook-{link}.{os.getpid()}")
    with contextlib.suppress(OSError):
        os.unlink(tmp)
    try:
        os.symlink(os.path.basename(target), tmp)
        os.replace(tmp, os.path.join(directory, f"hook-{link}.sock"))
    except OSError:
        with contextlib.suppress(OSError):
            os.unlink(tmp)


def _hook_link(directory: str) -> str:
    """A hooks' server (run as an installed hook runs, `python -S -P -c BOOT`): build the C client
    if it is missing (`native.build`) and return the name its requests come by; "" when none."""
    from gitcoord.hooks.files import boot_code

    if native.build(directory) is None:
        return ""
    return native.link_id(sys.executable, boot_code())


def main(starter: int = 0, kind: str = "console") -> None:
    """Run one server for this install and interpreter, unless one runs already."""
    os.chdir("/")
    if starter:
        _after(starter)
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # a Ctrl-C meant for the first caller's terminal
    key = keys.warm_key()
    stamp = keys.code_stamp()
    directory = keys.runtime_dir()
    if not keys.private_dir(directory):
        return
    lock = os.open(os.path.join(directory, f"{key}.lock"), os.O_RDWR | os.O_CREAT, 0o600)
    try:
        fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except OSError:
        return  # another server of this key runs
    os.ftruncate(lock, 0)
    os.write(lock, f"{os.getpid()}\n".encode())  # who serves, for people and tests
    start_env = dict(os.environ)
    if kind == "hook":  # what hooks of earlier servers kept (`kept.SavedWorkspace`)
        from gitcoord.kept import forget_saved

        forget_saved(directory)
    prepare(kind)
    link = _hook_link(directory) if kind == "hook" else ""
    idle = keys.env_seconds(keys.IDLE_ENV, keys.DEFAULT_IDLE_SECONDS)
    path = keys.socket_path(key)
    # A polite stop (`kill PID`): no new calls, the running ones finish and report, the socket goes.
    # Held back from the moment the socket exists until the handler is in place: a SIGTERM in
    # between would kill the server the default way and leave its socket behind.
    signal.pthread_sigmask(signal.SIG_BLOCK, {signal.SIGTERM})
    server = Server(key, path, stamp, idle, start_env, _listen(path), link, directory)
    if link:
        _link(directory, link, path)
    signal.signal(signal.SIGTERM, lambda _sig, _frame: server.close())
    signal.pthread_sigmask(signal.SIG_UNBLOCK, {signal.SIGTERM})
    server.serve()
    sys.exit(0)
