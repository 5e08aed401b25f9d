"""`gitcoord doctor`'s checks of what enforces claims here: the git hooks and the editor guards.

`check_hooks` says whether git would run gitcoord's hooks in this clone (through whichever hook
manager owns the hooks directory) or, in a bare remote, its pre-receive fence; `check_editor_guards`
runs each editor guard command the settings hold once on a probe call, as the editor would.
gitcoord.doctor runs them among its other checks; a finding is made by `finding` here.
"""

from __future__ import annotations

import json
import os
import shlex
import subprocess
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Literal

from gitcoord.constants import GUARD_PROBE_ENV

if TYPE_CHECKING:
    from gitcoord.coordinator import Coordinator
    from gitcoord.hooks.editors import Editor

Level = Literal["ok", "warning", "problem"]


def finding(check: str, level: Level, message: str, fix: str = "") -> dict[str, str]:
    """One line of the doctor's report; `fix` says what to run or change when it is not ok."""
    return {"check": check, "level": level, "message": message, "fix": fix}


def check_hooks(coord: Coordinator) -> dict[str, str]:
    """Would git run gitcoord's hooks here (the clone's, or a bare remote's pre-receive fence)?"""
    mode = coord.config.hooks.mode
    if mode == "off" and coord.top is not None:
        return finding(
            "hooks",
            "warning",
            "hooks.mode is off: commits are not checked against claims.",
            'set hooks.mode = "others" in .coord/config.toml.',
        )
    from gitcoord.hooks.install import SERVER_HOOKS, hooks_dir

    if coord.top is None:
        # The shared remote: its pre-receive fence catches pushes made with --no-verify.
        where = hooks_dir(coord.common_dir)
        faults = _hook_faults(where, SERVER_HOOKS)
        if faults:
            return finding(
                "hooks",
                "warning",
                f"bare repository: {'; '.join(faults)}, so a push made with --no-verify is not checked here.",
                "run `gitcoord hooks install --server` in this repository.",
            )
        return finding("hooks", "ok", f"bare repository: pre-receive fence installed in {where}.")
    return _client_hooks(coord.top, hooks_dir(coord.top), mode)


MANAGER_NAMES = {"pre-commit": "the pre-commit framework"}


def _runs(guarded: list[str], missing: list[str]) -> str:
    if guarded:
        return f"git runs gitcoord's {', '.join(guarded)} hook(s) but not {', '.join(missing)}"
    return f"git runs none of gitcoord's hooks ({', '.join(missing)})"


def _client_hooks(top: Path, where: Path, mode: str) -> dict[str, str]:
    """Names the hook manager and whether git would run gitcoord's hooks inside it here."""
    from gitcoord.hooks.install import CLIENT_HOOKS, FRAMEWORK_IDS, is_ours, state

    found = state(top, where)
    named = MANAGER_NAMES.get(found.manager, found.manager)
    manager = {"none": "", "tracked": " (a hooks directory in the work tree)"}.get(
        found.manager, f" (hook manager: {named})"
    )
    ours = [n for n in CLIENT_HOOKS if is_ours(where / n)]
    faults = _hook_faults(where, ours) if ours else []
    missing = [n for n in found.unguarded if n not in ours]
    if missing and found.manager == "pre-commit":
        return finding(
            "hooks",
            "problem",
            f"this clone is unguarded: {_runs(found.guarded, missing)} from {where}{manager}.",
            "add "
            + ", ".join(FRAMEWORK_IDS[n] for n in missing)
            + " to .pre-commit-config.yaml (`gitcoord hooks install` prints the lines), then "
            "`pre-commit install " + " ".join(f"-t {n}" for n in missing) + "`.",
        )
    if missing:
        faults.insert(0, f"this clone is unguarded: {_runs(found.guarded, missing)}")
    if faults:
        return finding(
            "hooks",
            "problem",
            f"{'; '.join(faults)} (in {where}{manager}): commits touching others' claims are not refused.",
            "run `gitcoord hooks install`.",
        )
    inside = f" inside {named}" if found.manager not in ("none", "tracked") else ""
    client = _native_client(where / "pre-commit")
    return finding(
        "hooks", "ok", f"gitcoord's hooks run{inside} from {where}{manager} (mode {mode}){client}."
    )


def _native_client(hook: Path) -> str:
    """What the hooks' C client (DESIGN §9) does for this pre-commit: said only when it runs one."""
    from gitcoord.hooks import native
    from gitcoord.rundir import runtime_dir

    name = native.name()
    try:
        if name not in hook.read_text(encoding="utf-8", errors="replace"):
            return ""
    except OSError:
        return ""
    path = os.path.join(runtime_dir(), name)
    if os.access(path, os.X_OK):
        return f"; commits hand them to the hooks' warm server through the C client {path}"
    if not _has_compiler():
        return (
            "; no C compiler (`$CC` or `cc`) here, so the hooks' warm server cannot build the hooks'"
            " C client and each served hook starts Python first"
        )
    return (
        "; the hooks' C client is not built yet, so each served hook starts Python first: the hooks' "
        "warm server builds it when it starts, with the C compiler `$CC` or `cc`"
    )


def _has_compiler() -> bool:
    """Is there a program for the C compiler the hooks' server runs (`native.build`)?"""
    import shutil

    from gitcoord.hooks.native import compiler_command

    words = compiler_command()
    return bool(words) and shutil.which(words[0]) is not None


def _hook_faults(where: Path, names: Sequence[str]) -> list[str]:
    """Why git would not run gitcoord's hook of each name: absent, not executable, or its Python gone."""
    from gitcoord.hooks.install import is_ours

    missing = [name for name in names if not is_ours(where / name)]
    faults = [f"gitcoord's {', '.join(missing)} hook is not installed"] if missing else []
    for name in (n for n in names if n not in missing):
        path = where / name
        if not os.access(path, os.X_OK):
            faults.append(f"the {name} hook is not executable, so git skips it")
        python = _hook_interpreter(path)
        if python and not os.access(python, os.X_OK):
            faults.append(f"the {name} hook runs {python}, which no longer exists")
    return faults


def _hook_interpreter(path: Path) -> str:
    """The Python an installed hook execs (its `exec PYTHON -S -P -c BOOT` line, whose BOOT runs
    `warm.client.hook_entry`, or `gitcoord.hooks` in a hook an earlier gitcoord wrote)."""
    try:
        lines = path.read_text(encoding="utf-8", errors="replace").splitlines()
        line = next(
            x for x in lines if x.startswith("exec ") and ("gitcoord.hooks" in x or "hook_entry" in x)
        )
        return shlex.split(line)[1]
    except (OSError, StopIteration, ValueError, IndexError):
        return ""


PROBE_TIMEOUT_SECONDS = 60
PROBE_PATH = ".gitcoord-doctor-probe"  # never written: the guard only reads the claims


def check_editor_guards(coord: Coordinator) -> list[dict[str, str]]:
    """Run each editor guard command the settings hold once, as the editor would; does it answer?"""
    if coord.top is None:
        return []
    from gitcoord.hooks.editors import configured_guards

    found = configured_guards(coord.top)
    if not found:
        return [
            finding(
                "editor-guard",
                "ok",
                "not configured: no .claude/settings.json or .codex/hooks.json "
                "runs gitcoord's guard (`gitcoord integrate claude|codex` adds it).",
            )
        ]
    return [
        _probe_guard(coord.top, editor, command) for editor, commands in found.items() for command in commands
    ]


def _probe_payload(top: Path) -> str:
    """A harmless PreToolUse call, shaped as the editors send it: an Edit nobody will make."""
    return json.dumps(
        {
            "session_id": "gitcoord-doctor",
            "transcript_path": "",
            "cwd": str(top),
            "permission_mode": "default",
            "hook_event_name": "PreToolUse",
            "tool_name": "Edit",
            "tool_input": {"file_path": str(top / PROBE_PATH), "old_string": "", "new_string": ""},
            "tool_use_id": "gitcoord-doctor-probe",
        }
    )


def _probe_guard(top: Path, editor: Editor, command: str) -> dict[str, str]:
    from gitcoord.hooks.editors import SETTINGS, guard_command
    from gitcoord.launcher import NOT_INSTALLED

    where = f"{editor} ({SETTINGS[editor]})"
    upgrade = f"run `gitcoord integrate {editor}` and commit the result: its command works on every machine."
    env = dict(os.environ, CLAUDE_PROJECT_DIR=str(top)) if editor == "claude" else dict(os.environ)
    env[GUARD_PROBE_ENV] = "1"  # in auto mode the probe must not claim (or be denied for) its path
    try:
        res = subprocess.run(
            ["sh", "-c", command],
            cwd=top,
            env=env,
            input=_probe_payload(top),
            capture_output=True,
            text=True,
            timeout=PROBE_TIMEOUT_SECONDS,
        )
    except subprocess.TimeoutExpired:
        return finding(
            "editor-guard",
            "problem",
            f"{where}: the guard did not answer a probe call within {PROBE_TIMEOUT_SECONDS}s: {command}",
            "run `gitcoord doctor` again; if it persists, run the command by hand with a tool call on stdin.",
        )
    said = next((line for line in reversed(res.stderr.splitlines()) if line.strip()), "")
    if res.returncode != 0:
        fix = (
            "install gitcoord for this clone and run `gitcoord start` here (it records the interpreter "
            "`.coord/gitcoord` runs)."
            if NOT_INSTALLED in res.stderr
            else upgrade
            if command != guard_command(editor)
            else "run the command by hand to see the whole error."
        )
        return finding(
            "editor-guard",
            "problem",
            f"{where}: the guard command failed with exit {res.returncode}: {said or '(nothing on stderr)'}",
            fix,
        )
    try:
        answer = json.loads(res.stdout) if res.stdout.strip() else {}
        decision = answer["hookSpecificOutput"]["permissionDecision"] if answer else "allow"
    except (ValueError, KeyError, TypeError):
        return finding(
            "editor-guard",
            "problem",
            f"{where}: the guard answered something that is not a hook "
            f"decision: {res.stdout.strip()[:200]!r}",
            "run the command by hand to see why.",
        )
    if said:
        return finding(
            "editor-guard",
            "warning",
            f"{where}: the guard answers ({decision}), but said: {said}",
            "run `gitcoord doctor` again once the cause is fixed.",
        )
    if command != guard_command(editor):
        return finding(
            "editor-guard",
            "warning",
            f"{where}: the guard answers here, but its command is not "
            "this release's (an older one fails where gitcoord is not on the editor's PATH).",
            upgrade,
        )
    return finding("editor-guard", "ok", f"{where}: the guard answers a probe call ({decision}).")
