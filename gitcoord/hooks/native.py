"""The hook client in C (`hookc.c`): where it is built, the name it reaches its server by.

An installed hook that starts Python pays the interpreter and the warm client's imports (about
20 ms here) before it can hand its call to the hooks' warm server. The C client hands over the same
request without them.
It is built by the hooks' server when it starts (`build`, off every call's path), with the C
compiler `$CC` or `cc`, into the user's cache; a hook script runs it only when it is there
(`files.script`), and it becomes the hook's Python command whenever its call cannot be handed over.
No compiler, a cache that cannot hold programs, a failed build: the hooks run as before.

Stdlib only and light: `hooks.files` imports this to write a hook's text.
"""

from __future__ import annotations

import contextlib
import os
import stat
import subprocess
import sys
from pathlib import Path

try:  # as in `keys`: hashlib's import of OpenSSL costs a few ms
    from _blake2 import blake2b
except ImportError:  # pragma: no cover (an interpreter built without it)
    from hashlib import blake2b

SOURCE = Path(__file__).with_name("hookc.c")
PROTOCOL = 1  # the request's "native" field: a server refuses a version it does not know
BUILD_SECONDS = 60.0


def link_id(python: str, boot: str) -> str:
    """The name (`hook-ID.sock`) under which the hooks' server of this interpreter and boot code
    is reached: an installed hook runs exactly `python -S -P -c boot`, and so does its server."""
    return blake2b(f"{python}\0{boot}".encode("utf-8", "surrogateescape"), digest_size=10).hexdigest()


def cache_dir() -> Path:
    """`$XDG_CACHE_HOME/gitcoord`, else `~/.cache/gitcoord`."""
    base = os.environ.get("XDG_CACHE_HOME")
    if base and os.path.isabs(base):
        return Path(base) / "gitcoord"
    return Path(os.path.expanduser("~")) / ".cache" / "gitcoord"


def binary() -> Path:
    """Where the client built from this gitcoord's source lives (its name follows the source)."""
    try:
        digest = blake2b(SOURCE.read_bytes(), digest_size=8).hexdigest()
    except OSError:
        digest = "missing"
    return cache_dir() / f"hookc-{digest}"


def trusted_binary() -> Path | None:
    """`binary()` when its directory is one only this user can write (made, 0700, if missing);
    else None: a program that someone else could put there is never named in a hook."""
    where = cache_dir()
    try:
        where.mkdir(mode=0o700, parents=True, exist_ok=True)
        ok = _ours_alone(where, parent=False) and _ours_alone(where.parent, parent=True)
    except OSError:
        return None
    return binary() if ok else None


def _ours_alone(path: Path, *, parent: bool) -> bool:
    """A directory (not a link) of this user that group and others cannot write; for the `parent`
    of the cache, root's will do, and so will a sticky one (`/tmp`: no one else can rename or
    remove what is ours in it)."""
    info = os.lstat(path)
    if not stat.S_ISDIR(info.st_mode) or info.st_uid not in ((os.getuid(), 0) if parent else (os.getuid(),)):
        return False
    return (parent and bool(info.st_mode & stat.S_ISVTX)) or info.st_mode & 0o022 == 0


def build() -> Path | None:
    """Build the client unless it is there; its path, or None (no compiler, no source, no room).

    Compiled to a temporary name, tried once, then renamed into place: a hook never finds half a
    program, and one that cannot run here (a cache on a `noexec` mount) is never put there."""
    target = trusted_binary()
    if target is None:
        return None
    if _runs(target):
        return target
    if not SOURCE.is_file():
        return None
    compiler = os.environ.get("CC") or "cc"
    tmp = target.with_name(f".{target.name}.{os.getpid()}.tmp")
    try:
        done = subprocess.run(
            [compiler, "-O2", "-o", str(tmp), str(SOURCE)],
            stdin=subprocess.DEVNULL,
            capture_output=True,
            timeout=BUILD_SECONDS,
            check=False,
        )
        if done.returncode != 0 or not _runs(tmp):
            return None
        os.replace(tmp, target)
        return target
    except (OSError, subprocess.SubprocessError):
        return None
    finally:
        with contextlib.suppress(OSError):
            tmp.unlink()


def _runs(path: Path) -> bool:
    """Does the program at `path` start here and answer its usage check?"""
    if not os.access(path, os.X_OK):
        return False
    try:
        done = subprocess.run([str(path)], capture_output=True, timeout=BUILD_SECONDS, check=False)
    except (OSError, subprocess.SubprocessError):
        return False
    return done.returncode == 2 and done.stderr.startswith(b"usage: hookc")


def main() -> None:
    """`python -m gitcoord.hooks.native`: build the client; print its path, or exit 1."""
    built = build()
    if built is None:
        sys.exit(1)
    print(built)


if __name__ == "__main__":
    main()
