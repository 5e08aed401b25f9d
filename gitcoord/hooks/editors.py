"""Merge the guard into an editor's project settings (for `gitcoord integrate claude|codex`).

Claude Code reads `.claude/settings.json`, Codex `.codex/hooks.json`; both take
`{"hooks": {"PreToolUse": [{"matcher": ..., "hooks": [{"type": "command", "command": ...}]}]}}`.
Every other setting, and every other hook, is kept; installing twice changes nothing.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any, Literal

from gitcoord.errors import InvalidInput

Editor = Literal["claude", "codex"]
SETTINGS: dict[str, str] = {"claude": ".claude/settings.json", "codex": ".codex/hooks.json"}
MATCHERS: dict[str, str] = {"claude": "Edit|Write|MultiEdit|NotebookEdit", "codex": "apply_patch|Edit|Write"}
GUARD_TIMEOUT_SECONDS = 10


def guard_command(editor: Editor) -> str:
    return f"gitcoord guard --format {editor}"


def _is_guard(hook: Any) -> bool:
    return isinstance(hook, dict) and str(hook.get("command", "")).startswith("gitcoord guard --format ")


def install_guard(top: Path, editor: Editor, *, remove: bool = False) -> Path:
    """Add (or with `remove`, take out) the guard hook in the editor's settings file; its path.

    >>> install_guard(Path("."), "claude")  # doctest: +SKIP
    PosixPath('.claude/settings.json')
    """
    if editor not in SETTINGS:
        raise InvalidInput(f"unknown editor {editor!r}.", hint="use claude or codex.")
    path = top / SETTINGS[editor]
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
        groups.append({"matcher": MATCHERS[editor], "hooks": [
            {"type": "command", "command": guard_command(editor), "timeout": GUARD_TIMEOUT_SECONDS}]})
    if groups or others:
        hooks["PreToolUse"] = others + groups
    else:
        hooks.pop("PreToolUse", None)
    if not hooks:
        settings.pop("hooks")
    _save(path, settings)
    return path


def _load(path: Path) -> dict[str, Any]:
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        return {}
    except (ValueError, UnicodeDecodeError) as exc:
        raise InvalidInput(f"{path} is not valid JSON: {exc}", hint="fix or remove it, then try again.") from exc
    if not isinstance(data, dict):
        raise InvalidInput(f"{path} does not hold a JSON object.")
    return data


def _save(path: Path, data: dict[str, Any]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".gitcoord-tmp")
    tmp.write_text(json.dumps(data, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
    os.replace(tmp, path)
