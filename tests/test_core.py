"""The core: init, claim, check-in, release, claims, status, log, in both modes."""

from __future__ import annotations

from pathlib import Path

import pytest

from gitcoord import Coordinator
from gitcoord.records import Claim

from .conftest import World, fetches, git, make_repo, run


def test_init_is_idempotent_and_pushes(world: World) -> None:
    a = world.clones[0]
    assert git(world.remote, "rev-parse", "--verify", "refs/heads/coord")
    again = run(a, "init", "--json")
    assert again.code == 0 and again.json()["created"] is False
    # A fresh clone sees the branch the first clone pushed.
    fresh = run(world.clones[1], "init", "--json")
    assert fresh.json() == {"created": False, "branch": "coord", "remote": "origin", "config_written": True}
    assert (a / ".coord" / "config.toml").exists()


def test_claim_conflict_names_holder_and_next_step(world: World) -> None:
    a, b = world.clones[0], world.clones[1]
    ok = run(
        a, "claim", "modules/power/battery.md", "--minutes", "30", "-m", "writing the module", agent="alpha"
    )
    assert ok.code == 0, ok.err
    refused = run(b, "claim", "modules/power/", agent="beta")
    assert refused.code == 3
    assert "alpha's exclusive claim C-1 on modules/power/battery.md" in refused.err
    assert (
        "since 20" in refused.err and "until 20" in refused.err and 'said "writing the module"' in refused.err
    )
    assert "gitcoord request-help --to alpha" in refused.err and "--wait" in refused.err
    # Nothing of beta's landed on the remote.
    with Coordinator(world.remote) as remote_view:
        claims = remote_view.snapshot().records(Claim)
    assert [(c.agent, c.resource) for c in claims] == [("alpha", "modules/power/battery.md")]


def test_check_in_renews_and_release_deletes(world: World) -> None:
    a, b = world.clones[0], world.clones[1]
    first = run(a, "claim", "src/api.py", "--minutes", "5", "--json", agent="alpha").json()[0]
    ci = run(
        b, "check-in", "--progress", "60", "-m", "Creating assessment questions", "--json", agent="alpha"
    )
    assert ci.code == 0, ci.err
    assert ci.json()["renewed"] == [first["id"]]
    listed = run(b, "claims", "--json").json()
    assert listed[0]["progress"] == 60 and listed[0]["token"] == first["token"]
    assert listed[0]["expires_at"] >= first["expires_at"]
    assert listed[0]["message"] == "Creating assessment questions"
    rel = run(b, "release", "src/api.py", "-m", "done", agent="alpha")
    assert rel.code == 0, rel.err
    assert run(a, "claims", "--json").json() == []
    again = run(a, "release", "src/api.py", agent="alpha")
    assert again.code == 3 and "you hold no claim on src/api.py" in again.err


def test_multi_claim_is_all_or_nothing(world: World) -> None:
    a, b = world.clones[0], world.clones[1]
    assert run(a, "claim", "src/b.py", agent="alpha").code == 0
    refused = run(b, "claim", "src/a.py", "src/b.py", "src/c.py", agent="beta")
    assert refused.code == 3
    held = {c["resource"]: c["agent"] for c in run(b, "claims", "--json").json()}
    assert held == {"src/b.py": "alpha"}
    granted = run(b, "claim", "src/a.py", "src/c.py", "--json", agent="beta").json()
    assert [g["id"] for g in granted] == ["C-2", "C-3"]
    assert [g["token"] for g in granted] == [2, 3]


def test_shared_and_exclusive(world: World) -> None:
    a, b, c = world.clones
    assert run(a, "claim", "--shared", "db:migrations", agent="alpha").code == 0
    assert run(b, "claim", "--shared", "db:migrations", agent="beta").code == 0
    assert run(c, "claim", "db:migrations", agent="gamma").code == 3
    assert run(c, "claim", "db:migrations-2", agent="gamma").code == 0
    # An agent never conflicts with itself: alpha may upgrade while beta shares? No: beta's shared blocks it.
    assert run(a, "claim", "db:migrations", agent="alpha").code == 3
    assert run(b, "release", "db:migrations", agent="beta").code == 0
    assert run(a, "claim", "db:migrations", agent="alpha").code == 0


def test_reclaim_renews_same_token(world: World) -> None:
    a = world.clones[0]
    first = run(a, "claim", "x.py", "--json", agent="alpha").json()[0]
    second = run(a, "claim", "x.py", "--minutes", "60", "--json", agent="alpha").json()[0]
    assert second["id"] == first["id"] and second["token"] == first["token"]
    assert second["expires_at"] > first["expires_at"]


def _grace_zero(repo: Path) -> None:
    (repo / ".coord").mkdir(exist_ok=True)
    (repo / ".coord" / "config.toml").write_text("[lease]\ngrace_minutes = 5\n")


def test_lease_expiry_grace_and_takeover(world: World) -> None:
    a, b = world.clones[0], world.clones[1]
    _grace_zero(a)
    _grace_zero(b)
    old = run(a, "claim", "src/x.py", "--minutes", "10", "--json", agent="alpha").json()[0]
    # 12 minutes later the lease has expired but the grace period protects it.
    late = run(b, "claim", "src/x.py", agent="beta", env={"GITCOORD_CLOCK_SKEW_SECONDS": str(12 * 60)})
    assert late.code == 3 and "grace period" in late.err
    # 16 minutes later it is dead: beta takes it over with a higher token.
    took = run(
        b, "claim", "src/x.py", "--json", agent="beta", env={"GITCOORD_CLOCK_SKEW_SECONDS": str(16 * 60)}
    )
    assert took.code == 0, took.err
    new = took.json()[0]
    assert new["token"] > old["token"] and new["agent"] == "beta"
    body = git(world.remote, "log", "-1", "--format=%B", "coord")
    assert f"Coord-Takeover: {old['id']} (alpha)" in body
    # The old holder's next check-in on it is refused, and names the new holder.
    lost = run(a, "check-in", "src/x.py", agent="alpha")
    assert lost.code == 3
    assert "no longer hold src/x.py" in lost.err and f"beta's ({new['id']}" in lost.err


def test_claims_all_shows_dead(world: World) -> None:
    a = world.clones[0]
    run(a, "claim", "old.py", "--minutes", "1", agent="alpha")
    later = {"GITCOORD_CLOCK_SKEW_SECONDS": str(60 * 60)}
    assert run(a, "claims", "--json", env=later).json() == []
    dead = run(a, "claims", "--all", "--json", env=later).json()
    assert [(c["resource"], c["state"]) for c in dead] == [("old.py", "dead")]


@pytest.mark.parametrize(
    ("resource", "reason"),
    [
        ("/etc/passwd", "absolute"),
        ("src/../secret", ".."),
        ("src/\x07bell", "control"),
        ("", "empty"),
        ("a\\b", "backslash"),
        ("x" * 1100, "1024"),
    ],
)
def test_bad_resources_exit_2(local_repo: Path, resource: str, reason: str) -> None:
    res = run(local_repo, "claim", resource, agent="alpha")
    assert res.code == 2
    assert reason in res.err.lower()
    assert "Traceback" not in res.err


@pytest.mark.parametrize("name", ["Alpha", "-x", "a/b", "../evil", "a" * 41, "al pha"])
def test_bad_agent_names_exit_2(local_repo: Path, name: str) -> None:
    res = run(local_repo, "claim", "x.py", agent=name)
    assert res.code == 2 and "not a valid agent name" in res.err


def test_no_identity_and_not_a_repo(tmp_path: Path, local_repo: Path) -> None:
    res = run(local_repo, "claim", "x.py")
    assert res.code == 2 and "no agent identity" in res.err
    outside = tmp_path / "plain"
    outside.mkdir()
    res = run(outside, "claims")
    assert res.code == 2 and "not inside a git repository" in res.err


def test_uninitialised_store_says_init(tmp_path: Path) -> None:
    repo = make_repo(tmp_path / "bare-start")
    res = run(repo, "claim", "x.py", agent="alpha")
    assert res.code == 2 and "gitcoord init" in res.err


def test_unreachable_remote_exit_4_fast(world: World) -> None:
    b = world.clones[1]
    git(b, "remote", "set-url", "origin", str(world.root / "gone.git"))
    git(b, "update-ref", "-d", "refs/remotes/origin/coord")
    trace = world.root / "trace"
    res = run(b, "claim", "x.py", agent="beta", env={"GIT_TRACE": str(trace)})
    assert res.code == 4, res.err
    assert "cannot be reached" in res.err and "gone.git" in res.err
    # Fast, counted in attempts rather than seconds: one fetch, no retries.
    assert fetches(trace) == 1, trace.read_text()


def test_start_records_session_and_identity(world: World) -> None:
    a = world.clones[0]
    ctx = run(a, "start", "--role", "writes modules", "--json", agent="alpha").json()
    for key in (
        "agent",
        "session_id",
        "messages",
        "active_claims",
        "help_requests",
        "my_tasks",
        "decisions",
        "errors",
    ):
        assert key in ctx
    assert ctx["agent"] == "alpha" and ctx["session_id"].startswith("alpha-")
    # The identity is remembered for this worktree: no flag or env needed now.
    assert run(a, "claim", "y.py").code == 0
    assert run(a, "claims", "--json").json()[0]["agent"] == "alpha"


def test_local_mode_worktrees(local_repo: Path, tmp_path: Path) -> None:
    wt = tmp_path / "wt"
    git(local_repo, "worktree", "add", "-q", str(wt))
    assert run(local_repo, "claim", "src/", agent="alpha").code == 0
    res = run(wt, "claim", "src/main.py", agent="beta")
    assert res.code == 3 and "alpha" in res.err
    assert run(wt, "release", "src/", agent="alpha").code == 0
    assert run(wt, "claim", "src/main.py", agent="beta").code == 0


def test_log_reads_trailers(world: World) -> None:
    a = world.clones[0]
    run(a, "claim", "a.py", agent="alpha")
    run(a, "release", "a.py", agent="alpha")
    entries = run(a, "log", "--json").json()
    assert [e["action"] for e in entries] == ["release", "claim", "init"]
    assert entries[1]["agent"] == "alpha" and entries[1]["records"] == ["C-1", "alpha"]
    assert [e["action"] for e in run(a, "log", "--agent", "alpha", "--json").json()] == ["release", "claim"]


def test_force_release_is_recorded(world: World) -> None:
    a, b = world.clones[0], world.clones[1]
    run(a, "claim", "stuck.py", agent="alpha")
    assert run(b, "release", "stuck.py", "--force").code == 2  # needs a reason
    res = run(b, "release", "stuck.py", "--force", "--reason", "alpha crashed")
    assert res.code == 0, res.err
    body = git(world.remote, "log", "-1", "--format=%B", "coord")
    assert "Coord-Force: alpha crashed" in body and "Coord-Agent: human:human@example.com" in body


def test_malformed_record_is_skipped_with_warning(world: World) -> None:
    a = world.clones[0]
    run(a, "claim", "ok.py", agent="alpha")
    # Plant a broken record by hand, as a careless human might.
    work = world.root / "hand"
    git(world.root, "clone", "-q", "--branch", "coord", str(world.remote), str(work))
    (work / ".coord" / "claims" / "C-999.toml").write_text("this is = = not toml")
    git(work, "add", ".")
    git(work, "commit", "-q", "-m", "broken")
    git(work, "push", "-q", "origin", "coord")
    res = run(a, "status", "--json")
    assert res.code == 0
    assert ".coord/claims/C-999.toml" in res.json()["skipped"]
    assert "skipping malformed record" in res.err
    assert run(a, "claim", "more.py", agent="alpha").code == 0


def test_bare_check_in_reports_a_claim_lost_to_a_takeover(world: World) -> None:
    a, b = world.clones[0], world.clones[1]
    run(a, "claim", "src/q.py", "--minutes", "1", agent="alpha")
    kept = run(a, "claim", "src/kept.py", "--minutes", "60", "--json", agent="alpha").json()[0]
    later = {"GITCOORD_CLOCK_SKEW_SECONDS": "600"}
    assert run(b, "claim", "src/q.py", agent="beta", env=later).code == 0
    # alpha keeps working (a message is a write of its own) before it checks in:
    assert run(a, "send", "--to", "any", "still here", agent="alpha", env=later).code == 0
    res = run(a, "check-in", "--json", agent="alpha", env=later)
    assert res.code == 3
    # 50 of its 60 minutes left: kept as it is, renewed once at most half a lease is left.
    assert res.json()["renewed"] == [] and res.json()["kept"] == [kept["id"]]
    assert res.json()["lost"] == [{"id": "C-1", "resource": "src/q.py", "now_held_by": "beta (C-3)"}]
    assert "lost claims since your last check-in: C-1 on src/q.py, now beta (C-3)'s" in res.err
    # Reported once: the next heartbeat is clean.
    assert run(a, "check-in", agent="alpha", env=later).code == 0


def test_a_new_session_is_told_of_claims_taken_while_it_was_away(world: World) -> None:
    a, b = world.clones[0], world.clones[1]
    assert run(a, "start", agent="alpha").code == 0
    assert run(a, "claim", "src/q.py", "--minutes", "1", agent="alpha").code == 0
    later = {"GITCOORD_CLOCK_SKEW_SECONDS": "600"}
    taken = run(b, "claim", "src/q.py", "--json", agent="beta", env=later).json()[0]
    restarted = run(a, "start", "--json", agent="alpha", env=later)
    assert restarted.code == 0
    assert restarted.json()["lost_claims"] == [  # a start writes the agent's own ref: no revision
        {"id": "C-1", "resource": "src/q.py", "now_held_by": f"beta ({taken['id']})"}
    ]
    text = run(a, "start", agent="alpha", env=later)  # told once: the second start has nothing to say
    assert "taken from you" not in text.out
    assert run(a, "check-in", "--json", agent="alpha", env=later).json()["lost"] == []
    # The text briefing puts it first, with the way back.
    assert run(a, "claim", "src/r.py", "--minutes", "1", agent="alpha", env=later).code == 0
    even_later = {"GITCOORD_CLOCK_SKEW_SECONDS": "1200"}
    assert run(b, "claim", "src/r.py", agent="beta", env=even_later).code == 0
    briefing = run(a, "start", agent="alpha", env=even_later).out.splitlines()
    assert briefing[1].startswith("Claims taken from you since your last write")
    assert "src/r.py: now held by beta" in briefing[2] and "gitcoord claim src/r.py --wait 600" in briefing[2]


def test_own_release_is_not_a_loss_and_check_in_takes_ids(world: World) -> None:
    a = world.clones[0]
    first = run(a, "claim", "x.py", "y.py", "--json", agent="alpha").json()
    assert run(a, "release", "x.py", agent="alpha").code == 0
    res = run(a, "check-in", first[1]["id"], "--json", agent="alpha")
    assert res.code == 0 and res.json()["renewed"] == [first[1]["id"]] and res.json()["lost"] == []
    assert run(a, "check-in", "--json", agent="alpha").json()["lost"] == []


def test_forced_release_is_for_humans_and_by_name(world: World) -> None:
    a, b = world.clones[0], world.clones[1]
    run(a, "claim", "t1.py", agent="alpha")
    run(b, "claim", "t2.py", agent="beta")
    agent_try = run(b, "release", "t1.py", "--force", "--reason", "i want it", agent="beta")
    assert agent_try.code == 3 and "human act" in agent_try.err
    everything = run(b, "release", "--all", "--force", "--reason", "just t1", "t1.py")
    assert everything.code == 2
    assert sorted(c["resource"] for c in run(a, "claims", "--json").json()) == ["t1.py", "t2.py"]
    assert run(b, "release", "t1.py", "--force", "--reason", "alpha is gone").code == 0
    assert [c["resource"] for c in run(a, "claims", "--json").json()] == ["t2.py"]
    # alpha learns of it at its next check-in.
    lost = run(a, "check-in", "--json", agent="alpha")
    assert lost.code == 3 and lost.json()["lost"][0]["resource"] == "t1.py"


def test_log_limit_must_be_positive(world: World) -> None:
    res = run(world.clones[0], "log", "-n", "-5")
    assert res.code == 2 and "Traceback" not in res.err
