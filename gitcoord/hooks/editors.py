"""Merge the guard into an editor's project settings (for `gitcoord integrate claude|codex`).

Claude Code reads `.claude/settings.json`, Codex `.codex/hooks.json`; both take
`{"hooks": {"PreToolUse": [{"matcher": ..., "hooks": [{"type": "command", "command": ...}]}]}}`.
Every other setting, and every other hook, is kept; installing twice changes nothing, and the
bare `gitcoord guard` of older releases is replaced.

The files are committed, so the command holds no machine's path: it runs the committed
launcher `.coord/gitcoord` (see `gitcoord.launcher`), found through `$CLAUDE_PROJECT_DIR`
(Claude Code sets it for hook commands) or `git rev-parse --show-toplevel` from the hook's
working directory (Codex runs hooks in the session's directory). Both editors block a call
when a PreToolUse hook exits 2 and show its stderr; `|| exit 2` turns every other failure
(a launcher missing from a sparse checkout exits 127, which both would take as "allow") into
that block.
"""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any, Literal

from gitcoord.errors import InvalidInput
from gitcoord.launcher import FROM_TOPLEVEL, LAUNCHER, launcher_command
from gitcoord.safepath import check_inside, write_inside

Editor = Literal["claude", "codex"]
EDITORS: tuple[Editor, ...] = ("claude", "codex")
SETTINGS: dict[str, str] = {"claude": ".claude/settings.json", "codex": ".codex/hooks.json"}
MATCHERS: dict[str, str] = {"claude": "Edit|Write|MultiEdit|NotebookEdit", "codex": "apply_patch|Edit|Write"}
GUARD_TIMEOUT_SECONDS = 10


# Where each editor's hook finds the work tree. CLAUDE_PROJECT_DIR has been seen unset in some
# Claude Code releases: then the top is asked of git, as for Codex.
_LAUNCHERS: dict[str, str] = {
    "claude": f'"${{CLAUDE_PROJECT_DIR:-$(git rev-parse --show-toplevel)}}/{LAUNCHER}"',
    "codex": FROM_TOPLEVEL,
}
_OURS = re.compile(r"(?:^gitcoord|/\.coord/gitcoord\"?) guard --format (claude|codex)\b")


def guard_command(editor: Editor) -> str:
    """The committed hook command for `editor` (no machine path in it)."""
    return launcher_command("guard", "--format", editor, "|| exit 2", launcher=_LAUNCHERS[editor])


def _is_guard(hook: Any) -> bool:
    """Our hook, as written by this release or by an older one (the bare `gitcoord guard`)."""
    return isinstance(hook, dict) and bool(_OURS.search(str(hook.get("command", ""))))


def configured_guards(top: Path) -> dict[Editor, list[str]]:
    """The guard commands found in each editor's settings under `top` (for doctor's probe)."""
    found: dict[Editor, list[str]] = {}
    for editor in EDITORS:
        try:
            settings = _load(top / SETTINGS[editor])
        except InvalidInput:
            continue
        hooks = settings.get("hooks")
        groups = hooks.get("PreToolUse", []) if isinstance(hooks, dict) else []
        commands = [
            str(h["command"])
            for g in groups
            if isinstance(g, dict) and isinstance(g.get("hooks"), list)
            for h in g["hooks"]
            if _is_guard(h)
        ]
        if commands:
            found[editor] = commands
    return found


def install_guard(top: Path, editor: Editor, *, remove: bool = False) -> Path:
    """Add (or with `remove`, take out) the guard hook in the editor's settings file; its path.

    >>> install_guard(Path("."), "claude")  # doctest: +SKIP
    PosixPath('.claude/settings.json')
    """
    if editor not in SETTINGS:
        raise InvalidInput(f"unknown editor {editor!r}.", hint="use claude or codex.")
    path = top / SETTINGS[editor]
    check_inside(top, path)
    settings = _load(path)
    hooks = settings.setdefault("hooks", {})
    if not isinstance(hooks, dict):
        raise InvalidInput(f'{path}: "hooks" is not an object; fix it by hand first.')
    groups = [g for g in hooks.get("PreToolUse", []) if isinstance(g, dict)]
    others = [g for g in hooks.get("PreToolUse", []) if not isinstance(g, dict)]
    # Drop our hook wherever it is, then add it back once: idempotent, and it repairs edits.
    for group in groups:
        group["hooks"] = [h for h in group.get("hooks", []) if not _is_guard(h)]
    groups = [g for g in groups if g.get("hooks")]
    if not remove:
        groups.append(
            {
                "matcher": MATCHERS[editor],
                "hooks": [
                    {"type": "command", "command": guard_command(editor), "timeout": GUARD_TIMEOUT_SECONDS}
                ],
            }
        )
    if groups or others:
        hooks["PreToolUse"] = others + groups
    else:
        hooks.pop("PreToolUse", None)
    if not hooks:
        settings.pop("hooks")
    _save(top, path, settings)
    return path


def _load(path: Path) -> dict[str, Any]:
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        return {}
    except (ValueError, UnicodeDecodeError) as exc:
        raise InvalidInput(
            f"{path} is not valid JSON: {exc}", hint="fix or remove it, then try again."
        ) from exc
    if not isinstance(data, dict):
        raise InvalidInput(f"{path} does not hold a JSON object.")
    return data


def _save(top: Path, path: Path, data: dict[str, Any]) -> None:
    write_inside(top, path, json.dumps(data, indent=2, ensure_ascii=False) + "\n")
