"""The editor guard (Claude Code and Codex PreToolUse JSON) and merging it into settings."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

from gitcoord.hooks.editors import guard_command, install_guard

from .conftest import run

PATCH = """*** Begin Patch
*** Update File: src/free.py
@@
-a
+b
*** Update File: src/old.py
*** Move to: src/api/moved.py
*** End Patch
"""


def guard(
    repo: Path, fmt: str, call: dict[str, Any], agent: str = "beta"
) -> subprocess.CompletedProcess[str]:
    env = dict(os.environ, GITCOORD_AGENT=agent)
    return subprocess.run(
        [sys.executable, "-m", "gitcoord", "guard", "--format", fmt],
        input=json.dumps(call),
        cwd=repo,
        capture_output=True,
        text=True,
        env=env,
    )


def claude_call(repo: Path, tool: str, path: str) -> dict[str, Any]:
    key = "notebook_path" if tool == "NotebookEdit" else "file_path"
    return {
        "session_id": "s1",
        "transcript_path": "/tmp/t.jsonl",
        "cwd": str(repo),
        "permission_mode": "default",
        "hook_event_name": "PreToolUse",
        "tool_name": tool,
        "tool_use_id": "toolu_1",
        "tool_input": {key: path, "content": "x"},
    }


def test_claude_denies_claimed_allows_unclaimed_and_outside(local_repo: Path, tmp_path: Path) -> None:
    repo = local_repo
    assert run(repo, "claim", "src/api/", "-m", "refactoring", agent="alpha").code == 0
    for tool in ("Edit", "Write", "MultiEdit", "NotebookEdit"):
        denied = guard(repo, "claude", claude_call(repo, tool, str(repo / "src/api/handlers.py")))
        assert denied.returncode == 0
        out = json.loads(denied.stdout)["hookSpecificOutput"]
        assert out["hookEventName"] == "PreToolUse" and out["permissionDecision"] == "deny"
        assert "src/api/handlers.py" in out["permissionDecisionReason"]
        assert "alpha's exclusive claim C-1" in out["permissionDecisionReason"]
        assert "request-help --to alpha" in out["permissionDecisionReason"]
    free = guard(repo, "claude", claude_call(repo, "Write", str(repo / "src/other.py")))
    assert free.returncode == 0 and free.stdout == ""
    outside = guard(repo, "claude", claude_call(repo, "Write", str(tmp_path / "elsewhere" / "x.py")))
    assert outside.returncode == 0 and outside.stdout == ""
    own = guard(repo, "claude", claude_call(repo, "Edit", str(repo / "src/api/handlers.py")), agent="alpha")
    assert own.stdout == ""


def test_codex_apply_patch_paths_inside_the_patch(local_repo: Path) -> None:
    repo = local_repo
    assert run(repo, "claim", "src/api/", agent="alpha").code == 0
    call = {
        "session_id": "s",
        "turn_id": "t",
        "cwd": str(repo),
        "hook_event_name": "PreToolUse",
        "model": "m",
        "permission_mode": "default",
        "tool_name": "apply_patch",
        "tool_use_id": "c1",
        "tool_input": {"command": PATCH},
    }
    denied = guard(repo, "codex", call)
    out = json.loads(denied.stdout)["hookSpecificOutput"]
    assert out["permissionDecision"] == "deny" and "src/api/moved.py" in out["permissionDecisionReason"]
    call["tool_input"] = {"command": PATCH.replace("src/api/moved.py", "src/moved.py")}
    assert guard(repo, "codex", call).stdout == ""
    bash = dict(call, tool_name="Bash", tool_input={"command": "ls src/api"})
    assert guard(repo, "codex", bash).stdout == ""


def test_internal_failure_warns_and_allows(local_repo: Path) -> None:
    broken = subprocess.run(
        [sys.executable, "-m", "gitcoord", "guard", "--format", "claude"],
        input="{not json",
        cwd=local_repo,
        capture_output=True,
        text=True,
    )
    assert broken.returncode == 0 and broken.stdout == "" and "warning" in broken.stderr


def test_install_guard_keeps_settings_and_is_idempotent(tmp_path: Path) -> None:
    settings = tmp_path / ".claude" / "settings.json"
    settings.parent.mkdir()
    existing = {
        "model": "opus",
        "permissions": {"allow": ["Bash(ls)"]},
        "hooks": {
            "PreToolUse": [{"matcher": "Bash", "hooks": [{"type": "command", "command": "audit"}]}],
            "Stop": [{"hooks": [{"type": "command", "command": "notify"}]}],
        },
    }
    settings.write_text(json.dumps(existing))
    assert install_guard(tmp_path, "claude") == settings
    once = json.loads(settings.read_text())
    install_guard(tmp_path, "claude")
    assert json.loads(settings.read_text()) == once
    assert once["model"] == "opus" and once["permissions"] == existing["permissions"]
    assert once["hooks"]["Stop"] == existing["hooks"]["Stop"]
    groups = once["hooks"]["PreToolUse"]
    assert groups[0] == existing["hooks"]["PreToolUse"][0]
    assert groups[1]["matcher"] == "Edit|Write|MultiEdit|NotebookEdit"
    assert groups[1]["hooks"][0]["command"] == guard_command("claude")
    install_guard(tmp_path, "claude", remove=True)
    assert json.loads(settings.read_text()) == existing


def test_install_guard_codex_creates_file(tmp_path: Path) -> None:
    path = install_guard(tmp_path, "codex")
    assert path == tmp_path / ".codex" / "hooks.json"
    data = json.loads(path.read_text())
    group = data["hooks"]["PreToolUse"][0]
    assert "apply_patch" in group["matcher"] and group["hooks"][0]["command"] == guard_command("codex")
    install_guard(tmp_path, "codex", remove=True)
    assert json.loads(path.read_text()) == {}


def test_a_symlinked_directory_is_no_way_around_a_claim(local_repo: Path) -> None:
    repo = local_repo
    (repo / "src").mkdir()
    (repo / "src" / "a.py").write_text("x\n")
    (repo / "lnk").symlink_to("src")
    assert run(repo, "claim", "src/a.py", agent="alpha").code == 0
    denied = guard(repo, "claude", claude_call(repo, "Edit", str(repo / "lnk" / "a.py")))
    assert denied.returncode == 0
    assert json.loads(denied.stdout)["hookSpecificOutput"]["permissionDecision"] == "deny"


def test_strict_mode_denies_edits_of_unclaimed_paths(local_repo: Path) -> None:
    repo = local_repo
    config = repo / ".coord" / "config.toml"
    config.write_text(config.read_text().replace('mode = "others"', 'mode = "strict"'))
    assert run(repo, "claim", "mine.py", agent="beta").code == 0
    free = guard(repo, "claude", claude_call(repo, "Write", str(repo / "free.py")))
    out = json.loads(free.stdout)["hookSpecificOutput"]
    assert out["permissionDecision"] == "deny" and "strict mode" in out["permissionDecisionReason"]
    assert "gitcoord claim free.py" in out["permissionDecisionReason"]
    assert guard(repo, "claude", claude_call(repo, "Edit", str(repo / "mine.py"))).stdout == ""
