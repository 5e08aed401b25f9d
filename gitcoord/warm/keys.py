"""Where the warm server listens, and the key that ties it to one install of one interpreter.

Stdlib only and cheap: the client computes this on every call before it imports gitcoord.
"""

from __future__ import annotations

import _socket
import os
import stat
import sys

from gitcoord.rundir import runtime_dir as runtime_dir  # the warm path's directory

WARM_ENV = "GITCOORD_WARM"  # "0" turns the warm path off (sandboxes, debugging)
IDLE_ENV = "GITCOORD_WARM_IDLE_SECONDS"  # the server exits after this long without a call
PRIME_ENV = "GITCOORD_WARM_PRIME"  # "0": the server does not prime itself (for benchmarks: before/after)
DEFAULT_IDLE_SECONDS = 600.0
# How long a client waits for the server to start its call before running it in-process.
HANDSHAKE_ENV = "GITCOORD_WARM_HANDSHAKE_SECONDS"
DEFAULT_HANDSHAKE_SECONDS = 30.0
try:  # what hashlib.blake2b is, without hashlib's import of OpenSSL (a few ms of every call)
    from _blake2 import blake2b
except ImportError:  # pragma: no cover (an interpreter built without it)
    from hashlib import blake2b

PACKAGE_DIR = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def private_dir(path: str) -> bool:
    """A directory of this user that nobody else can enter or write: the only place we trust."""
    try:
        info = os.lstat(path)
    except OSError:
        return False
    return stat.S_ISDIR(info.st_mode) and info.st_uid == os.getuid() and info.st_mode & 0o077 == 0


def peer_uid(sock: _socket.socket) -> int:
    """The uid of the process at the other end of a Unix socket (`SO_PEERCRED`), as the kernel
    says it: the client checks the server's, the server the client's."""
    creds = sock.getsockopt(_socket.SOL_SOCKET, _socket.SO_PEERCRED, 12)  # struct ucred: pid, uid, gid
    return int.from_bytes(creds[4:8], sys.byteorder)


def own_socket(path: str) -> bool:
    """A socket file of this user (a file of someone else's, or of another kind, is never used)."""
    try:
        info = os.lstat(path)
    except OSError:
        return False
    return stat.S_ISSOCK(info.st_mode) and info.st_uid == os.getuid()


def code_stamp() -> list[tuple[str, int, int]]:
    """Name, size and mtime of every module of the installed package (and of the hooks' C client's
    source, which a hooks' server builds only at its start), and the mtime of every directory on
    the path (pip adds and removes entries there when it upgrades a library the server has
    imported): changes when the code does."""
    out: list[tuple[str, int, int]] = []
    for directory in sys.path[1:]:  # [0] is the script's own directory, as in `warm_key`
        try:
            out.append((directory, -1, os.stat(directory).st_mtime_ns))
        except OSError:
            continue
    stack = [PACKAGE_DIR]
    while stack:
        with os.scandir(stack.pop()) as entries:
            for entry in entries:
                if entry.is_dir(follow_symlinks=False) and entry.name != "__pycache__":
                    stack.append(entry.path)
                elif entry.name.endswith((".py", ".c")):
                    info = entry.stat()
                    out.append((entry.path, info.st_size, info.st_mtime_ns))
    out.sort()
    return out


def version_stamp() -> str:
    """The installed distribution's metadata (name and version), found without importlib.metadata."""
    for entry in sys.path:
        try:
            names = os.listdir(entry or ".")
        except OSError:
            continue
        for name in names:
            if name.startswith("gitcoord-") and name.endswith(".dist-info"):
                path = os.path.join(entry, name, "METADATA")
                try:
                    return f"{name} {os.stat(path).st_mtime_ns}"
                except OSError:
                    return name
    return "gitcoord (no metadata)"


def warm_key() -> str:
    """Version, code and interpreter in one name: a server of anything else is never reached."""
    parts = [
        version_stamp(),
        PACKAGE_DIR,
        repr(code_stamp()),
        sys.executable,
        sys.version,
        repr(sys.flags),
        repr(sys.warnoptions),  # -W and -X: the server runs under the caller's, so they are its key too
        repr(sorted(sys._xoptions.items())),
        repr(sys.path[1:]),  # [0] is the script's own directory
    ]
    return blake2b("\0".join(parts).encode("utf-8", "surrogateescape"), digest_size=10).hexdigest()


def socket_path(key: str) -> str:
    return os.path.join(runtime_dir(), f"{key}.sock")


def interpreter_env(env: dict[str, str]) -> dict[str, str]:
    """The variables that change how the interpreter or GitPython start: a server started under other
    values would not behave as this process would, so such a call runs in-process."""
    return {
        k: v
        for k, v in env.items()
        if k.startswith(("PYTHON", "GIT_PYTHON")) or k == "PYDANTIC_DISABLE_PLUGINS"  # see prime.py
    }


def env_seconds(name: str, default: float) -> float:
    """The number of seconds the variable `name` holds; `default` when unset or not a number."""
    try:
        return float(os.environ.get(name, default))
    except ValueError:
        return default


def handshake_seconds() -> float:
    """`GITCOORD_WARM_HANDSHAKE_SECONDS` when it is a number of seconds up to an hour, else 30."""
    value = env_seconds(HANDSHAKE_ENV, DEFAULT_HANDSHAKE_SECONDS)
    return value if 0 < value <= 3600 else DEFAULT_HANDSHAKE_SECONDS
