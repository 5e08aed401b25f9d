"""The committed launcher `.coord/gitcoord`: how tracked files run this clone's gitcoord.

Editor settings (`.claude/settings.json`, `.codex/hooks.json`) and tracked git hooks are
shared by the whole team, so they cannot name one machine's virtualenv. They run the small
POSIX sh script committed at `.coord/gitcoord` instead, which finds gitcoord for the clone it
runs in:

1. the interpreter recorded for this clone by `gitcoord start` / `integrate` / `hooks
   install`, one absolute path in `$(git rev-parse --git-common-dir)/gitcoord-state/python`;
2. else `gitcoord` on PATH (its interpreter from its shebang when that is a plain Python
   path, else the console script itself);
3. else one line on stderr and exit 2, which Claude Code and Codex show as a block and git
   treats as a refused commit: enforcement never turns off silently.

`.coord/gitcoord hook NAME ARGS...` runs the git hook NAME (`python -P -m gitcoord.hooks`);
any other arguments run the CLI (`python -P -m gitcoord`). Stdlib only: hooks import this.
Example::

    remember_interpreter(common_dir)       # True when the record changed
    ensure_launcher(top)                   # True when the script was (re)written
    launcher_command("guard", "--format", "codex")
"""

from __future__ import annotations

import os
import re
import sys
import tempfile
from pathlib import Path

from gitcoord.constants import STATE_DIR
from gitcoord.errors import Refused

LAUNCHER = ".coord/gitcoord"
VERSION = 1
MARKER = f"gitcoord-launcher-v{VERSION}"
RECORD = f"{STATE_DIR}/python"  # under the common git dir: one per clone, shared by its worktrees
NOT_INSTALLED = (
    "gitcoord: not installed for this clone; install it and run `gitcoord start` here "
    "(see README, Team setup)"
)
# The launcher as a shell word, found from the current directory (git hooks, Codex).
FROM_TOPLEVEL = f'"$(git rev-parse --show-toplevel)/{LAUNCHER}"'
_VERSION_LINE = re.compile(r"gitcoord-launcher-v(\d+)")

SCRIPT = f"""\
#!/bin/sh
# {MARKER}: commit this file. Editor settings and tracked git hooks run gitcoord through it,
# so they hold no machine's path. Written by `gitcoord integrate` and `gitcoord hooks install`,
# refreshed by `gitcoord start`; do not edit it (gitcoord rewrites it).
# It runs the Python recorded for this clone by `gitcoord start`
# ($(git rev-parse --git-common-dir)/{RECORD}), else the gitcoord on PATH, else exits 2.
#   .coord/gitcoord hook NAME ARGS...   the git hook NAME
#   .coord/gitcoord ARGS...             the gitcoord command line
missing() {{
    echo '{NOT_INSTALLED}' >&2
    exit 2
}}
common=$(git rev-parse --path-format=absolute --git-common-dir 2>/dev/null) ||
    common=$(unset GIT_DIR GIT_WORK_TREE GIT_COMMON_DIR GIT_INDEX_FILE
             cd "$(dirname "$0")" && git rev-parse --path-format=absolute --git-common-dir 2>/dev/null) ||
    common=
py=
if [ -n "$common" ] && [ -f "$common/{RECORD}" ]; then
    IFS= read -r py < "$common/{RECORD}" || [ -n "$py" ]
    [ -x "$py" ] || py=
fi
if [ -z "$py" ]; then
    bin=$(command -v gitcoord 2>/dev/null) || missing
    IFS= read -r shebang < "$bin" || [ -n "$shebang" ]
    case $shebang in
        '#!/'*) py=${{shebang#??}} ;;
    esac
    case $py in
        *[[:space:]]*) py= ;;
    esac
    case ${{py##*/}} in
        python*) [ -x "$py" ] || py= ;;
        *) py= ;;
    esac
    if [ -z "$py" ]; then
        if [ "$1" = hook ]; then
            shift
            exec "$bin" hook-run "$@"
        fi
        exec "$bin" "$@"
    fi
fi
if [ "$1" = hook ]; then
    shift
    exec "$py" -P -m gitcoord.hooks "$@"
fi
exec "$py" -P -m gitcoord "$@"
"""


def launcher_script() -> str:
    """The text of `.coord/gitcoord`."""
    return SCRIPT


def launcher_command(*args: str, launcher: str = FROM_TOPLEVEL) -> str:
    """A shell command line running the launcher with `args` (already shell words)."""
    return " ".join((launcher, *args))


def record_path(common_dir: Path) -> Path:
    return common_dir / RECORD


def recorded_interpreter(common_dir: Path) -> str | None:
    """The interpreter recorded for this clone, if any (it may no longer exist)."""
    try:
        text = record_path(common_dir).read_text(encoding="utf-8").strip()
    except (OSError, UnicodeDecodeError):
        return None
    return text or None


def remember_interpreter(common_dir: Path) -> bool:
    """Record this process's Python as the clone's gitcoord; True if the record changed."""
    python = sys.executable
    if not python or not os.path.isabs(python) or "\n" in python:
        return False
    if recorded_interpreter(common_dir) == python:
        return False
    path = record_path(common_dir)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=".python.", dir=path.parent)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as fh:
            fh.write(python + "\n")
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return True


def installed_version(path: Path) -> int | None:
    """The launcher version of the file at `path`; None when absent, -1 when not gitcoord's."""
    try:
        head = path.read_text(encoding="utf-8", errors="replace")[:400]
    except FileNotFoundError:
        return None
    found = _VERSION_LINE.search(head)
    return int(found.group(1)) if found else -1


def ensure_launcher(top: Path, *, create: bool = True) -> bool:
    """Write `.coord/gitcoord` under the work tree `top` when absent (unless not `create`) or older
    than this gitcoord's; True if written. Never through a link leaving the repository (exit 2);
    a file there that is not gitcoord's is left alone (exit 3). A newer launcher is kept."""
    from gitcoord.safepath import check_inside, write_inside

    path = top / LAUNCHER
    check_inside(top, path)
    version = installed_version(path)
    if version == -1:
        raise Refused(
            f"{LAUNCHER} is not gitcoord's launcher (it has no gitcoord-launcher-vN line); "
            "gitcoord leaves it alone.",
            hint="move it away, then run the command again.",
        )
    if version is None and not create:
        return False
    if version is not None and (
        version > VERSION or (version == VERSION and path.read_text(encoding="utf-8") == SCRIPT)
    ):
        if os.access(path, os.X_OK):
            return False
        path.chmod(0o755)  # a checkout that lost the mode (core.fileMode = false)
        return True
    write_inside(top, path, SCRIPT, mode=0o755)
    return True


def prepare_clone(common_dir: Path, top: Path | None) -> list[str]:
    """What `gitcoord start` does for the committed launcher: record this interpreter, refresh
    a launcher that is there but outdated. Never fails the start: problems come back as notes."""
    notes = []
    try:
        if remember_interpreter(common_dir):
            notes.append(f"recorded {sys.executable} as this clone's gitcoord.")
    except OSError as exc:
        notes.append(f"could not record this clone's interpreter: {exc}")
    if top is not None:
        from gitcoord.errors import GitcoordError

        try:
            if ensure_launcher(top, create=False):
                notes.append(f"refreshed {LAUNCHER}: commit it.")
        except (GitcoordError, OSError) as exc:
            notes.append(f"could not refresh {LAUNCHER}: {exc}")
    return notes
