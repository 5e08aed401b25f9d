"""The files gitcoord puts where git runs hooks: their text, their marker, how they are written.

Every file gitcoord writes into a hooks directory or a team's hook config carries a marker
(`MARKER` in a whole file, `BLOCK` around lines added to a team's file), so install replaces
only its own files and uninstall removes exactly them. Writes replace a file in one step and
never follow a symbolic link.
"""

from __future__ import annotations

import os
import shlex
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from gitcoord.constants import HANDOFF_HEADER, STATE_DIR
from gitcoord.errors import Refused
from gitcoord.hooks import native

MARKER = "gitcoord-hook-v1"
BLOCK = "gitcoord-block-v1"
CLIENT_HOOKS = ("pre-commit", "prepare-commit-msg", "pre-push")
SERVER_HOOKS = ("pre-receive",)
# Not enforcement: post-merge releases the until-merged claims a local merge landed (gitcoord.merged).
MERGE_HOOKS = ("post-merge",)
ALL_HOOKS = CLIENT_HOOKS + MERGE_HOOKS + SERVER_HOOKS
LAUNCHER = ".coord/gitcoord"  # gitcoord.launcher.LAUNCHER, repeated to keep this import light


@dataclass
class InstallReport:
    hooks_dir: Path
    mode: str | None
    manager: str = "none"
    installed: list[str] = field(default_factory=list)
    kept_legacy: list[str] = field(default_factory=list)
    removed: list[str] = field(default_factory=list)
    restored: list[str] = field(default_factory=list)
    files: list[str] = field(default_factory=list)  # tracked files written or edited: commit them
    notes: list[str] = field(default_factory=list)

    def as_dict(self) -> dict[str, Any]:
        return {
            "hooks_dir": str(self.hooks_dir),
            "mode": self.mode or "config",
            "manager": self.manager,
            "installed": self.installed,
            "kept_legacy": self.kept_legacy,
            "removed": self.removed,
            "restored": self.restored,
            "files": self.files,
            "notes": self.notes,
        }


def script(hook: str, mode: str | None, python: str | None = None, *, launcher: bool = False) -> str:
    """The text of an installed hook: it runs the interpreter that installed it (or the launcher)."""
    head = (
        "#!/bin/sh\n"
        f"# {MARKER}: installed by `gitcoord hooks install`; `gitcoord hooks uninstall` removes it\n"
        f"# and puts back {hook}.legacy (the hook that was here before), which runs first.\n"
    )
    if launcher:
        # A hooks directory in the work tree is committed: no path of this machine in it.
        run = f'exec {LAUNCHER} hook {hook} "$0" {shlex.quote(mode or "-")} "$@"\n'
    else:
        interpreter = shlex.quote(python or sys.executable)
        # -P: never import from the working directory (in a bare repository that is the git dir).
        # -S: no `site` (the venv's editable finder alone costs ~20 ms per commit); the hook
        # modules are stdlib-only, so the directory holding this gitcoord is all they need.
        boot = boot_code()
        command = f'{interpreter} -S -P -c {shlex.quote(boot)} {hook} "$0" {shlex.quote(mode or "-")} "$@"'
        # The C client (`hooks.native`) when the hooks' server has built it: the same call without
        # starting Python, and this very command when it cannot hand the call over.
        link = native.link_id(python or sys.executable, boot)
        run = native.script_lines(link, command) + f"exec {command}\n"
    if hook == "prepare-commit-msg":
        return head + _PREPARE_FAST_PATH + run
    return head + run


def boot_code() -> str:
    """The `python -S -c` program of an installed hook, one line: this gitcoord's directory first
    on the path (if gitcoord is no longer there, reinstalled elsewhere, `site` finds it as before),
    then the warm client, which runs the hook in a child of the hooks' warm server or in-process."""
    root = str(Path(__file__).resolve().parents[2])
    return (
        f"import os, sys; r = {root!r}; "
        "sys.path.insert(0, r) if os.path.isdir(os.path.join(r, 'gitcoord', 'hooks')) "
        "else __import__('site').main(); "
        "from gitcoord.warm.client import hook_entry; hook_entry()"
    )


# The trailers pre-commit computed for this very `git commit` (its pid is our $PPID) are
# applied without starting Python again: a commit then costs one interpreter, not two. Git hands
# prepare-commit-msg the message file in the work tree's git directory, where pre-commit left
# them (`precommit.handoff_path`); anywhere else, the hook in Python finds them. A hand-off used
# is emptied by the shell itself (no `rm` process), so a later commit with the same pid never
# takes it for its own; pre-commit removes the old ones.
_PREPARE_FAST_PATH = f"""\
handoff="${{1%/*}}/{STATE_DIR}/trailers.$PPID"
if [ -n "$1" ] && [ -s "$handoff" ] && read -r head < "$handoff" && [ "$head" = {HANDOFF_HEADER} ]; then
    if [ -x "$0.legacy" ]; then "$0.legacy" "$@" || exit $?; fi
    msg=$1
    set --
    {{ read -r head; while IFS= read -r option; do set -- "$@" "$option"; done; }} < "$handoff"
    : >| "$handoff"
    [ $# -eq 0 ] && exit 0
    exec git interpret-trailers --in-place "$@" "$msg"
fi
"""


def stale_script(path: Path, hook: str) -> str | None:
    """What to write in place of gitcoord's own `hook` at `path` when an earlier gitcoord wrote it
    (its interpreter and mode kept, today's boot code); None when it is today's text, the
    launcher's, or not such a file. `start` refreshes them (`install.ensure_clone_hooks`)."""
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError):
        return None
    if MARKER not in text:
        return None
    for line in text.splitlines():
        if not line.startswith("exec ") or '"$0"' not in line:
            continue
        try:  # exec PYTHON [flags] ... HOOK "$0" MODE "$@"
            words = shlex.split(line)
        except ValueError:
            return None
        at = words.index("$0")
        if words[-1] != "$@" or words[at - 1] != hook or at + 2 != len(words) - 1 or words[1] == LAUNCHER:
            return None
        mode = words[at + 1]
        fresh = script(hook, None if mode == "-" else mode, words[1])
        return None if fresh == text else fresh
    return None


def head(path: Path, size: int = 400) -> str:
    try:
        with path.open("rb") as fh:
            return fh.read(size).decode("utf-8", errors="replace")
    except OSError:
        return ""


def is_ours(path: Path) -> bool:
    return MARKER in head(path)


def runnable(path: Path) -> bool:
    return path.is_file() and os.access(path, os.X_OK)


def ours_runnable(path: Path) -> bool:
    return is_ours(path) and runnable(path)


def in_work_tree(top: Path, where: Path) -> bool:
    """A hooks directory in the work tree (a tracked `.githooks`), not under the git dir."""
    return where.is_relative_to(top) and ".git" not in where.relative_to(top).parts


def write_file(path: Path, text: str, mode: int | None = None) -> None:
    if path.is_symlink():
        raise Refused(
            f"{path} is a symbolic link; gitcoord does not write through it.",
            hint="replace it with a regular file and install again.",
        )
    tmp = path.with_name(f".{path.name}.gitcoord-tmp")
    tmp.write_text(text, encoding="utf-8")
    if mode is not None:
        tmp.chmod(mode)
    elif path.exists():
        tmp.chmod(path.stat().st_mode & 0o7777)
    os.replace(tmp, path)
