"""After an unclear write, nothing is stranded (issue 10, "Unclear writes leave claims stranded").

A write that "may or may not have landed" (exit 4) leaves the clone's copy of
the coord branch behind the remote when it did land. Commands that act on "my
claims" must then act on the remote's state, not on the stale copy, and `log`
must be able to show what landed. Two honest ways to get there, both with real
git and a bare remote:

- the write landed and the client never heard: the claim is pushed, then the
  clone's tracking ref (and its mirror `refs/heads/coord`) is put back where it
  was before the push, as if the answer had been lost on the way back;
- the same agent wrote from another clone (another session of it).
"""

from __future__ import annotations

from pathlib import Path

from .conftest import World, git, run

TRACKING = "refs/remotes/origin/coord"


def _remote_claims(world: World) -> list[str]:
    listing = git(world.remote, "ls-tree", "--name-only", "coord", ".coord/claims/")
    return sorted(Path(p).name for p in listing.splitlines())


def _lost_answer(clone: Path, *args: str, agent: str = "alpha") -> str:
    """Run a write that lands, then forget that it did: the clone's refs go back to before it."""
    before = git(clone, "rev-parse", TRACKING)
    res = run(clone, *args, agent=agent)
    assert res.code == 0, res.err
    landed = git(clone, "rev-parse", TRACKING)
    assert landed != before
    git(clone, "update-ref", TRACKING, before)
    git(clone, "update-ref", "refs/heads/coord", before)
    return landed


def test_release_all_releases_a_claim_whose_landing_the_client_never_heard(world: World) -> None:
    a = world.clones[0]
    _lost_answer(a, "claim", "src/x.py")
    assert _remote_claims(world) == ["C-1.toml"]
    res = run(a, "release", "--all", agent="alpha")
    assert res.code == 0, res.err
    assert "released src/x.py (C-1, alpha)" in res.out
    assert "nothing to release" not in res.out
    assert _remote_claims(world) == []


def test_release_all_releases_what_another_session_of_me_claimed(world: World) -> None:
    a, b = world.clones[0], world.clones[1]
    assert run(b, "claim", "src/y.py", agent="alpha").code == 0
    res = run(a, "release", "--all", "--json", agent="alpha")
    assert res.code == 0, res.err
    assert [r["resource"] for r in res.json()] == ["src/y.py"]
    assert _remote_claims(world) == []


def test_release_all_with_nothing_anywhere_says_so(world: World) -> None:
    a = world.clones[0]
    res = run(a, "release", "--all", agent="alpha")
    assert (res.code, res.out.strip()) == (0, "nothing to release.")


def test_release_by_resource_and_by_id_after_a_lost_answer(world: World) -> None:
    a = world.clones[0]
    _lost_answer(a, "claim", "src/x.py")
    _lost_answer(a, "claim", "src/z.py")
    ids = [name.removesuffix(".toml") for name in _remote_claims(world)]
    assert len(ids) == 2
    by_name = run(a, "release", "src/x.py", agent="alpha")
    assert by_name.code == 0 and f"released src/x.py ({ids[0]}, alpha)" in by_name.out, by_name.err
    by_id = run(a, "release", ids[1], agent="alpha")
    assert by_id.code == 0 and f"released src/z.py ({ids[1]}, alpha)" in by_id.out, by_id.err
    assert _remote_claims(world) == []


def test_log_fetches_by_default_and_shows_the_write_that_landed(world: World) -> None:
    a = world.clones[0]
    landed = _lost_answer(a, "claim", "src/x.py")
    stale = run(a, "log", "--no-fetch", "--json", agent="alpha")
    assert stale.code == 0, stale.err
    assert landed not in [e["commit"] for e in stale.json()]
    fresh = run(a, "log", "--json", agent="alpha")
    assert fresh.code == 0, fresh.err
    first = fresh.json()[0]
    assert (first["commit"], first["agent"], first["action"]) == (landed, "alpha", "claim")
    assert "src/x.py" in first["subject"]
    again = run(a, "log", "--fetch", "--json", agent="alpha")
    assert again.json()[0]["commit"] == landed


def test_log_with_the_remote_gone_is_exit_4_and_no_fetch_still_reads(world: World) -> None:
    a = world.clones[0]
    assert run(a, "claim", "src/x.py", agent="alpha").code == 0
    world.remote.rename(world.root / "gone.git")
    res = run(a, "log", agent="alpha")
    assert res.code == 4, res.err
    assert "cannot be reached" in res.err and "Traceback" not in res.err
    local = run(a, "log", "--no-fetch", "--json", agent="alpha")
    assert local.code == 0 and local.json()[0]["action"] == "claim", local.err


def test_check_in_renews_a_claim_whose_landing_the_client_never_heard(world: World) -> None:
    a = world.clones[0]
    _lost_answer(a, "claim", "src/x.py", "--minutes", "10")
    old = run(world.clones[1], "claims", "--json", agent="beta").json()[0]
    later = {"GITCOORD_CLOCK_SKEW_SECONDS": "300"}
    res = run(a, "check-in", "--json", agent="alpha", env=later)
    assert res.code == 0, res.err
    assert res.json()["renewed"] == ["C-1"] and res.json()["lost"] == []
    now = run(world.clones[1], "claims", "--json", agent="beta").json()[0]
    assert now["id"] == "C-1" and now["expires_at"] > old["expires_at"]


def test_check_in_by_name_renews_what_another_session_of_me_claimed(world: World) -> None:
    a, b = world.clones[0], world.clones[1]
    assert run(b, "claim", "src/y.py", agent="alpha").code == 0
    res = run(a, "check-in", "src/y.py", "--progress", "40", "--json", agent="alpha")
    assert res.code == 0, res.err
    assert res.json()["renewed"] == ["C-1"]
    assert run(b, "claims", "--json", agent="beta").json()[0]["progress"] == 40


def test_start_and_claims_show_my_claim_that_landed_unheard(world: World) -> None:
    a = world.clones[0]
    _lost_answer(a, "claim", "src/x.py")
    mine = run(a, "claims", "--json", agent="alpha")
    assert [(c["resource"], c["mine"]) for c in mine.json()] == [("src/x.py", True)]
    _lost_answer(a, "claim", "src/w.py")
    ctx = run(a, "start", "--json", agent="alpha")
    assert ctx.code == 0, ctx.err
    assert sorted(c["resource"] for c in ctx.json()["active_claims"] if c["mine"]) == ["src/w.py", "src/x.py"]


def test_release_all_cannot_say_nothing_when_it_cannot_see_the_remote(world: World) -> None:
    a = world.clones[0]
    world.remote.rename(world.root / "gone.git")
    res = run(a, "release", "--all", agent="alpha")
    assert res.code == 4, res.out + res.err
    assert "cannot be reached" in res.err and "nothing to release" not in res.out
    assert "Traceback" not in res.err


def test_release_all_in_local_mode_needs_no_remote(local_repo: Path) -> None:
    assert run(local_repo, "claim", "src/x.py", agent="alpha").code == 0
    res = run(local_repo, "release", "--all", agent="alpha")
    assert res.code == 0 and "released src/x.py" in res.out, res.err
    again = run(local_repo, "release", "--all", agent="alpha")
    assert (again.code, again.out.strip()) == (0, "nothing to release.")
