"""Review of issues 15 and 16: bugs found by trying hostile input against what landed, each
proved with real git (worktrees, installed hooks, real processes)."""

from __future__ import annotations

import http.client
import subprocess
from pathlib import Path

import pytest

from .conftest import GITCOORD, git, run
from .test_dashboard_serve import serve
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


# -- dashboard --serve: only pages asked for by this machine's own name -------------------------


def _status(port: int, host: str) -> int:
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=60)
    try:
        conn.putrequest("GET", "/", skip_host=True)
        conn.putheader("Host", host)
        conn.endheaders()
        res = conn.getresponse()
        res.read()
        return res.status
    finally:
        conn.close()


def test_serve_answers_only_requests_for_localhost(local_repo: Path) -> None:
    """A web page the lead has open elsewhere can point its own host name at 127.0.0.1 (DNS
    rebinding) and read the dashboard as same-origin: the server answers only requests whose
    Host is this machine's loopback name."""
    assert run(local_repo, "claim", "src/secret.py", agent="alpha").code == 0
    proc, port = serve(local_repo)
    try:
        assert _status(port, f"127.0.0.1:{port}") == 200
        assert _status(port, f"localhost:{port}") == 200
        assert _status(port, f"evil.example:{port}") == 403
        assert _status(port, "evil.example") == 403
    finally:
        proc.terminate()
        proc.wait(timeout=60)


# -- README: a shell block cannot escape the runnable check by its fence's language -------------


def test_every_shell_fence_language_counts_as_a_shell_block() -> None:
    """A block fenced ```bash (or shell, console, zsh) is a shell block too: before, only ```sh
    was seen, so such a block needed no marker and was never run."""
    from .test_readme import _shell_blocks

    for lang in ("sh", "bash", "shell", "console", "zsh", "Bash"):
        text = f"intro\n\n```{lang}\ngitcoord status\n```\n"
        assert [code for _, _, code in _shell_blocks(text)] == ["gitcoord status\n"], lang
    assert _shell_blocks("```python\nprint(1)\n```\n```\nplain\n```\n") == []


# -- demo: the page is never written through a link out of the repository it lands in -----------


def test_demo_does_not_write_through_a_committed_link_out_of_the_repository(tmp_path: Path) -> None:
    """`gitcoord demo` run in a clone whose `gitcoord-demo.html` is a committed link to a file
    outside it (~/.bashrc, say) used to overwrite that file with the page."""
    repo, outside = tmp_path / "repo", tmp_path / "outside.txt"
    repo.mkdir()
    outside.write_text("keep\n")
    git(repo, "init", "-q")
    (repo / "gitcoord-demo.html").symlink_to("../outside.txt")
    git(repo, "add", ".")
    git(repo, "commit", "-q", "-m", "a link out")
    res = subprocess.run([*GITCOORD, "demo"], cwd=repo, capture_output=True, text=True, timeout=600)
    assert res.returncode == 2, res.stdout + res.stderr
    assert "gitcoord-demo.html is a symbolic link to ../outside.txt" in res.stderr
    assert "Traceback" not in res.stderr
    assert outside.read_text() == "keep\n"
