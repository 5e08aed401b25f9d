"""The committed launcher `.coord/gitcoord`: tracked files run gitcoord without a machine path.

Minimal stand-in for the shared interface (see the team brief "launcher_iface"): helper "enforce"
owns the full version; this one keeps exactly its API so `hooks install` can depend on it.
Stdlib only: hooks import it.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

LAUNCHER = ".coord/gitcoord"
RECORD = "gitcoord-state/python"
MARKER = "gitcoord-launcher-v1"

_MISSING = ("gitcoord: not installed for this clone; install it and run `gitcoord start` here "
            "(see README, Team setup)")

SCRIPT = f"""#!/bin/sh
# {MARKER}: written by gitcoord (integrate, hooks install, start); commit it.
# Runs this clone's gitcoord: the Python recorded in $(git rev-parse --git-common-dir)/{RECORD}
# by `gitcoord start` or `gitcoord hooks install`, else `gitcoord` on PATH.
common=$(git rev-parse --git-common-dir 2>/dev/null)
py=
if [ -n "$common" ] && [ -f "$common/{RECORD}" ]; then
    IFS= read -r py < "$common/{RECORD}" || true
    [ -x "$py" ] || py=
fi
if [ -z "$py" ] && command -v gitcoord >/dev/null 2>&1; then
    IFS= read -r line < "$(command -v gitcoord)" || true
    case "$line" in
        '#!'*python*) py=${{line#'#!'}}; py=${{py%% *}}; [ -x "$py" ] || py= ;;
    esac
    if [ -z "$py" ] && [ "$1" != hook ]; then exec gitcoord "$@"; fi
fi
if [ -z "$py" ]; then
    echo '{_MISSING}' >&2
    exit 2
fi
if [ "$1" = hook ]; then
    shift
    exec "$py" -P -m gitcoord.hooks "$@"
fi
exec "$py" -P -m gitcoord "$@"
"""


def remember_interpreter(common_dir: Path) -> bool:
    """Record sys.executable as this clone's interpreter; True if the record was (re)written."""
    path = common_dir / RECORD
    wanted = sys.executable + "\n"
    try:
        if path.read_text(encoding="utf-8") == wanted:
            return False
    except OSError:
        pass
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".python.{os.getpid()}.tmp")
    tmp.write_text(wanted, encoding="utf-8")
    os.replace(tmp, path)
    return True


def ensure_launcher(top: Path) -> bool:
    """Write or refresh `.coord/gitcoord` in the work tree at top; True if written."""
    path = top / LAUNCHER
    try:
        if path.read_text(encoding="utf-8") == SCRIPT and os.access(path, os.X_OK):
            return False
    except OSError:
        pass
    parent = path.parent
    if parent.is_symlink() or path.is_symlink():
        resolved = path.resolve()
        if not resolved.is_relative_to(top.resolve()):
            from gitcoord.errors import Refused

            raise Refused(f"{LAUNCHER} leads outside the repository ({resolved}); not writing through it.",
                          hint=f"remove the symlink {LAUNCHER} and run the command again.")
    parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".gitcoord.{os.getpid()}.tmp")
    tmp.write_text(SCRIPT, encoding="utf-8")
    tmp.chmod(0o755)
    os.replace(tmp, path)
    return True
