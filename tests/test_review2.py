"""Review of issues 15 and 16: bugs found by trying hostile input against what landed, each
proved with real git (worktrees, installed hooks, real processes)."""

from __future__ import annotations

from pathlib import Path

import pytest

from .conftest import run
from .test_field_conflicts import _answer, _set_mode
from .test_field_merged import _commit, _team

# -- the guard's implicit claim: a damaged radar index ------------------------------------------

BROKEN_INDEXES = [
    '{"version": 1, "branches": 5}',
    '{"version": 1, "branches": [{"branch": "x", "paths": ["README.md"], "commit": "abc"}]}',
    '{"version": 1, "branches": [{"agent": "beta", "branch": "b", "paths": 7, "commit": "abc"}]}',
    '{"version": 1, "default": "main", "branches": []}',
    '{"version": 1, "branches": [{"agent": "gamma", "branch": "g", '
    '"paths": ["README.md"], "commit": "--help"}]}',
    '{"version": 1, "default": {"ref": "refs/heads/\\u0000x", "commit": "c"}, "branches": '
    '[{"agent": "gamma", "branch": "g", "ref": "refs/heads/\\u0000g", '
    '"paths": ["README.md"], "commit": "c"}]}',
]


@pytest.mark.parametrize("text", BROKEN_INDEXES)
def test_a_damaged_index_never_lets_an_edit_past_a_claim(local_repo: Path, tmp_path: Path, text: str) -> None:
    """A claim another agent holds is denied whatever the radar's index says: a damaged index
    used to crash the whole check, and a crashed guard allows."""
    alpha, beta = _team(local_repo, tmp_path)
    _commit(beta, "README.md", "beta's line\n", "beta edits the readme")
    assert run(beta, "check-in").code == 0
    assert run(beta, "claim", "README.md", "-m", "mine").code == 0
    index = next((local_repo / ".git").rglob("branch-paths.json"))
    index.write_text(text, encoding="utf-8")

    out = _answer(alpha, "README.md", "alpha")
    assert out is not None and out.get("permissionDecision") == "deny", out
    assert "README.md is claimed" in out["permissionDecisionReason"]


@pytest.mark.parametrize("text", BROKEN_INDEXES)
def test_a_damaged_index_never_lets_an_edit_past_strict_mode(
    local_repo: Path, tmp_path: Path, text: str
) -> None:
    alpha, beta = _team(local_repo, tmp_path)
    _set_mode(alpha, "strict")
    assert run(beta, "check-in").code == 0
    index = next((local_repo / ".git").rglob("branch-paths.json"))
    index.write_text(text, encoding="utf-8")
    out = _answer(alpha, "README.md", "alpha")
    assert out is not None and out.get("permissionDecision") == "deny", out
    assert "strict mode" in out["permissionDecisionReason"]
