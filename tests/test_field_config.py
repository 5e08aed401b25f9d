"""The team's committed config is the config: sparse checkouts, uncommitted edits, HEAD-only keys,
`init` that never makes a second store, and `[claims] ignorecase` as a team setting."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tomllib
from pathlib import Path

import pytest

from .conftest import git, make_repo, run
from .test_guard import claude_call
from .test_hooks import commit, install, stage

TEAM_CONFIG = """\
[coord]
branch = "team-coord"

[hooks]
mode = "strict"

[review]
reviewers = ["boss@example.com"]
"""


def _team(tmp_path: Path, config: str = TEAM_CONFIG) -> tuple[Path, Path]:
    """A remote whose main branch commits `config`, and a full clone that ran `gitcoord init`."""
    seed = make_repo(tmp_path / "seed")
    (seed / "src").mkdir()
    (seed / "src" / "app.py").write_text("app\n")
    (seed / ".coord").mkdir()
    (seed / ".coord" / "config.toml").write_text(config)
    git(seed, "add", ".")
    git(seed, "commit", "-q", "-m", "team config")
    remote = tmp_path / "remote.git"
    git(tmp_path, "clone", "-q", "--bare", str(seed), str(remote))
    full = tmp_path / "full"
    git(tmp_path, "clone", "-q", str(remote), str(full))
    res = run(full, "init")
    assert res.code == 0, res.err
    return remote, full


def _sparse_clone(tmp_path: Path, remote: Path, name: str = "sparse") -> Path:
    path = tmp_path / name
    git(tmp_path, "clone", "-q", str(remote), str(path))
    git(path, "sparse-checkout", "set", "src")
    assert not (path / ".coord").exists()
    assert (path / "src" / "app.py").exists()
    return path


def _remote_heads(remote: Path) -> set[str]:
    return set(git(remote, "for-each-ref", "--format=%(refname:short)", "refs/heads").split())


# -- sparse checkout ----------------------------------------------------------------------


def test_sparse_checkout_runs_on_the_committed_config(tmp_path: Path) -> None:
    remote, _ = _team(tmp_path)
    assert _remote_heads(remote) == {"main", "team-coord"}
    sparse = _sparse_clone(tmp_path, remote)

    claimed = run(sparse, "claim", "src/api.py", "--json", agent="beta")
    assert claimed.code == 0, claimed.err
    assert _remote_heads(remote) == {"main", "team-coord"}
    held = git(remote, "ls-tree", "-r", "--name-only", "team-coord", ".coord/claims")
    assert held == ".coord/claims/C-1.toml"

    doctor = run(sparse, "doctor", "--json", agent="beta")
    findings = {f["check"]: f for f in doctor.json()["findings"]}
    assert "gitcoord init" not in doctor.out
    assert "HEAD:.coord/config.toml" in findings["config"]["message"]
    assert "'team-coord'" in findings["config"]["message"]
    assert findings["coord-branch"]["level"] == "ok"

    again = run(sparse, "init", "--json")
    assert again.code == 0, again.err
    assert again.json() | {"remote": None} == {
        "created": False,
        "branch": "team-coord",
        "remote": None,
        "config_written": False,
    }
    assert not (sparse / ".coord").exists()
    assert _remote_heads(remote) == {"main", "team-coord"}
    assert git(sparse, "status", "--porcelain") == ""


def test_sparse_checkout_hooks_use_the_committed_mode(tmp_path: Path) -> None:
    remote, _ = _team(tmp_path)
    sparse = _sparse_clone(tmp_path, remote)
    install(sparse)
    assert run(sparse, "claim", "src/mine.py", agent="beta").code == 0
    stage(sparse, "src/unclaimed.py")
    refused = commit(sparse, "-m", "strict mode refuses unclaimed paths", agent="beta")
    assert refused.returncode == 1, refused.stderr
    assert "src/unclaimed.py" in refused.stderr and "strict" in refused.stderr


def test_init_refuses_a_branch_other_than_the_configured_one(tmp_path: Path) -> None:
    remote, full = _team(tmp_path)
    sparse = _sparse_clone(tmp_path, remote)
    for clone in (full, sparse):
        res = run(clone, "init", "--branch", "coord")
        assert res.code == 3, res.out + res.err
        assert "names the coord branch 'team-coord'" in res.err and "second coord store" in res.err
        assert "Traceback" not in res.err
    assert _remote_heads(remote) == {"main", "team-coord"}
    assert (full / ".coord" / "config.toml").read_text() == TEAM_CONFIG
    assert not (sparse / ".coord").exists()


def test_init_refuses_a_second_store_when_the_remote_has_one(tmp_path: Path) -> None:
    """No committed config, but the remote already holds a store on another branch."""
    seed = make_repo(tmp_path / "seed")
    remote = tmp_path / "remote.git"
    git(tmp_path, "clone", "-q", "--bare", str(seed), str(remote))
    first = tmp_path / "first"
    git(tmp_path, "clone", "-q", str(remote), str(first))
    assert run(first, "init", "--branch", "agents").code == 0
    second = tmp_path / "second"
    git(tmp_path, "clone", "-q", str(remote), str(second))
    res = run(second, "init")
    assert res.code == 3, res.out + res.err
    assert "'origin' already holds a coord store on branch 'agents'" in res.err
    assert 'coord.branch = "agents"' in res.err
    assert _remote_heads(remote) == {"main", "agents"}
    assert not (second / ".coord").exists()
    adopted = run(second, "init", "--branch", "agents", "--json")
    assert adopted.code == 0, adopted.err
    assert adopted.json()["created"] is False and adopted.json()["config_written"] is True
    assert _remote_heads(remote) == {"main", "agents"}


def test_init_never_overwrites_a_tracked_config_deleted_from_the_work_tree(tmp_path: Path) -> None:
    _, full = _team(tmp_path)
    (full / ".coord" / "config.toml").unlink()
    res = run(full, "init", "--json")
    assert res.code == 0, res.err
    assert res.json()["config_written"] is False and res.json()["branch"] == "team-coord"
    assert not (full / ".coord" / "config.toml").exists()


# -- uncommitted edits and HEAD-only keys ----------------------------------------------------


def test_doctor_reports_uncommitted_edits_by_key(tmp_path: Path) -> None:
    _, full = _team(tmp_path)
    clean = {f["check"]: f for f in run(full, "doctor", "--json").json()["findings"]}
    assert clean["config-edits"]["level"] == "ok"
    path = full / ".coord" / "config.toml"
    path.write_text(TEAM_CONFIG.replace('"strict"', '"warn"') + "\n[lease]\nminutes = 10\n")
    found = {f["check"]: f for f in run(full, "doctor", "--json").json()["findings"]}
    edits = found["config-edits"]
    assert edits["level"] == "warning"
    assert edits["message"].startswith("uncommitted edits to .coord/config.toml (hooks.mode, lease.minutes)")
    assert "commit them so the whole team uses them" in edits["message"] + edits["fix"]


def test_doctor_says_an_uncommitted_reviewers_edit_does_not_apply(tmp_path: Path) -> None:
    _, full = _team(tmp_path)
    path = full / ".coord" / "config.toml"
    path.write_text(TEAM_CONFIG.replace('"boss@example.com"', '"boss@example.com", "human@example.com"'))
    edits = {f["check"]: f for f in run(full, "doctor", "--json").json()["findings"]}["config-edits"]
    assert edits["level"] == "warning" and "(review.reviewers)" in edits["message"]
    assert "review.reviewers is read from HEAD only" in edits["message"]


def _proposed(repo: Path) -> str:
    res = run(
        repo,
        "log-decision",
        "--category",
        "architecture",
        "--impact",
        "low",
        "--rationale",
        "why",
        "use sqlite",
        "--json",
        agent="alpha",
    )
    assert res.code == 0, res.err
    return str(res.json()["id"])


def test_reviewers_come_from_head_only(tmp_path: Path) -> None:
    _, full = _team(tmp_path)
    decision = _proposed(full)
    path = full / ".coord" / "config.toml"
    # The test's git identity (human@example.com) tries to make itself a reviewer without a commit.
    path.write_text(TEAM_CONFIG.replace('"boss@example.com"', '"boss@example.com", "human@example.com"'))
    refused = run(full, "decisions", "approve", decision)
    assert refused.code == 3, refused.out + refused.err
    assert (
        "human:human@example.com may not review decisions here; the reviewers are boss@example.com"
        in refused.err
    )
    path.write_text(TEAM_CONFIG.replace("[review]\nreviewers", "[review]\nnobody_listed"))
    assert run(full, "decisions", "approve", decision).code == 2  # the typo is still refused
    path.unlink()
    git(full, "checkout", "--", ".coord/config.toml")
    path.write_text(TEAM_CONFIG.replace('"boss@example.com"', '"human@example.com"'))
    git(full, "commit", "-q", "-am", "make the human a reviewer")
    approved = run(full, "decisions", "approve", decision)
    assert approved.code == 0, approved.err


# -- [claims] ignorecase: a team setting ------------------------------------------------------


def _case_team(tmp_path: Path, ignorecase: bool) -> Path:
    config = f"[claims]\nignorecase = {'true' if ignorecase else 'false'}\n"
    _, full = _team(tmp_path, config)
    assert git(full, "config", "core.ignorecase", check=False) in ("", "false")  # a Linux clone
    install(full)
    res = run(full, "claim", "Src/API.py", agent="alpha")
    assert res.code == 0, res.err
    return full


def _guard(repo: Path, path: str) -> str:
    env = dict(os.environ, GITCOORD_AGENT="beta")
    res = subprocess.run(
        [sys.executable, "-m", "gitcoord", "guard", "--format", "claude"],
        input=json.dumps(claude_call(repo, "Write", str(repo / path))),
        cwd=repo,
        capture_output=True,
        text=True,
        env=env,
    )
    assert res.returncode == 0, res.stderr
    return json.loads(res.stdout)["hookSpecificOutput"]["permissionDecision"] if res.stdout else "allow"


@pytest.mark.parametrize("ignorecase", [True, False])
def test_ignorecase_is_the_team_setting_everywhere(tmp_path: Path, ignorecase: bool) -> None:
    repo = _case_team(tmp_path, ignorecase)
    claim = run(repo, "claim", "src/api.py", agent="beta")
    assert claim.code == (3 if ignorecase else 0), claim.err
    if ignorecase:
        assert "alpha's exclusive claim C-1 on Src/API.py" in claim.err
    else:
        assert run(repo, "release", "src/api.py", agent="beta").code == 0

    assert _guard(repo, "src/api.py") == ("deny" if ignorecase else "allow")

    stage(repo, "src/api.py")
    hooked = commit(repo, "-m", "beta edits api", agent="beta")
    assert hooked.returncode == (1 if ignorecase else 0), hooked.stderr
    if ignorecase:
        assert "src/api.py: alpha's exclusive claim C-1 on Src/API.py" in hooked.stderr
        done = commit(repo, "--no-verify", "-m", "beta edits api anyway", agent="beta")
        assert done.returncode == 0, done.stderr
    checked = run(repo, "verify", "HEAD~1..HEAD", "--json")
    assert checked.code == (3 if ignorecase else 0), checked.out + checked.err
    if ignorecase:
        assert checked.json()["violations"][0]["path"] == "src/api.py"


@pytest.mark.parametrize("local", ["true", "false"])
def test_init_writes_the_creators_ignorecase(tmp_path: Path, local: str) -> None:
    repo = make_repo(tmp_path / "repo")
    git(repo, "config", "core.ignorecase", local)
    res = run(repo, "init")
    assert res.code == 0, res.err
    text = (repo / ".coord" / "config.toml").read_text()
    assert f"[claims]\nignorecase = {local}\n" in text


def test_doctor_warns_when_this_clone_ignores_case_but_the_team_does_not(tmp_path: Path) -> None:
    _, full = _team(tmp_path)
    git(full, "config", "core.ignorecase", "true")
    case = {f["check"]: f for f in run(full, "doctor", "--json").json()["findings"]}["case"]
    assert case["level"] == "warning"
    assert "core.ignorecase" in case["message"] and "ignorecase = true" in case["fix"]


def test_an_invalid_ignorecase_is_refused_in_claim_and_hooks(tmp_path: Path) -> None:
    _, full = _team(tmp_path, "[claims]\nignorecase = true\n")
    install(full)
    (full / ".coord" / "config.toml").write_text('[claims]\nignorecase = "yes"\n')
    res = run(full, "claim", "src/x.py", agent="beta")
    assert res.code == 2, res.out + res.err
    assert "has invalid settings: claims.ignorecase" in res.err and "Traceback" not in res.err
    stage(full, "src/x.py")
    hooked = commit(full, "-m", "x", agent="beta")
    assert hooked.returncode == 1
    assert (
        "claims.ignorecase: 'yes' is not true or false" in hooked.stderr and "Traceback" not in hooked.stderr
    )


def test_notion_setup_in_a_sparse_checkout_keeps_the_team_config(tmp_path: Path) -> None:
    from .fake_notion import FakeNotion

    remote, _ = _team(tmp_path)
    sparse = _sparse_clone(tmp_path, remote)
    fake = FakeNotion().start()
    try:
        env = {"NOTION_TOKEN": fake.token, "NOTION_BASE_URL": fake.base_url, "GITCOORD_NOTION_RATE": "1000"}
        res = run(sparse, "notion", "setup", "--parent", fake.add_parent_page(), "--json", env=env)
    finally:
        fake.stop()
    assert res.code == 0, res.err
    written = tomllib.loads((sparse / ".coord" / "config.toml").read_text())
    assert written["coord"] == {"branch": "team-coord"} and written["hooks"] == {"mode": "strict"}
    assert written["review"] == {"reviewers": ["boss@example.com"]} and written["notion"]["databases"]


def _git_processes(repo: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, name: str) -> list[str]:
    """The git commands `Workspace.open` and the ignorecase read run, from git's own trace."""
    from gitcoord.workspace import Workspace

    trace = tmp_path / f"{name}.trace"
    monkeypatch.setenv("GIT_TRACE2_EVENT", str(trace))
    workspace = Workspace.open(repo)
    assert workspace.ignorecase is False and workspace.branch == "team-coord"
    monkeypatch.delenv("GIT_TRACE2_EVENT")
    events = [json.loads(line) for line in trace.read_text().splitlines()]
    return [" ".join(e["argv"][1:3]) for e in events if e["event"] == "start"]


def test_the_hooks_pay_a_git_process_for_the_config_only_without_a_work_tree_file(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    remote, full = _team(tmp_path)
    sparse = _sparse_clone(tmp_path, remote)
    assert _git_processes(full, tmp_path, monkeypatch, "full") == [
        "rev-parse --path-format=absolute",
        "config -z",
    ]
    assert _git_processes(sparse, tmp_path, monkeypatch, "sparse") == [
        "rev-parse --path-format=absolute",
        "cat-file --batch",
        "config -z",
    ]
    from gitcoord import Coordinator

    with Coordinator(full, agent="beta") as coord:
        coord.claim(["src/x.py"])
        assert coord._config is None  # claim never paid for HEAD's reviewers
        assert coord.config.review.reviewers == ["boss@example.com"]


def test_the_server_fence_reads_the_team_config_from_the_bare_repository(tmp_path: Path) -> None:
    """pre-receive runs in the bare remote, which has no work tree: HEAD's config names the
    branch and the case rule there too."""
    remote, full = _team(tmp_path, '[coord]\nbranch = "team-coord"\n\n[claims]\nignorecase = true\n')
    server = run(remote, "hooks", "install", "--server")
    assert server.code == 0, server.err
    assert run(full, "claim", "Src/API.py", agent="alpha").code == 0
    stage(full, "src/api.py")
    assert commit(full, "--no-verify", "-m", "sneaky", agent="beta").returncode == 0
    pushed = subprocess.run(
        ["git", "push", "-q", "--no-verify", "origin", "HEAD:main"],
        cwd=full,
        capture_output=True,
        text=True,
        env=dict(os.environ, GITCOORD_AGENT="beta"),
    )
    assert pushed.returncode != 0 and "push to refs/heads/main refused" in pushed.stderr
    assert "src/api.py" in pushed.stderr and "Src/API.py" in pushed.stderr
