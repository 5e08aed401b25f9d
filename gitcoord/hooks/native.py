"""The hook client in C (`hookc.c`): where it is built, the name it reaches its server by.

An installed hook that starts Python pays the interpreter and the warm client's imports (about
20 ms here) before it can hand its call to the hooks' warm server. The C client hands over the same
request without them.
It is built by the hooks' server when it starts (`build`, off every call's path), with the C
compiler `$CC` or `cc`, into the warm path's runtime directory; a hook script runs it only when it
is there (`script_lines`), and it becomes the hook's Python command whenever its call cannot be
handed over. No compiler, a runtime directory where programs cannot run, a failed build: the
hooks run as before.

Stdlib only and light: `hooks.files` imports this to write a hook's text.
"""

from __future__ import annotations

import contextlib
import os
import shlex
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


def name() -> str:
    """The client's file name: it follows the source, so an upgrade builds a new one beside it."""
    try:
        digest = blake2b(SOURCE.read_bytes(), digest_size=8).hexdigest()
    except OSError:
        digest = "missing"
    return f"hookc-{digest}"


def build(directory: str) -> Path | None:
    """Build the client in `directory` (the warm path's runtime directory, which the hooks' server
    has checked is this user's alone) unless it is there; its path, or None (no compiler, no
    source, a directory where programs cannot run).

    The runtime directory is this machine's: a home shared with a machine of another architecture
    or C library never hands one the other's build. Compiled to a temporary name, tried once, then
    renamed into place: a hook never finds half a program, nor one that cannot start here."""
    target = Path(directory) / name()
    if _runs(target):
        return target
    if not SOURCE.is_file():
        return None
    compiler = compiler_command()
    if not compiler:
        return None
    tmp = target.with_name(f".{target.name}.{os.getpid()}.tmp")
    try:
        # Static when the C library allows: toolbox and distrobox share the runtime directory with
        # the host under another C library, and a program that needs no loader runs in all of them
        # (so none of them builds its own over another's). Dynamic where there is no static libc.
        for static in (["-static"], []):
            done = subprocess.run(
                [*compiler, "-O2", *static, "-o", str(tmp), str(SOURCE)],
                stdin=subprocess.DEVNULL,
                capture_output=True,
                timeout=BUILD_SECONDS,
                check=False,
            )
            if done.returncode == 0 and _runs(tmp):
                os.replace(tmp, target)
                return target
        return None
    except (OSError, subprocess.SubprocessError):
        return None
    finally:
        with contextlib.suppress(OSError):
            tmp.unlink()


def compiler_command() -> list[str]:
    """`$CC` (a command line, as `make` reads it), else `cc`; empty when it does not parse (an
    unbalanced quote)."""
    try:
        return shlex.split(os.environ.get("CC") or "cc")
    except ValueError:
        return []


def script_lines(link: str, command: str) -> str:
    """The lines of an installed hook that run the client: only from this user's runtime directory
    (`rundir.runtime_dir`, worked out by the shell from the caller's XDG_RUNTIME_DIR; `-O`: a
    /tmp/gitcoord-UID someone else made first is passed by, and so is a client someone else put
    there), and only while the link of the server
    that built and tried it is there (sh cannot come back from an `exec` that fails, so no program
    the server has not tried is ever exec'd). Never with GITCOORD_WARM=0. `${VAR-}`: a `set -u`
    that bash took from an exported SHELLOPTS must not stop the hook at an unset variable."""
    client = f"$c/{name()}"
    return (
        "case ${XDG_RUNTIME_DIR-} in /*) c=$XDG_RUNTIME_DIR/gitcoord ;; "
        f"*) c=/tmp/gitcoord-{os.getuid()} ;; esac\n"
        f'[ "${{GITCOORD_WARM-}}" != 0 ] && [ -O "$c" ] && [ -S "$c/hook-{link}.sock" ] && [ -O "{client}" ] '
        f'&& [ -x "{client}" ] && exec "{client}" {link} -- {command}\n'
    )


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
    """`python -m gitcoord.hooks.native DIR`: build the client in DIR; print its path, or exit 1."""
    built = build(sys.argv[1]) if len(sys.argv) == 2 else None
    if built is None:
        sys.exit(1)
    print(built)


if __name__ == "__main__":
    main()
