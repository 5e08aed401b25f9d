"""Issue 15, the radar's last pieces: the guard's "implicit claim" (a path another agent's unmerged
branch already changed) and coming conflicts near the top of `start` / `check-in` in remote mode.
Real git throughout: worktrees of one repository, a bare remote, real merges."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from .conftest import World, git, run
from .test_field_merged import _commit, _team
from .test_guard import claude_call, guard

CODEX_PATCH = "*** Begin Patch\n*** Update File: README.md\n@@\n-a\n+b\n*** End Patch\n"


def _answer(repo: Path, path: str, agent: str, fmt: str = "claude") -> dict[str, Any] | None:
    if fmt == "claude":
        call = claude_call(repo, "Edit", str(repo / path))
    else:
        call = {
            "cwd": str(repo),
            "hook_event_name": "PreToolUse",
            "tool_name": "apply_patch",
            "tool_input": {"command": CODEX_PATCH},
        }
    res = guard(repo, fmt, call, agent=agent)
    assert res.returncode == 0 and "Traceback" not in res.stderr, res.stderr
    return json.loads(res.stdout)["hookSpecificOutput"] if res.stdout else None


def _set_mode(repo: Path, mode: str) -> None:
    config = repo / ".coord" / "config.toml"
    config.write_text(config.read_text().replace('mode = "others"', f'mode = "{mode}"'))


def test_guard_tells_of_another_branchs_change_as_context(local_repo: Path, tmp_path: Path) -> None:
    alpha, beta = _team(local_repo, tmp_path)
    _commit(beta, "README.md", "beta's line\n", "beta edits the readme")
    assert run(beta, "check-in").code == 0  # a radar run: writes the index the guard reads

    out = _answer(alpha, "README.md", "alpha")
    assert out is not None and "permissionDecision" not in out  # the editor's own rules still apply
    said = out["additionalContext"]
    assert out["hookEventName"] == "PreToolUse"
    assert "README.md" in said and "beta's unmerged branch beta-work" in said
    assert "request-help --to beta --resource README.md" in said and "gitcoord conflicts" in said
    codex = _answer(alpha, "README.md", "alpha", fmt="codex")
    assert codex is not None and codex["additionalContext"] == said

    assert _answer(alpha, "other.txt", "alpha") is None  # a path no other branch changed
    assert _answer(beta, "README.md", "beta") is None  # its own branch's change
    assert run(alpha, "claim", "README.md", "-m", "agreed with beta").code == 0
    assert _answer(alpha, "README.md", "alpha") is None  # its own claim: the path is the agent's


def test_guard_forgets_a_merged_branch_without_a_new_radar_run(local_repo: Path, tmp_path: Path) -> None:
    alpha, beta = _team(local_repo, tmp_path)
    _commit(beta, "README.md", "beta's line\n", "beta edits the readme")
    assert run(beta, "check-in").code == 0
    assert _answer(alpha, "README.md", "alpha") is not None
    git(local_repo, "merge", "-q", "--no-ff", "-m", "merge beta", "beta-work")
    assert _answer(alpha, "README.md", "alpha") is None  # landed: no longer another agent's change


def test_guard_says_the_branch_moved_since_the_radar_ran(local_repo: Path, tmp_path: Path) -> None:
    alpha, beta = _team(local_repo, tmp_path)
    _commit(beta, "README.md", "beta's line\n", "beta edits the readme")
    assert run(beta, "check-in").code == 0
    _commit(beta, "more.txt", "more\n", "beta goes on")  # no write: the index still names the old tip
    out = _answer(alpha, "README.md", "alpha")
    assert out is not None and "has moved since" in out["additionalContext"]


def test_strict_mode_denies_an_edit_of_another_branchs_change(local_repo: Path, tmp_path: Path) -> None:
    alpha, beta = _team(local_repo, tmp_path)
    _set_mode(alpha, "strict")
    _commit(beta, "README.md", "beta's line\n", "beta edits the readme")
    assert run(beta, "check-in").code == 0
    out = _answer(alpha, "README.md", "alpha")
    assert out is not None and out["permissionDecision"] == "deny"
    reason = out["permissionDecisionReason"]
    assert "beta's unmerged branch beta-work already changes README.md" in reason
    assert "request-help --to beta" in reason


def test_no_radar_run_no_context(local_repo: Path, tmp_path: Path) -> None:
    """Without an index the guard says nothing: it never runs the merge itself."""
    alpha, beta = _team(local_repo, tmp_path)
    _commit(beta, "README.md", "beta's line\n", "beta edits the readme")
    for found in (local_repo / ".git").rglob("branch-paths.json"):
        found.unlink()
    assert _answer(alpha, "README.md", "alpha") is None


def test_start_and_check_in_put_conflicts_near_the_top_in_remote_mode(world: World) -> None:
    a, b, _ = world.clones
    for clone, agent in ((a, "alpha"), (b, "beta")):
        git(clone, "switch", "-q", "-c", f"{agent}-work")
        assert run(clone, "start", "--agent", agent).code == 0
    _commit(a, "README.md", "alpha's line\n", "alpha edits the readme")
    _commit(b, "README.md", "beta's line\n", "beta edits the readme")
    for clone, agent in ((a, "alpha"), (b, "beta")):
        git(clone, "push", "-q", "origin", f"{agent}-work")
        assert run(clone, "check-in").code == 0

    checked = run(a, "check-in")
    assert checked.code == 0
    lines = checked.out.splitlines()
    at = next(i for i, line in enumerate(lines) if "coming conflict: README.md with beta's branch" in line)
    assert at < 5, lines
    lines = run(a, "start").out.splitlines()
    at = next(i for i, line in enumerate(lines) if "README.md" in line and "beta" in line)
    assert at < 5, lines
    started = run(a, "start", "--json").json()  # machines read it by key; people read the text above
    assert [(x["path"], x["with"], x["branch"]) for x in started["conflicts"]] == [
        ("README.md", "beta", "beta-work")
    ]


def test_a_long_lived_coordinator_records_where_the_agent_works_now(local_repo: Path, tmp_path: Path) -> None:
    """An MCP server or a script keeps one Coordinator: each write records the branch and head of
    that moment, not those of its first write."""
    from gitcoord.coordinator import Coordinator
    from gitcoord.records import Agent

    alpha, _ = _team(local_repo, tmp_path)
    with Coordinator(alpha, agent="alpha") as coord:
        coord.check_in(message="on alpha-work")
        git(alpha, "switch", "-q", "-c", "alpha-next")
        head = _commit(alpha, "next.txt", "next\n", "next step")
        coord.check_in(message="on alpha-next")
        [record] = [a for a in coord.snapshot().records(Agent) if a.name == "alpha"]
    assert (record.branch, record.head) == ("alpha-next", head)


def _git_processes(repo: Path, path: str, agent: str, trace: Path) -> int:
    import os
    import subprocess
    import sys

    trace.unlink(missing_ok=True)
    subprocess.run(
        [sys.executable, "-m", "gitcoord", "guard", "--format", "claude"],
        input=json.dumps(claude_call(repo, "Edit", str(repo / path))),
        cwd=repo,
        capture_output=True,
        text=True,
        env=dict(os.environ, GITCOORD_AGENT=agent, GIT_TRACE=str(trace)),
        check=True,
    )
    return sum("trace: built-in: git" in line for line in trace.read_text().splitlines())


def test_the_index_costs_the_guard_no_git_process(local_repo: Path, tmp_path: Path) -> None:
    """Hot path: reading the index adds no git process, whether the path matches or not, while
    the default branch has not moved."""
    alpha, beta = _team(local_repo, tmp_path)
    _commit(beta, "README.md", "beta's line\n", "beta edits the readme")
    assert run(beta, "check-in").code == 0
    trace = tmp_path / "trace.log"
    index = next((local_repo / ".git").rglob("branch-paths.json"))
    with_index = _git_processes(alpha, "other.txt", "alpha", trace)
    matched = _git_processes(alpha, "README.md", "alpha", trace)
    aside = index.rename(index.with_name("aside.json"))
    without = _git_processes(alpha, "other.txt", "alpha", trace)
    aside.rename(index)
    assert with_index == matched == without > 0
