"""hooks.mode = "auto" (issue 15): claims that follow the work, with real git.

The editor guard claims an unclaimed path on the agent's first edit; pre-commit claims the
commit's unclaimed paths, all or nothing. Worktrees for the agents, a bare remote for the
remote-down case, real `git commit` through installed hooks.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from gitcoord.constants import AGENT_ENV, CLOCK_SKEW_ENV

from .conftest import World, git, make_repo, run
from .test_guard import claude_call
from .test_hooks import commit, stage


def guard(
    cwd: Path, call: dict[str, Any], agent: str | None, env: dict[str, str] | None = None
) -> subprocess.CompletedProcess[str]:
    full = dict(os.environ, **(env or {}))
    full.pop(AGENT_ENV, None)
    if agent:
        full[AGENT_ENV] = agent
    return subprocess.run(
        [sys.executable, "-m", "gitcoord", "guard", "--format", "claude"],
        input=json.dumps(call),
        cwd=cwd,
        capture_output=True,
        text=True,
        env=full,
    )


def denial(res: subprocess.CompletedProcess[str]) -> str:
    assert res.returncode == 0, res.stderr
    out = json.loads(res.stdout)["hookSpecificOutput"]
    assert out["permissionDecision"] == "deny"
    return str(out["permissionDecisionReason"])


def allowed(res: subprocess.CompletedProcess[str]) -> bool:
    return res.returncode == 0 and res.stdout == ""


def set_mode(repo: Path, mode: str) -> None:
    """Commit hooks.mode into the shared config, as a team would (worktrees see HEAD's file)."""
    path = repo / ".coord" / "config.toml"
    text = path.read_text()
    assert 'mode = "others"' in text
    path.write_text(text.replace('mode = "others"', f'mode = "{mode}"'))
    git(repo, "add", ".coord/config.toml")
    git(repo, "commit", "-q", "--no-verify", "-m", f"hooks.mode = {mode}")


def coord_commits(repo: Path, ref: str = "refs/heads/coord") -> int:
    return int(git(repo, "rev-list", "--count", ref))


def claims_json(repo: Path) -> list[dict[str, Any]]:
    res = run(repo, "claims", "--json", "--no-fetch")
    assert res.code == 0, res.err
    return list(res.json())


@pytest.fixture
def team(tmp_path: Path) -> tuple[Path, Path]:
    """alpha's main work tree and beta's worktree of one local repository, in auto mode."""
    alpha = make_repo(tmp_path / "alpha")
    assert run(alpha, "init").code == 0
    set_mode(alpha, "auto")
    beta = tmp_path / "beta"
    git(alpha, "worktree", "add", "-q", "-b", "beta-work", str(beta))
    return alpha, beta


def test_first_edit_claims_and_the_other_agent_is_denied(team: tuple[Path, Path]) -> None:
    alpha, beta = team
    before = coord_commits(alpha)
    first = guard(alpha, claude_call(alpha, "Write", str(alpha / "src/api.py")), "alpha")
    assert allowed(first), first.stdout + first.stderr
    assert coord_commits(alpha) == before + 1  # one write
    [claim] = claims_json(alpha)
    assert (claim["agent"], claim["resource"], claim["mode"]) == ("alpha", "src/api.py", "exclusive")
    assert claim["auto"] is True and claim["message"] == "auto: first edit"
    assert 29 * 60 <= claim["seconds_left"] <= 30 * 60  # the default lease
    other = denial(guard(beta, claude_call(beta, "Edit", str(beta / "src/api.py")), "beta"))
    assert f"src/api.py is claimed: alpha's exclusive claim {claim['id']} on src/api.py" in other
    assert "request-help --to alpha" in other
    assert coord_commits(alpha) == before + 1  # a denial writes nothing
    # beta's first edit, from its worktree, claims for beta on the ref both share
    assert allowed(guard(beta, claude_call(beta, "Write", str(beta / "src/b.py")), "beta"))
    assert [(c["agent"], c["resource"], c["auto"]) for c in claims_json(alpha)] == [
        ("alpha", "src/api.py", True),
        ("beta", "src/b.py", True),
    ]
    assert "beta's exclusive claim" in denial(
        guard(alpha, claude_call(alpha, "Edit", str(alpha / "src/b.py")), "alpha")
    )


def test_a_path_already_held_costs_no_write(team: tuple[Path, Path]) -> None:
    alpha, beta = team
    assert run(beta, "claim", "lib/", "-m", "lib work", agent="beta").code == 0
    assert allowed(guard(alpha, claude_call(alpha, "Write", str(alpha / "src/a.py")), "alpha"))
    count = coord_commits(alpha)
    for _ in range(3):
        assert allowed(guard(alpha, claude_call(alpha, "Edit", str(alpha / "src/a.py")), "alpha"))
        assert allowed(guard(beta, claude_call(beta, "Edit", str(beta / "lib/x/y.py")), "beta"))
    assert coord_commits(alpha) == count
    by_resource = {c["resource"]: c for c in claims_json(alpha)}
    assert set(by_resource) == {"lib/", "src/a.py"}
    assert by_resource["lib/"]["auto"] is False and by_resource["lib/"]["message"] == "lib work"


def test_renews_only_when_less_than_half_the_lease_is_left(team: tuple[Path, Path]) -> None:
    alpha, _ = team
    assert allowed(guard(alpha, claude_call(alpha, "Write", str(alpha / "src/a.py")), "alpha"))
    [first] = claims_json(alpha)
    count = coord_commits(alpha)
    # 14 minutes on: 16 of 30 left, more than half: no write.
    assert allowed(
        guard(
            alpha,
            claude_call(alpha, "Edit", str(alpha / "src/a.py")),
            "alpha",
            env={CLOCK_SKEW_ENV: str(14 * 60)},
        )
    )
    assert coord_commits(alpha) == count
    # 20 minutes on: 10 left, less than half: one renewal, same claim and token.
    assert allowed(
        guard(
            alpha,
            claude_call(alpha, "Edit", str(alpha / "src/a.py")),
            "alpha",
            env={CLOCK_SKEW_ENV: str(20 * 60)},
        )
    )
    assert coord_commits(alpha) == count + 1
    assert git(alpha, "log", "-1", "--format=%s", "refs/heads/coord").startswith("alpha: auto-claim")
    [renewed] = claims_json(alpha)
    assert (renewed["id"], renewed["token"], renewed["auto"]) == (first["id"], first["token"], True)
    assert renewed["expires_at"] > first["expires_at"]


def test_no_identity_is_denied_with_the_fix(team: tuple[Path, Path]) -> None:
    alpha, _ = team
    count = coord_commits(alpha)
    reason = denial(guard(alpha, claude_call(alpha, "Write", str(alpha / "src/a.py")), None))
    assert "auto mode" in reason and "no agent identity" in reason
    assert "gitcoord start --agent NAME" in reason
    assert coord_commits(alpha) == count


def test_a_path_under_another_agents_shared_claim_is_left_alone(team: tuple[Path, Path]) -> None:
    alpha, beta = team
    assert run(beta, "claim", "docs/", "--shared", agent="beta").code == 0
    count = coord_commits(alpha)
    assert allowed(guard(alpha, claude_call(alpha, "Write", str(alpha / "docs/a.md")), "alpha"))
    assert coord_commits(alpha) == count
    assert [c["agent"] for c in claims_json(alpha)] == ["beta"]


def test_a_path_another_agent_holds_is_denied_as_today_and_writes_nothing(team: tuple[Path, Path]) -> None:
    alpha, beta = team
    assert run(beta, "claim", "lib/**/*.py", agent="beta").code == 0
    count = coord_commits(alpha)
    reason = denial(guard(alpha, claude_call(alpha, "Write", str(alpha / "lib/x/y.py")), "alpha"))
    assert "lib/x/y.py is claimed: beta's exclusive claim" in reason
    assert coord_commits(alpha) == count


def test_remote_down_denies_with_the_reason_and_a_retry_then_works(world: World) -> None:
    a = world.clones[0]
    set_mode(a, "auto")
    count = coord_commits(a, "refs/remotes/origin/coord")
    away = world.root / "remote-away.git"
    world.remote.rename(away)
    try:
        reason = denial(guard(a, claude_call(a, "Write", str(a / "src/a.py")), "alpha"))
    finally:
        away.rename(world.remote)
    assert "auto mode could not claim src/a.py for alpha, so this edit is denied" in reason
    assert "remote" in reason.lower()
    assert "retry" in reason.lower()
    assert coord_commits(a, "refs/remotes/origin/coord") == count
    assert claims_json(a) == []
    assert allowed(guard(a, claude_call(a, "Write", str(a / "src/a.py")), "alpha"))
    [claim] = claims_json(a)
    assert claim["auto"] is True and claim["agent"] == "alpha"
    # the write went to the remote: another clone sees it after a fetch and is denied
    b = world.clones[1]
    git(b, "fetch", "-q", "origin", "coord:refs/remotes/origin/coord")
    assert "alpha's exclusive claim" in denial(guard(b, claude_call(b, "Edit", str(b / "src/a.py")), "beta"))


def test_a_hung_remote_denies_before_the_editor_gives_up_on_the_guard(world: World) -> None:
    """The editors run the guard with a timeout (10 s as `integrate` writes it), and an editor
    whose hook timed out lets the edit through. A remote that does not answer must be met
    with a deny inside that time, not with the store's own, longer timeouts."""
    from gitcoord.hooks.auto import GUARD_WRITE_SECONDS
    from gitcoord.hooks.editors import GUARD_TIMEOUT_SECONDS

    a = world.clones[0]
    set_mode(a, "auto")
    release = world.root / "release-the-remote"
    hang = f"while [ ! -e '{release}' ]; do sleep 0.1; done;"
    git(a, "config", "remote.origin.uploadpack", f"{hang} git-upload-pack")
    git(a, "config", "remote.origin.receivepack", f"{hang} git-receive-pack")
    try:
        reason = denial(guard(a, claude_call(a, "Write", str(a / "src/a.py")), "alpha"))
    finally:
        release.touch()
    assert GUARD_WRITE_SECONDS < GUARD_TIMEOUT_SECONDS
    assert "auto mode could not claim src/a.py for alpha, so this edit is denied" in reason
    assert f"gave no answer within {GUARD_WRITE_SECONDS:.0f} s" in reason
    git(a, "config", "--unset", "remote.origin.uploadpack")
    git(a, "config", "--unset", "remote.origin.receivepack")
    assert allowed(guard(a, claude_call(a, "Write", str(a / "src/a.py")), "alpha"))


def test_a_race_the_local_copy_missed_is_refused_at_write_time(world: World) -> None:
    """beta's local copy of the coord branch is old; the write fetches and finds alpha's claim."""
    a, b = world.clones[0], world.clones[1]
    set_mode(a, "auto")
    git(a, "push", "-q", "origin", "HEAD")
    git(b, "pull", "-q", "origin", "main")
    git(b, "fetch", "-q", "origin", "coord:refs/remotes/origin/coord")
    assert run(a, "claim", "src/a.py", agent="alpha").code == 0
    reason = denial(guard(b, claude_call(b, "Write", str(b / "src/a.py")), "beta"))
    assert "auto mode could not claim src/a.py for beta" in reason
    assert "alpha" in reason
    assert [c["agent"] for c in claims_json(b)] == ["alpha"]


# -- pre-commit ------------------------------------------------------------------------


def test_a_commit_claims_its_unclaimed_paths(team: tuple[Path, Path]) -> None:
    alpha, beta = team
    assert run(alpha, "hooks", "install", "--mode", "auto").code == 0
    assert allowed(guard(alpha, claude_call(alpha, "Write", str(alpha / "src/held.py")), "alpha"))
    stage(alpha, "src/held.py")
    stage(alpha, "src/new.py")
    stage(alpha, "docs/a b.md")
    done = commit(alpha, "-m", "alpha's work", agent="alpha")
    assert done.returncode == 0, done.stderr
    claims = {c["resource"]: c for c in claims_json(alpha)}
    assert set(claims) == {"src/held.py", "src/new.py", "docs/a b.md"}
    assert all(c["auto"] and c["agent"] == "alpha" for c in claims.values())
    body = git(alpha, "log", "-1", "--format=%B")
    for c in claims.values():
        assert f"Coord-Claim: {c['id']}@{c['token']}" in body
    # beta's worktree shares the ref: its commit of one of them is refused
    stage(beta, "src/new.py", "beta\n")
    refused = commit(beta, "-m", "beta's", agent="beta")
    assert refused.returncode == 1
    assert f"src/new.py: alpha's exclusive claim {claims['src/new.py']['id']}" in refused.stderr


def test_a_commit_with_a_path_held_by_another_is_refused_and_claims_nothing(team: tuple[Path, Path]) -> None:
    alpha, beta = team
    assert run(alpha, "hooks", "install", "--mode", "auto").code == 0
    assert run(beta, "claim", "src/b.py", agent="beta").code == 0
    stage(alpha, "src/a.py")
    stage(alpha, "src/b.py")
    count = coord_commits(alpha)
    refused = commit(alpha, "-m", "both", agent="alpha")
    assert refused.returncode == 1
    assert (
        "commit refused for alpha" in refused.stderr and "src/b.py: beta's exclusive claim" in refused.stderr
    )
    assert coord_commits(alpha) == count
    assert [c["resource"] for c in claims_json(alpha)] == ["src/b.py"]


def test_a_commit_whose_claim_cannot_be_written_is_refused(world: World) -> None:
    a = world.clones[0]
    set_mode(a, "auto")
    assert run(a, "hooks", "install").code == 0
    stage(a, "src/a.py")
    away = world.root / "remote-away.git"
    world.remote.rename(away)
    try:
        refused = commit(a, "-m", "offline", agent="alpha")
    finally:
        away.rename(world.remote)
    assert refused.returncode == 1
    assert "commit refused: auto mode could not claim src/a.py for alpha" in refused.stderr
    assert git(a, "rev-list", "--count", "HEAD") == "2"  # the seed and the config commit
    done = commit(a, "-m", "online", agent="alpha")
    assert done.returncode == 0, done.stderr
    assert [c["resource"] for c in claims_json(a)] == ["src/a.py"]


def test_a_human_commit_in_auto_mode_claims_nothing(team: tuple[Path, Path]) -> None:
    alpha, _ = team
    assert run(alpha, "hooks", "install", "--mode", "auto").code == 0
    stage(alpha, "notes.txt")
    count = coord_commits(alpha)
    done = commit(alpha, "-m", "by hand")
    assert done.returncode == 0, done.stderr
    assert coord_commits(alpha) == count


def test_literal_names_are_claimed_literally(team: tuple[Path, Path]) -> None:
    """A file named like a glob or a scheme claims that file, not a pattern or a named resource."""
    alpha, beta = team
    for name in ("src/a*.py", "db:x", "w[1].txt"):
        assert allowed(guard(alpha, claude_call(alpha, "Write", str(alpha / name)), "alpha"))
    shown = sorted(c["resource"] for c in claims_json(alpha))
    assert shown == ["[d]b:x", "src/a[*].py", "w[[]1].txt"]
    assert allowed(guard(beta, claude_call(beta, "Write", str(beta / "src/ab.py")), "beta"))
    assert "alpha's" in denial(guard(beta, claude_call(beta, "Write", str(beta / "src/a*.py")), "beta"))
    assert "alpha's" in denial(guard(beta, claude_call(beta, "Write", str(beta / "db:x")), "beta"))


# -- shown as such, configured as such ---------------------------------------------------


def test_auto_claims_are_shown_as_such(team: tuple[Path, Path]) -> None:
    alpha, _ = team
    assert allowed(guard(alpha, claude_call(alpha, "Write", str(alpha / "src/a.py")), "alpha"))
    assert run(alpha, "claim", "src/b.py", agent="alpha").code == 0
    table = run(alpha, "claims", "--no-fetch")
    assert table.code == 0
    rows = {line.split()[2]: line for line in table.out.splitlines() if "src/" in line}
    assert "exclusive, auto" in rows["src/a.py"] and "auto" not in rows["src/b.py"]
    status = run(alpha, "status", "--no-fetch")
    assert status.code == 0 and "exclusive, auto" in status.out
    assert [c["auto"] for c in run(alpha, "status", "--json", "--no-fetch").json()["claims"]] == [True, False]
    started = run(alpha, "start", agent="alpha")
    assert started.code == 0 and "src/a.py (exclusive, auto, yours)" in started.out
    assert "Auto mode: your first edit of a file (and a commit) claims it for you" in started.out
    assert "Claim before you edit" not in started.out
    assert run(alpha, "start", "--json", agent="alpha").json()["hooks_mode"] == "auto"


def test_mode_auto_is_accepted_and_a_bad_mode_names_it(local_repo: Path) -> None:
    res = run(local_repo, "hooks", "install", "--mode", "auto", "--json")
    assert res.code == 0 and res.json()["mode"] == "auto"
    hook = (local_repo / ".git" / "hooks" / "pre-commit").read_text()
    assert " auto " in hook
    bad = run(local_repo, "hooks", "install", "--mode", "sometimes")
    assert bad.code == 2 and "'auto'" in bad.err
    path = local_repo / ".coord" / "config.toml"
    path.write_text(path.read_text().replace('mode = "others"', 'mode = "automatic"'))
    refused = run(local_repo, "claims")
    assert refused.code == 2
    assert "hooks.mode" in refused.err and "'auto'" in refused.err
    assert "Traceback" not in refused.err


HEAVY = ("pydantic", "git", "click", "rich", "gitcoord.coordinator", "gitcoord.autoclaim")
_PROBE = """
import json, sys
from gitcoord.hooks.guard import run_guard
code, out = run_guard("claude", sys.stdin.read())
print(json.dumps({"code": code, "out": out, "heavy": [m for m in %r if m in sys.modules]}))
"""


def probe_guard(cwd: Path, call: dict[str, Any], agent: str) -> dict[str, Any]:
    """The guard run in a fresh interpreter, and which heavy modules it imported."""
    env = dict(os.environ, **{AGENT_ENV: agent})
    res = subprocess.run(
        [sys.executable, "-c", _PROBE % (HEAVY,)],
        input=json.dumps(call),
        cwd=cwd,
        capture_output=True,
        text=True,
        env=env,
    )
    assert res.returncode == 0, res.stderr
    return dict(json.loads(res.stdout))


def test_a_held_path_imports_nothing_heavy_and_a_first_edit_does(team: tuple[Path, Path]) -> None:
    alpha, _ = team
    first = probe_guard(alpha, claude_call(alpha, "Write", str(alpha / "src/a.py")), "alpha")
    assert first["out"] == "" and "gitcoord.coordinator" in first["heavy"]  # it wrote
    held = probe_guard(alpha, claude_call(alpha, "Edit", str(alpha / "src/a.py")), "alpha")
    assert held == {"code": 0, "out": "", "heavy": []}


def test_doctor_probes_the_guard_in_auto_mode_without_claiming(local_repo: Path) -> None:
    """doctor's probe call is an edit nobody makes: in auto mode it must not claim its path."""
    repo = local_repo
    set_mode(repo, "auto")
    assert run(repo, "integrate", "claude").code == 0
    count = coord_commits(repo)
    for agent in ("alpha", None):  # with an identity (would claim) and without (would deny)
        res = run(repo, "doctor", "--json", agent=agent)
        found = [f for f in res.json()["findings"] if f["check"] == "editor-guard"]
        assert [f["level"] for f in found] == ["ok"], found
        assert "answers a probe call (allow)" in found[0]["message"]
    assert coord_commits(repo) == count
    assert claims_json(repo) == []


def test_claiming_an_auto_claim_explicitly_makes_it_an_ordinary_claim(team: tuple[Path, Path]) -> None:
    alpha, _ = team
    assert allowed(guard(alpha, claude_call(alpha, "Write", str(alpha / "src/a.py")), "alpha"))
    [auto] = claims_json(alpha)
    res = run(alpha, "claim", "src/a.py", "-m", "keeping it", agent="alpha")
    assert res.code == 0, res.err
    [mine] = claims_json(alpha)
    assert (mine["id"], mine["token"], mine["auto"], mine["message"]) == (
        auto["id"],
        auto["token"],
        False,
        "keeping it",
    )


def test_commit_all_claims_through_git_s_temporary_index(team: tuple[Path, Path]) -> None:
    """`git commit -a` stages into a temporary index (GIT_INDEX_FILE): the claim's write must
    neither use nor disturb it."""
    alpha, _ = team
    assert run(alpha, "hooks", "install", "--mode", "auto").code == 0
    (alpha / "README.md").write_text("changed\n")
    done = commit(alpha, "-a", "-m", "edit the readme", agent="alpha")
    assert done.returncode == 0, done.stderr
    assert git(alpha, "show", "--name-only", "--format=", "HEAD") == "README.md"
    assert git(alpha, "status", "--porcelain") == ""
    [claim] = claims_json(alpha)
    assert (claim["resource"], claim["auto"]) == ("README.md", True)
    assert f"Coord-Claim: {claim['id']}@{claim['token']}" in git(alpha, "log", "-1", "--format=%B")


def test_a_path_no_claim_can_name_is_denied_with_the_reason(team: tuple[Path, Path]) -> None:
    alpha, _ = team
    count = coord_commits(alpha)
    for name in ("db:x\\y.py", "a\\b.py"):
        reason = denial(guard(alpha, claude_call(alpha, "Write", str(alpha / name)), "alpha"))
        assert f"auto mode could not claim {name} for alpha, so this edit is denied" in reason
        assert "contains a backslash" in reason
    assert coord_commits(alpha) == count


def test_a_codex_patch_claims_every_path_it_touches_in_one_write(team: tuple[Path, Path]) -> None:
    alpha, beta = team
    patch = (
        "*** Begin Patch\n*** Add File: src/new.py\n+x\n*** Update File: src/old.py\n"
        "*** Move to: src/moved.py\n*** End Patch\n"
    )
    call = {
        "session_id": "s",
        "turn_id": "t",
        "cwd": str(alpha),
        "hook_event_name": "PreToolUse",
        "model": "m",
        "permission_mode": "default",
        "tool_name": "apply_patch",
        "tool_use_id": "c1",
        "tool_input": {"command": patch},
    }
    count = coord_commits(alpha)
    env = dict(os.environ, **{AGENT_ENV: "alpha"})
    res = subprocess.run(
        [sys.executable, "-m", "gitcoord", "guard", "--format", "codex"],
        input=json.dumps(call),
        cwd=alpha,
        capture_output=True,
        text=True,
        env=env,
    )
    assert allowed(res), res.stdout + res.stderr
    assert coord_commits(alpha) == count + 1
    assert sorted(c["resource"] for c in claims_json(alpha)) == ["src/moved.py", "src/new.py", "src/old.py"]
    # all or nothing: beta's patch touching one of them and a free path claims neither
    call["cwd"] = str(beta)
    call["tool_input"] = {"command": patch.replace("src/new.py", "src/free.py")}
    env[AGENT_ENV] = "beta"
    res = subprocess.run(
        [sys.executable, "-m", "gitcoord", "guard", "--format", "codex"],
        input=json.dumps(call),
        cwd=beta,
        capture_output=True,
        text=True,
        env=env,
    )
    assert "src/old.py is claimed: alpha's exclusive claim" in denial(res)
    assert coord_commits(alpha) == count + 1


def test_an_auto_claim_is_released_when_its_work_is_merged(team: tuple[Path, Path]) -> None:
    """The other half of issue 15 releases auto claims on merge (claims.release_on_merge, default
    true); an explicit claim stays."""
    alpha, beta = team
    assert run(alpha, "hooks", "install", "--mode", "auto").code == 0
    assert run(beta, "claim", "src/kept.py", agent="beta").code == 0
    stage(beta, "src/b.py")
    stage(beta, "src/kept.py")
    done = commit(beta, "-m", "beta's work", agent="beta")
    assert done.returncode == 0, done.stderr
    assert {c["resource"]: c["auto"] for c in claims_json(alpha)} == {"src/b.py": True, "src/kept.py": False}
    git(alpha, "merge", "-q", "--no-ff", "-m", "merge beta", "beta-work")  # post-merge runs here
    assert [c["resource"] for c in claims_json(alpha)] == ["src/kept.py"]
    assert "Coord-Merge: refs/heads/main" in git(alpha, "log", "-1", "--format=%B", "refs/heads/coord")
