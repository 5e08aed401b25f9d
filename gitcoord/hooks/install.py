"""`hooks install` and `hooks uninstall`: our scripts where git really runs hooks.

The directory is git's own answer (`git rev-parse --git-path hooks`): `core.hooksPath` when set,
else the common dir's `hooks/`, which every worktree shares. A hook that was there before is kept
as `HOOK.legacy`, run first by ours, and put back by uninstall. Our scripts carry a marker line,
so reinstalling replaces only our own files and never wraps a legacy hook twice.
"""

from __future__ import annotations

import os
import shlex
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from gitcoord.constants import STATE_DIR
from gitcoord.errors import InvalidInput, Refused
from gitcoord.git import run_plain
from gitcoord.hooks.lean import MODES

MARKER = "gitcoord-hook-v1"
CLIENT_HOOKS = ("pre-commit", "prepare-commit-msg", "pre-push")
SERVER_HOOKS = ("pre-receive",)
ALL_HOOKS = CLIENT_HOOKS + SERVER_HOOKS


@dataclass
class InstallReport:
    hooks_dir: Path
    mode: str | None
    installed: list[str] = field(default_factory=list)
    kept_legacy: list[str] = field(default_factory=list)
    removed: list[str] = field(default_factory=list)
    restored: list[str] = field(default_factory=list)

    def as_dict(self) -> dict[str, Any]:
        return {"hooks_dir": str(self.hooks_dir), "mode": self.mode or "config", "installed": self.installed,
                "kept_legacy": self.kept_legacy, "removed": self.removed, "restored": self.restored}


def hooks_dir(cwd: Path) -> Path:
    """The directory git runs hooks from for the repository at cwd."""
    args = ("rev-parse", "--path-format=absolute", "--git-path", "hooks")
    out = run_plain(cwd, *args).check(args).decode().strip()
    return Path(out)


def is_bare(cwd: Path) -> bool:
    args = ("rev-parse", "--is-bare-repository")
    return run_plain(cwd, *args).check(args).decode().strip() == "true"


def script(hook: str, mode: str | None, python: str | None = None) -> str:
    """The text of an installed hook: it runs the interpreter that installed it."""
    interpreter = shlex.quote(python or sys.executable)
    head = ("#!/bin/sh\n"
            f"# {MARKER}: installed by `gitcoord hooks install`; `gitcoord hooks uninstall` removes it\n"
            f"# and puts back {hook}.legacy (the hook that was here before), which runs first.\n")
    # -P: never import from the working directory (in a bare repository that is the git dir).
    run = f"exec {interpreter} -P -m gitcoord.hooks {hook} \"$0\" {shlex.quote(mode or '-')} \"$@\"\n"
    if hook == "prepare-commit-msg":
        return head + _PREPARE_FAST_PATH + run
    return head + run


# The trailers pre-commit computed for this very `git commit` (its pid is our $PPID) are
# applied without starting Python again: a commit then costs one interpreter, not two.
_PREPARE_FAST_PATH = f"""\
handoff="$(git rev-parse --git-dir 2>/dev/null)/{STATE_DIR}/trailers.$PPID"
if [ -f "$handoff" ] && [ -n "$1" ]; then
    if [ -x "$0.legacy" ]; then "$0.legacy" "$@" || exit $?; fi
    msg=$1
    set --
    while IFS= read -r option; do set -- "$@" "$option"; done < "$handoff"
    rm -f "$handoff"
    [ $# -eq 0 ] && exit 0
    exec git interpret-trailers --in-place "$@" "$msg"
fi
"""


def is_ours(path: Path) -> bool:
    try:
        return MARKER in path.read_text(encoding="utf-8", errors="replace")[:400]
    except OSError:
        return False


def install(cwd: Path, *, mode: str | None = None, server: bool = False) -> InstallReport:
    """Install the client hooks (or, with `server`, pre-receive in a bare repository)."""
    if mode is not None and mode not in MODES:
        raise InvalidInput(f"unknown mode {mode!r}.", hint=f"use one of {', '.join(MODES)}.")
    bare = is_bare(cwd)
    if server and not bare:
        raise InvalidInput("--server installs pre-receive in a bare repository, and this one is not bare.",
                           hint="run it in the shared remote (the repository agents push to).")
    if bare and not server:
        raise InvalidInput("this is a bare repository: nobody commits here.",
                           hint="use `gitcoord hooks install --server` for the pre-receive fence.")
    where = hooks_dir(cwd)
    where.mkdir(parents=True, exist_ok=True)
    report = InstallReport(where, mode)
    names = SERVER_HOOKS if server else CLIENT_HOOKS
    for name in names:
        _check_installable(where / name)
    for name in names:
        if _install_one(where / name, script(name, mode)):
            report.kept_legacy.append(name)
        report.installed.append(name)
    return report


def _check_installable(path: Path) -> None:
    legacy = path.with_name(path.name + ".legacy")
    if path.exists() and not is_ours(path) and legacy.exists():
        raise Refused(f"both {path} and {legacy} exist, and neither is gitcoord's.",
                      hint=f"merge them into {legacy} (it runs before gitcoord's hook), remove {path}, "
                           "and install again.")


def _install_one(path: Path, text: str) -> bool:
    """Write one hook; True when a foreign hook was moved aside to HOOK.legacy."""
    moved = False
    if path.exists() and not is_ours(path):
        path.rename(path.with_name(path.name + ".legacy"))
        moved = True
    tmp = path.with_name(f".{path.name}.gitcoord-tmp")
    tmp.write_text(text, encoding="utf-8")
    tmp.chmod(0o755)
    os.replace(tmp, path)
    return moved


def uninstall(cwd: Path) -> InstallReport:
    """Remove our hooks and put back the ones they replaced; foreign hooks stay untouched."""
    where = hooks_dir(cwd)
    report = InstallReport(where, None)
    for name in ALL_HOOKS:
        path = where / name
        if not is_ours(path):
            continue
        path.unlink()
        report.removed.append(name)
        legacy = path.with_name(name + ".legacy")
        if legacy.exists():
            legacy.rename(path)
            report.restored.append(name)
    return report
