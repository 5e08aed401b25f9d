"""Field hardening, slice "enforce": the committed editor guard runs on every machine of the team
(through the committed launcher `.coord/gitcoord`), doctor probes it, and no writer follows a
symlink out of the repository. Real git, real `sh`, real processes; no gitcoord mocked."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from .conftest import git, make_repo, run

NOT_INSTALLED = (
    "gitcoord: not installed for this clone; install it and run `gitcoord start` here "
    "(see README, Team setup)"
)
# A PATH with git and a shell but no gitcoord: the editor of a teammate whose venv is not active.
BARE_PATH = "/usr/bin:/bin"


def _record(repo: Path) -> Path:
    common = git(repo, "rev-parse", "--path-format=absolute", "--git-common-dir")
    return Path(common) / "gitcoord-state" / "python"


def _guard_commands(settings: Path) -> list[str]:
    data = json.loads(settings.read_text())
    return [h["command"] for g in data["hooks"]["PreToolUse"] for h in g["hooks"]]


def claude_payload(repo: Path, tool: str, path: Path) -> dict[str, Any]:
    """A PreToolUse call as Claude Code writes it on the hook's stdin."""
    return {
        "session_id": "0b6f6c1e-4bd0-4d5b-9f0e-5d2f5c3c9a11",
        "transcript_path": "/tmp/session.jsonl",
        "cwd": str(repo),
        "permission_mode": "default",
        "hook_event_name": "PreToolUse",
        "tool_name": tool,
        "tool_input": {"file_path": str(path), "old_string": "a", "new_string": "b"},
        "tool_use_id": "toolu_01ABC",
    }


def run_hook_command(
    command: str,
    repo: Path,
    payload: dict[str, Any],
    *,
    path: str = BARE_PATH,
    agent: str = "beta",
    cwd: Path | None = None,
    project_dir: bool = True,
) -> subprocess.CompletedProcess[str]:
    """Run a settings file's command the way the editor does: through the shell, JSON on stdin."""
    env = {k: v for k, v in os.environ.items() if k not in ("CLAUDE_PROJECT_DIR", "VIRTUAL_ENV")}
    env.update(PATH=path, GITCOORD_AGENT=agent)
    if project_dir:
        env["CLAUDE_PROJECT_DIR"] = str(repo)
    return subprocess.run(
        ["sh", "-c", command],
        cwd=cwd or repo,
        env=env,
        input=json.dumps(payload),
        capture_output=True,
        text=True,
        timeout=120,
    )


@pytest.fixture
def integrated(local_repo: Path) -> Path:
    assert run(local_repo, "claim", "src/api/", "-m", "refactoring", agent="alpha").code == 0
    res = run(local_repo, "integrate", "claude")
    assert res.code == 0, res.err
    return local_repo


# -- item 1: the committed command works without gitcoord on PATH ------------------------------------


def test_committed_command_has_no_machine_path_and_uses_the_launcher(integrated: Path) -> None:
    commands = _guard_commands(integrated / ".claude" / "settings.json")
    assert len(commands) == 1
    assert '.coord/gitcoord" guard --format claude' in commands[0]
    assert sys.prefix not in commands[0] and str(integrated) not in commands[0]
    launcher = integrated / ".coord" / "gitcoord"
    assert launcher.read_text().startswith("#!/bin/sh\n# gitcoord-launcher-v1")
    assert os.access(launcher, os.X_OK)
    assert _record(integrated).read_text().strip() == sys.executable


def test_launcher_answers_a_real_claude_call_without_gitcoord_on_path(integrated: Path) -> None:
    repo = integrated
    command = _guard_commands(repo / ".claude" / "settings.json")[0]
    denied = run_hook_command(command, repo, claude_payload(repo, "Edit", repo / "src/api/handlers.py"))
    assert denied.returncode == 0, denied.stderr
    out = json.loads(denied.stdout)["hookSpecificOutput"]
    assert out["permissionDecision"] == "deny"
    assert "src/api/handlers.py is claimed" in out["permissionDecisionReason"]
    assert "alpha" in out["permissionDecisionReason"]
    free = run_hook_command(command, repo, claude_payload(repo, "Write", repo / "src/other.py"))
    assert (free.returncode, free.stdout, free.stderr) == (0, "", "")
    # From a subdirectory, and with CLAUDE_PROJECT_DIR unset (a known Claude Code bug): still answers.
    (repo / "src").mkdir(exist_ok=True)
    nested = run_hook_command(
        command,
        repo,
        claude_payload(repo, "Edit", repo / "src/api/x.py"),
        cwd=repo / "src",
        project_dir=False,
    )
    assert json.loads(nested.stdout)["hookSpecificOutput"]["permissionDecision"] == "deny"


def test_with_neither_record_nor_path_the_editor_is_told_exit_2(integrated: Path) -> None:
    repo = integrated
    _record(repo).unlink()
    command = _guard_commands(repo / ".claude" / "settings.json")[0]
    res = run_hook_command(command, repo, claude_payload(repo, "Edit", repo / "src/other.py"))
    assert res.returncode == 2
    assert res.stderr.strip() == NOT_INSTALLED
    assert res.stdout == ""


def test_a_recorded_interpreter_that_is_gone_falls_back_to_path(integrated: Path, tmp_path: Path) -> None:
    repo = integrated
    _record(repo).write_text(str(tmp_path / "deleted-venv" / "bin" / "python") + "\n")
    command = _guard_commands(repo / ".claude" / "settings.json")[0]
    gone = run_hook_command(command, repo, claude_payload(repo, "Edit", repo / "src/api/a.py"))
    assert (gone.returncode, gone.stderr.strip()) == (2, NOT_INSTALLED)
    # gitcoord on PATH (this venv's console script): the launcher takes its interpreter from the shebang.
    on_path = run_hook_command(
        command,
        repo,
        claude_payload(repo, "Edit", repo / "src/api/a.py"),
        path=f"{Path(sys.executable).parent}:{BARE_PATH}",
    )
    assert json.loads(on_path.stdout)["hookSpecificOutput"]["permissionDecision"] == "deny"


def test_a_gitcoord_on_path_that_is_not_a_python_script_still_runs(integrated: Path, tmp_path: Path) -> None:
    repo = integrated
    _record(repo).unlink()
    wrapper_dir = tmp_path / "wrapper-bin"
    wrapper_dir.mkdir()
    wrapper = wrapper_dir / "gitcoord"
    wrapper.write_text(f'#!/bin/sh\nexec {sys.executable} -m gitcoord "$@"\n')
    wrapper.chmod(0o755)
    command = _guard_commands(repo / ".claude" / "settings.json")[0]
    res = run_hook_command(
        command, repo, claude_payload(repo, "Edit", repo / "src/api/a.py"), path=f"{wrapper_dir}:{BARE_PATH}"
    )
    assert json.loads(res.stdout)["hookSpecificOutput"]["permissionDecision"] == "deny"


def test_codex_command_finds_the_repo_top_from_its_cwd(local_repo: Path) -> None:
    repo = local_repo
    assert run(repo, "claim", "src/api/", agent="alpha").code == 0
    assert run(repo, "integrate", "codex").code == 0
    command = _guard_commands(repo / ".codex" / "hooks.json")[0]
    assert "git rev-parse --show-toplevel" in command and "guard --format codex" in command
    (repo / "docs").mkdir()
    call = {
        "session_id": "s",
        "turn_id": "t",
        "cwd": str(repo / "docs"),
        "hook_event_name": "PreToolUse",
        "model": "gpt-5",
        "permission_mode": "default",
        "tool_name": "apply_patch",
        "tool_use_id": "c1",
        "tool_input": {
            "command": "*** Begin Patch\n*** Update File: ../src/api/h.py\n@@\n-a\n+b\n*** End Patch\n"
        },
    }
    res = run_hook_command(command, repo, call, cwd=repo / "docs", project_dir=False)
    assert json.loads(res.stdout)["hookSpecificOutput"]["permissionDecision"] == "deny"
    _record(repo).unlink()
    missing = run_hook_command(command, repo, call, cwd=repo / "docs", project_dir=False)
    assert (missing.returncode, missing.stderr.strip()) == (2, NOT_INSTALLED)


def test_launcher_hook_entry_runs_the_git_hook_through_a_real_commit(integrated: Path) -> None:
    """`.coord/gitcoord hook NAME SCRIPT MODE ARGS` from a tracked hook, with no gitcoord on PATH."""
    repo = integrated
    hooks = repo / ".githooks"
    hooks.mkdir()
    script = hooks / "pre-commit"
    script.write_text(
        '#!/bin/sh\nexec "$(git rev-parse --show-toplevel)/.coord/gitcoord" hook pre-commit "$0" - "$@"\n'
    )
    script.chmod(0o755)
    git(repo, "config", "core.hooksPath", ".githooks")
    (repo / "src" / "api").mkdir(parents=True)
    (repo / "src" / "api" / "h.py").write_text("x\n")
    git(repo, "add", "src/api/h.py")
    env = dict(os.environ, PATH=BARE_PATH, GITCOORD_AGENT="beta")
    refused = subprocess.run(
        ["git", "commit", "-q", "-m", "touch a claimed file"],
        cwd=repo,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert refused.returncode != 0 and "src/api/h.py" in refused.stderr and "alpha" in refused.stderr
    git(repo, "reset", "-q")
    (repo / "free.txt").write_text("y\n")
    git(repo, "add", "free.txt")
    ok = subprocess.run(
        ["git", "commit", "-q", "-m", "free"], cwd=repo, env=env, capture_output=True, text=True, timeout=120
    )
    assert ok.returncode == 0, ok.stderr
    _record(repo).unlink()
    (repo / "free.txt").write_text("z\n")
    git(repo, "add", "free.txt")
    closed = subprocess.run(
        ["git", "commit", "-q", "-m", "no gitcoord"],
        cwd=repo,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert closed.returncode != 0 and NOT_INSTALLED in closed.stderr  # git reports any refusal as 1


def test_integrate_upgrades_old_bare_commands_and_keeps_other_hooks(local_repo: Path) -> None:
    repo = local_repo
    lint = {"type": "command", "command": "npx eslint --stdin"}
    for editor, rel in (("claude", ".claude/settings.json"), ("codex", ".codex/hooks.json")):
        settings = repo / rel
        settings.parent.mkdir()
        old = {"type": "command", "command": f"gitcoord guard --format {editor}", "timeout": 10}
        settings.write_text(
            json.dumps(
                {"model": "x", "hooks": {"PreToolUse": [{"matcher": "Edit|Write", "hooks": [lint, old]}]}}
            )
        )
        res = run(repo, "integrate", editor)
        assert res.code == 0, res.err
        data = json.loads(settings.read_text())
        assert data["model"] == "x"
        commands = _guard_commands(settings)
        assert commands.count("npx eslint --stdin") == 1
        ours = [c for c in commands if "guard --format" in c]
        assert len(ours) == 1 and '.coord/gitcoord" guard --format ' + editor in ours[0]
        again = settings.read_text()
        assert run(repo, "integrate", editor).code == 0
        assert settings.read_text() == again
        assert run(repo, "integrate", editor, "--remove").code == 0
        assert _guard_commands(settings) == ["npx eslint --stdin"]


def test_start_records_this_clones_interpreter_and_refreshes_an_old_launcher(integrated: Path) -> None:
    repo = integrated
    _record(repo).unlink()
    launcher = repo / ".coord" / "gitcoord"
    launcher.write_text("#!/bin/sh\n# gitcoord-launcher-v0 (an older release)\nexit 2\n")
    assert run(repo, "start", agent="beta").code == 0
    assert _record(repo).read_text().strip() == sys.executable
    assert "gitcoord-launcher-v1" in launcher.read_text() and os.access(launcher, os.X_OK)


def test_start_does_not_add_a_launcher_to_a_repository_that_has_none(local_repo: Path) -> None:
    assert run(local_repo, "start", agent="beta").code == 0
    assert not (local_repo / ".coord" / "gitcoord").exists()
    assert _record(local_repo).read_text().strip() == sys.executable


def test_a_foreign_coord_gitcoord_file_is_not_overwritten(local_repo: Path) -> None:
    mine = local_repo / ".coord" / "gitcoord"
    mine.write_text("#!/bin/sh\necho mine\n")
    res = run(local_repo, "integrate", "claude")
    assert res.code == 3
    assert ".coord/gitcoord is not gitcoord's launcher" in res.err
    assert mine.read_text() == "#!/bin/sh\necho mine\n"


# -- item 2: doctor probes the configured guard -------------------------------------------------------


def _guard_findings(res: Any) -> list[dict[str, str]]:
    return [f for f in res.json()["findings"] if f["check"] == "editor-guard"]


def test_doctor_reports_an_unconfigured_guard(local_repo: Path) -> None:
    res = run(local_repo, "doctor", "--json")
    found = _guard_findings(res)
    assert [f["level"] for f in found] == ["ok"]
    assert "not configured" in found[0]["message"]


def test_doctor_probe_ok_then_failing(integrated: Path) -> None:
    repo = integrated
    assert run(repo, "hooks", "install").code == 0
    ok = run(repo, "doctor", "--json", env={"PATH": BARE_PATH})
    found = _guard_findings(ok)
    assert [f["level"] for f in found] == ["ok"], found
    assert "claude" in found[0]["message"] and "answers" in found[0]["message"]
    _record(repo).unlink()
    broken = run(repo, "doctor", "--json", env={"PATH": BARE_PATH})
    assert broken.code == 3
    found = _guard_findings(broken)
    assert [f["level"] for f in found] == ["problem"]
    assert NOT_INSTALLED in found[0]["message"] and "exit 2" in found[0]["message"]
    assert "gitcoord start" in found[0]["fix"]
    assert "doctor found 1 problem(s): editor-guard" in broken.err


def test_doctor_flags_an_old_bare_command_it_cannot_run(local_repo: Path) -> None:
    settings = local_repo / ".claude" / "settings.json"
    settings.parent.mkdir()
    settings.write_text(
        json.dumps(
            {
                "hooks": {
                    "PreToolUse": [
                        {
                            "matcher": "Edit",
                            "hooks": [{"type": "command", "command": "gitcoord guard --format claude"}],
                        }
                    ]
                }
            }
        )
    )
    res = run(local_repo, "doctor", "--json", env={"PATH": BARE_PATH})
    found = _guard_findings(res)
    assert [f["level"] for f in found] == ["problem"]
    assert "exit 127" in found[0]["message"] and "gitcoord integrate claude" in found[0]["fix"]


# -- item 3: no writer follows a symlink out of the repository ----------------------------------------


@pytest.fixture
def outside(tmp_path: Path) -> Path:
    where = tmp_path / "outside"
    where.mkdir()
    return where


def _assert_refused(res: Any, link: str, target: Path) -> None:
    assert res.code == 2, (res.code, res.err)
    assert f"{link} is a symbolic link to {target}" in res.err and "outside the repository" in res.err
    assert "Traceback" not in res.err


@pytest.mark.parametrize(
    "target,name", [("claude", "CLAUDE.md"), ("codex", "AGENTS.md"), ("agents-md", "AGENTS.md")]
)
def test_integrate_refuses_an_instructions_file_linking_out(
    local_repo: Path, outside: Path, target: str, name: str
) -> None:
    victim = outside / "x.md"
    victim.write_text("precious\n")
    (local_repo / name).symlink_to(victim)
    _assert_refused(run(local_repo, "integrate", target), name, victim)
    assert victim.read_text() == "precious\n"
    dangling = outside / "new.md"
    (local_repo / name).unlink()
    (local_repo / name).symlink_to(dangling)
    _assert_refused(run(local_repo, "integrate", target), name, dangling)
    assert not dangling.exists()


@pytest.mark.parametrize("editor,rel", [("claude", ".claude/settings.json"), ("codex", ".codex/hooks.json")])
def test_integrate_refuses_editor_settings_linking_out(
    local_repo: Path, outside: Path, editor: str, rel: str
) -> None:
    victim = outside / "settings.json"
    victim.write_text("{}\n")
    (local_repo / rel).parent.mkdir()
    (local_repo / rel).symlink_to(victim)
    _assert_refused(run(local_repo, "integrate", editor), rel, victim)
    assert victim.read_text() == "{}\n"
    (local_repo / rel).unlink()
    (local_repo / rel).parent.rmdir()
    (local_repo / rel.split("/")[0]).symlink_to(outside, target_is_directory=True)
    _assert_refused(run(local_repo, "integrate", editor), rel.split("/")[0], outside)
    assert sorted(p.name for p in outside.iterdir()) == ["settings.json"]


def test_integrate_refuses_a_launcher_linking_out(local_repo: Path, outside: Path) -> None:
    victim = outside / "run.sh"
    (local_repo / ".coord" / "gitcoord").symlink_to(victim)
    _assert_refused(run(local_repo, "integrate", "claude"), ".coord/gitcoord", victim)
    assert not victim.exists()


def test_a_link_that_stays_inside_the_repository_is_written_through(local_repo: Path) -> None:
    (local_repo / "AGENTS.md").write_text("# agents\n")
    (local_repo / "CLAUDE.md").symlink_to("AGENTS.md")
    assert run(local_repo, "integrate", "claude").code == 0
    assert (local_repo / "CLAUDE.md").is_symlink() and "gitcoord start" in (
        local_repo / "AGENTS.md"
    ).read_text()


def test_a_link_into_the_git_directory_is_refused(local_repo: Path) -> None:
    (local_repo / "CLAUDE.md").symlink_to(".git/hooks/post-checkout")
    res = run(local_repo, "integrate", "claude")
    assert res.code == 2 and "CLAUDE.md is a symbolic link to .git/hooks/post-checkout" in res.err
    assert not (local_repo / ".git" / "hooks" / "post-checkout").exists()


def test_init_refuses_a_config_linking_out(tmp_path: Path, outside: Path) -> None:
    repo = make_repo(tmp_path / "fresh")
    (repo / ".coord").mkdir()
    (repo / ".coord" / "config.toml").symlink_to(outside / "config.toml")
    _assert_refused(run(repo, "init"), ".coord/config.toml", outside / "config.toml")
    assert not (outside / "config.toml").exists()


def test_ci_github_refuses_a_workflow_dir_linking_out(local_repo: Path, outside: Path) -> None:
    (local_repo / ".github").symlink_to(outside, target_is_directory=True)
    _assert_refused(run(local_repo, "ci", "github", "--no-coord"), ".github", outside)
    assert list(outside.iterdir()) == []


def test_dashboard_default_path_linking_out_is_refused_explicit_outside_path_is_written(
    local_repo: Path, outside: Path
) -> None:
    victim = outside / "page.html"
    victim.write_text("keep\n")
    (local_repo / "gitcoord-dashboard.html").symlink_to(victim)
    old = Path.cwd()
    os.chdir(local_repo)  # the default --out is relative to where the command runs
    try:
        _assert_refused(run(local_repo, "dashboard", "--no-fetch"), "gitcoord-dashboard.html", victim)
        assert victim.read_text() == "keep\n"
        explicit = run(local_repo, "dashboard", "--no-fetch", "--out", str(outside / "mine.html"))
        assert explicit.code == 0, explicit.err
        assert "<html" in (outside / "mine.html").read_text()
    finally:
        os.chdir(old)
