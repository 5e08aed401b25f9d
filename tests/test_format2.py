"""Store format 2 (issue 14): each agent's own ref takes the writes only it makes.

A check-in (or `start`) that changes nothing but the agent's own record lands on
`refs/coord/agents/<name>` and leaves the shared ref alone; readers merge the two copies of an
agent's record by its write count; the history walks every coord ref; a store of format 1 is read
but never written until `gitcoord migrate`; a gitcoord that knows format 1 only refuses format 2.
All with real git: local refs, a bare remote and clones, the previous release run as a process.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from tests.conftest import World, git, make_repo, plant_records, run, spawn, wait_for

SHARED = "refs/heads/coord"
# The last commit whose gitcoord knows format 1 only (it refuses a newer format, DESIGN §2).
FORMAT_1_RELEASE = "74c4c9977cc7d940b7bb0c5f10279bf44e203ce4"
HALF_LEASE_AND_A_MINUTE = str(16 * 60)  # the default lease is 30 minutes


def _tip(repo: Path, ref: str = SHARED) -> str:
    return git(repo, "rev-parse", "--verify", "-q", ref, check=False)


def _status(repo: Path, agent: str = "alpha") -> dict[str, dict[str, object]]:
    res = run(repo, "status", "--json", agent=agent)
    assert res.code == 0, res
    return {a["name"]: a for a in res.json()["agents"]}


def test_a_check_in_with_lease_to_spare_lands_on_the_agents_own_ref_only(local_repo: Path) -> None:
    assert run(local_repo, "claim", "src/a.py", "-m", "on it", agent="alpha").code == 0
    shared = _tip(local_repo)
    claim_before = git(local_repo, "show", f"{SHARED}:.coord/claims/C-1.toml")
    later = {"GITCOORD_CLOCK_SKEW_SECONDS": "120"}

    res = run(local_repo, "check-in", "-m", "on it", agent="alpha", env=later)  # words unchanged

    assert res.code == 0, res
    assert "C-1 held" in res.out and "renewed" in res.out
    assert _tip(local_repo) == shared  # nobody else's write had to wait for this one
    own = git(local_repo, "show", "refs/coord/agents/alpha:.coord/agents/alpha.toml")
    assert (
        git(local_repo, "ls-tree", "-r", "--name-only", "refs/coord/agents/alpha")
        == ".coord/agents/alpha.toml"
    )
    assert git(local_repo, "show", f"{SHARED}:.coord/claims/C-1.toml") == claim_before
    seen = _status(local_repo, "beta")["alpha"]
    assert f'last_check_in = "{seen["last_check_in"]}"' in own
    assert seen["last_check_in"] > git(local_repo, "log", "-1", "--format=%cI", SHARED)[:19]
    actions = [e["action"] for e in run(local_repo, "log", "--json", agent="beta").json()]
    assert actions[:2] == ["check-in", "claim"], actions  # one trail over both refs


def test_a_check_in_that_changes_a_claims_progress_or_words_writes_the_claim(local_repo: Path) -> None:
    assert run(local_repo, "claim", "src/a.py", agent="alpha").code == 0
    shared = _tip(local_repo)

    res = run(local_repo, "check-in", "--progress", "40", "-m", "tests pass", "--json", agent="alpha")

    assert res.code == 0 and res.json()["renewed"] == ["C-1"], res
    assert _tip(local_repo) != shared
    claim = git(local_repo, "show", f"{SHARED}:.coord/claims/C-1.toml")
    assert "progress = 40" in claim and 'message = "tests pass"' in claim
    again = run(local_repo, "check-in", "--progress", "40", "--json", agent="alpha")  # nothing new
    assert again.json()["renewed"] == [] and again.json()["kept"] == ["C-1"]
    assert git(local_repo, "log", "-1", "--format=%s", SHARED) == "alpha: check-in src/a.py"


def test_a_check_in_renews_on_the_shared_ref_once_half_the_lease_is_gone(local_repo: Path) -> None:
    assert run(local_repo, "claim", "src/a.py", agent="alpha").code == 0
    shared = _tip(local_repo)
    later = {"GITCOORD_CLOCK_SKEW_SECONDS": HALF_LEASE_AND_A_MINUTE}

    res = run(local_repo, "check-in", "--json", agent="alpha", env=later)

    assert res.code == 0, res
    assert res.json()["renewed"] == ["C-1"] and res.json()["kept"] == []
    assert _tip(local_repo) != shared
    assert git(local_repo, "log", "-1", "--format=%s", SHARED) == "alpha: check-in src/a.py"


def test_a_check_in_at_the_time_it_was_told_renews_even_within_the_same_second(
    local_repo: Path,
) -> None:
    """`next_check_in` is half a lease away; a check-in then, to the second, must renew."""
    from datetime import UTC, datetime, timedelta

    from gitcoord.coordinator import Coordinator

    t0 = datetime(2026, 11, 27, 12, 0, 0, tzinfo=UTC)
    with Coordinator(local_repo, agent="alpha") as coord:
        coord.store.clock = lambda: t0
        coord.claim(["src/a.py"], minutes=30)
        due = coord.check_in(minutes=30)["next_check_in"]
        coord.store.clock = lambda: due
        at_due = coord.check_in()
    assert due == t0 + timedelta(minutes=15)
    assert at_due["renewed"] == ["C-1"] and at_due["kept"] == []
    claim = git(local_repo, "show", f"{SHARED}:.coord/claims/C-1.toml")
    assert 'expires_at = "2026-11-27T12:45:00Z"' in claim


def test_naming_a_claim_or_a_lease_renews_it_now(local_repo: Path) -> None:
    assert run(local_repo, "claim", "src/a.py", "src/b.py", agent="alpha").code == 0
    assert run(local_repo, "check-in", "src/a.py", "--json", agent="alpha").json()["renewed"] == ["C-1"]
    both = run(local_repo, "check-in", "--minutes", "45", "--json", agent="alpha").json()
    assert sorted(both["renewed"]) == ["C-1", "C-2"] or both["renewed"] == ["C-1"]  # one claim, two files
    assert both["kept"] == []


def test_the_later_copy_of_an_agents_record_wins_whichever_ref_holds_it(local_repo: Path) -> None:
    assert run(local_repo, "start", agent="alpha").code == 0  # on its own ref
    assert run(local_repo, "check-in", "-m", "one", agent="alpha").code == 0  # own ref again
    assert _status(local_repo)["alpha"]["message"] == "one"
    assert run(local_repo, "claim", "src/a.py", agent="alpha").code == 0  # shared
    assert _status(local_repo)["alpha"]["resource"] == "src/a.py"
    assert run(local_repo, "check-in", agent="alpha").code == 0  # own ref
    shared = git(local_repo, "show", f"{SHARED}:.coord/agents/alpha.toml")
    own = git(local_repo, "show", "refs/coord/agents/alpha:.coord/agents/alpha.toml")
    assert "seq = 3" in shared and "seq = 4" in own
    assert _status(local_repo)["alpha"]["last_check_in"] in own
    assert run(local_repo, "release", "src/a.py", agent="alpha").code == 0  # shared, seq 5
    assert "seq = 5" in git(local_repo, "show", f"{SHARED}:.coord/agents/alpha.toml")
    assert _status(local_repo)["alpha"]["resource"] == ""  # the release's copy, not the own ref's
    # The release's bookkeeping stands: a later check-in reports nothing lost.
    res = run(local_repo, "check-in", "--json", agent="alpha")
    assert res.code == 0 and res.json()["lost"] == [], res


def test_a_takeover_is_still_reported_as_lost_through_the_own_ref(local_repo: Path) -> None:
    assert run(local_repo, "claim", "src/a.py", agent="alpha").code == 0
    assert run(local_repo, "check-in", agent="alpha").code == 0  # own ref: held = C-1
    dead = {"GITCOORD_CLOCK_SKEW_SECONDS": str(3 * 3600)}
    assert run(local_repo, "claim", "src/a.py", agent="beta", env=dead).code == 0  # takes C-1 over

    res = run(local_repo, "check-in", "--json", agent="alpha", env=dead)

    assert res.code == 3, res
    assert [x["id"] for x in res.json()["lost"]] == ["C-1"]


def test_an_agent_name_git_refuses_as_a_ref_is_spelled_in_hex(local_repo: Path) -> None:
    assert run(local_repo, "start", agent="a..b").code == 2  # no record key holds `..`
    for name in ("x.lock", "dot."):
        assert run(local_repo, "start", agent=name).code == 0, name
        ref = "refs/coord/agents/_" + name.encode().hex()
        assert f"name = {name!r}".replace("'", '"') in git(
            local_repo, "show", f"{ref}:.coord/agents/{name}.toml"
        )
    assert {"x.lock", "dot."} <= set(_status(local_repo))


def test_two_processes_of_one_agent_checking_in_at_once_both_land(local_repo: Path) -> None:
    assert run(local_repo, "start", agent="alpha").code == 0
    env = dict(os.environ, GITCOORD_AGENT="alpha")
    procs = [
        subprocess.Popen(
            [sys.executable, "-m", "gitcoord", "-C", str(local_repo), "check-in", "-m", f"p{i}"],
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
        )
        for i in range(4)
    ]
    assert [p.wait(timeout=120) for p in procs] == [0, 0, 0, 0]
    count = git(local_repo, "rev-list", "--count", "refs/coord/agents/alpha")
    assert count == "5"  # the start and four check-ins, none lost


def test_with_a_remote_a_check_in_pushes_the_own_ref_and_teammates_fetch_it(world: World) -> None:
    first, second = world.clones[0], world.clones[1]
    shared = git(world.remote, "rev-parse", SHARED)

    assert run(first, "check-in", "--progress", "70", agent="alpha").code == 0  # holding nothing

    assert git(world.remote, "rev-parse", SHARED) == shared
    assert git(world.remote, "rev-parse", "refs/coord/agents/alpha") == _tip(
        first, "refs/coord/remotes/origin/agents/alpha"
    )
    res = run(second, "status", "--fetch", "--json", agent="beta")
    assert res.code == 0, res
    assert {a["name"]: a for a in res.json()["agents"]}["alpha"]["progress"] == 70


def test_a_format_1_store_is_read_but_not_written_until_migrated(world: World) -> None:
    first, second = world.clones[0], world.clones[1]
    assert run(first, "claim", "src/a.py", agent="alpha").code == 0
    plant_records(first, {".coord/meta.toml": "format = 1\nrev = 1\n"}, "as format 1 left it")
    git(first, "push", "-q", "origin", f"{SHARED}:{SHARED}")
    old = git(world.remote, "rev-parse", SHARED)

    refused = run(second, "check-in", agent="beta")
    assert refused.code == 4, refused
    assert "is format 1; this gitcoord writes format 2 only" in refused.err
    assert "gitcoord migrate" in refused.err
    assert git(world.remote, "rev-parse", SHARED) == old
    assert git(world.remote, "for-each-ref", "refs/coord") == ""
    assert run(second, "claims", "--fetch", agent="beta").code == 0  # reads still work

    res = run(second, "migrate", "--json")
    assert res.code == 0, res
    assert res.json() == {"branch": "coord", "from": 1, "to": 2, "migrated": True}
    assert git(world.remote, "rev-parse", f"{SHARED}~1") == old  # one write
    assert "format = 2" in git(world.remote, "show", f"{SHARED}:.coord/meta.toml")
    assert run(second, "migrate", "--json").json()["migrated"] is False
    assert run(first, "check-in", "-m", "after", agent="alpha").code == 0


@pytest.fixture(scope="module")
def format_1_gitcoord(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The last gitcoord that knew format 1 only (the commit before this format), as a tree on disk.

    A checkout without the project's history (a shallow clone) gets this gitcoord with its format
    set back to 1 instead: it then writes every record on the shared ref and refuses a newer store,
    as that release does."""
    here = Path(__file__).resolve().parent.parent
    where = tmp_path_factory.mktemp("format1")
    found = subprocess.run(["git", "archive", FORMAT_1_RELEASE, "gitcoord"], cwd=here, capture_output=True)
    if found.returncode == 0:
        subprocess.run(["tar", "-x", "-C", str(where)], input=found.stdout, check=True)
        return where
    shutil.copytree(here / "gitcoord", where / "gitcoord", ignore=shutil.ignore_patterns("__pycache__"))
    constants = where / "gitcoord" / "constants.py"
    text = constants.read_text()
    assert "\nSTORE_FORMAT = 2\n" in text
    constants.write_text(text.replace("\nSTORE_FORMAT = 2\n", "\nSTORE_FORMAT = 1\n"))
    return where


def test_a_gitcoord_that_knows_format_1_only_refuses_a_format_2_store(
    world: World, format_1_gitcoord: Path
) -> None:
    first, second = world.clones[0], world.clones[1]
    assert run(first, "check-in", agent="alpha").code == 0
    before = {ref: git(world.remote, "rev-parse", ref) for ref in (SHARED, "refs/coord/agents/alpha")}
    env = dict(os.environ, PYTHONPATH=str(format_1_gitcoord), GITCOORD_AGENT="beta", GITCOORD_WARM="0")
    for args in (["claim", "src/b.py"], ["check-in"], ["status", "--fetch"]):
        # Run from the clone: `python -m` puts the working directory first on the path.
        res = subprocess.run(
            [sys.executable, "-m", "gitcoord", *args],
            cwd=second,
            env=env,
            capture_output=True,
            text=True,
        )
        assert res.returncode == 4, (args, res.stderr)
        assert "is format 2, newer than this gitcoord knows (format 1)" in res.stderr
    assert {ref: git(world.remote, "rev-parse", ref) for ref in before} == before
    assert spawn(second, "claim", "src/b.py", agent="beta").code == 0  # this gitcoord writes it


@pytest.mark.parametrize("mode", ["local", "remote"])
def test_a_takeover_racing_the_holders_check_in_has_exactly_one_winner(
    mode: str, local_repo: Path, world: World
) -> None:
    """The holder's lease is dead by both clocks: its renewing check-in and a teammate's takeover
    both write the shared ref, so one compare-and-swap lands first and the other judges again."""
    holder = local_repo if mode == "local" else world.clones[0]
    taker = local_repo if mode == "local" else world.clones[1]
    dead = {"GITCOORD_CLOCK_SKEW_SECONDS": str(2 * 3600)}
    for round_ in range(3):
        resource = f"src/r{round_}.py"
        assert run(holder, "claim", resource, agent="alpha").code == 0
        if mode == "remote":
            assert run(taker, "claims", "--fetch", agent="beta").code == 0
        procs = [
            subprocess.Popen(
                [sys.executable, "-m", "gitcoord", "-C", str(where), *args],
                env=dict(os.environ, **dead, GITCOORD_AGENT=agent),
                stdout=subprocess.PIPE,
                stderr=subprocess.PIPE,
            )
            for where, agent, args in ((holder, "alpha", ["check-in"]), (taker, "beta", ["claim", resource]))
        ]
        codes = [p.wait(timeout=120) for p in procs]
        assert sorted(codes) == [0, 3], codes  # one landed; the other was refused on the new tip
        held = (
            run(taker, "claims", "--fetch", "--json", agent="beta")
            if mode == "remote"
            else run(taker, "claims", "--json", agent="beta")
        )
        owners = [c["agent"] for c in held.json() if c["resource"] == resource]
        assert owners == (["alpha"] if codes[0] == 0 else ["beta"]), (codes, owners)
        assert run(holder, "release", "--all", agent="alpha", env=dead).code in (0, 3)
        assert run(taker, "release", "--all", agent="beta", env=dead).code in (0, 3)


def test_a_host_that_refuses_atomic_pushes_serves_a_format_2_team(world: World) -> None:
    """No write spans two refs, so a remote without `--atomic` (receive.advertiseAtomic=false,
    as some hosts answer) takes every write: claims on the shared ref, check-ins on the own refs."""
    git(world.remote, "config", "receive.advertiseAtomic", "false")
    first, second = world.clones[0], world.clones[1]
    assert run(first, "start", agent="alpha").code == 0
    assert run(first, "claim", "src/a.py", agent="alpha").code == 0
    assert run(first, "check-in", agent="alpha").code == 0
    assert run(second, "claim", "src/a.py", agent="beta").code == 3
    assert git(world.remote, "rev-list", "--count", "refs/coord/agents/alpha") == "2"
    res = subprocess.run(
        ["git", "push", "--atomic", "origin", "HEAD:refs/heads/probe"],
        cwd=first,
        capture_output=True,
        text=True,
    )
    assert res.returncode != 0 and "atomic" in res.stderr  # the remote does refuse atomic pushes


def test_migrating_under_a_live_team_of_the_previous_release_never_splits_the_store(
    world: World, format_1_gitcoord: Path
) -> None:
    """Agents on the previous release keep claiming and releasing on a format-1 store while one
    clone migrates it: every write of theirs lands before the migration or is refused after it."""
    env = dict(os.environ, PYTHONPATH=str(format_1_gitcoord), GITCOORD_WARM="0")
    loop = (
        "for i in $(seq 1 400); do"
        " python -m gitcoord claim src/$GITCOORD_AGENT.py >/dev/null 2>>err || exit $?;"
        " python -m gitcoord release src/$GITCOORD_AGENT.py >/dev/null 2>>err || exit $?; done"
    )
    # The store as the previous release made it (init here made format 2: plant format 1 back).
    plant_records(world.clones[0], {".coord/meta.toml": "format = 1\nrev = 0\n"}, "format 1")
    git(world.clones[0], "push", "-q", "-f", "origin", f"{SHARED}:{SHARED}")
    old = [world.clones[1], world.clone("d")]
    for clone in old:
        git(clone, "fetch", "-q", "origin", f"+{SHARED}:refs/remotes/origin/coord")
    team = [
        subprocess.Popen(
            ["sh", "-c", loop],
            cwd=clone,
            env=dict(env, GITCOORD_AGENT=name, PATH=f"{Path(sys.executable).parent}:{env['PATH']}"),
        )
        for clone, name in zip(old, ("old1", "old2"), strict=True)
    ]
    try:
        wait_for(
            lambda: int(git(world.remote, "rev-list", "--count", SHARED)) >= 6, "the old team writing", 120
        )
        migrated = run(world.clones[0], "migrate", "--json")
        assert migrated.code == 0 and migrated.json()["migrated"] is True, migrated
        codes = [p.wait(timeout=300) for p in team]
    finally:
        for p in team:
            p.kill()
    assert codes == [4, 4], codes  # both stopped at their first write after the migration
    for clone in old:
        assert "is format 2, newer than this gitcoord knows (format 1)" in (clone / "err").read_text()
    subjects = git(world.remote, "log", "--format=%s", SHARED).splitlines()
    assert subjects[0] == "gitcoord: migrate store format 1 to 2", subjects[:3]  # nothing after it
    assert run(world.clones[0], "claim", "src/new.py", agent="alpha").code == 0


def test_a_store_kept_locally_is_published_with_its_agents_own_refs(tmp_path: Path) -> None:
    """`init --remote` publishes a local store as it is: its agents' latest check-ins too, which
    the clone reads through the remote from then on."""
    repo = make_repo(tmp_path / "repo")
    assert run(repo, "init").code == 0
    assert run(repo, "claim", "src/a.py", agent="alpha").code == 0
    later = {"GITCOORD_CLOCK_SKEW_SECONDS": "60"}
    assert run(repo, "check-in", agent="alpha", env=later).code == 0  # on its own ref
    seen = _status(repo)["alpha"]["last_check_in"]
    remote = tmp_path / "remote.git"
    git(tmp_path, "init", "-q", "--bare", str(remote))
    git(repo, "remote", "add", "origin", str(remote))

    res = run(repo, "init", "--remote", "origin")

    assert res.code == 0, res
    assert git(remote, "rev-parse", "refs/coord/agents/alpha") == git(
        repo, "rev-parse", "refs/coord/agents/alpha"
    )
    assert _status(repo)["alpha"]["last_check_in"] == seen
    migrate = run(repo, "migrate", "--json")
    assert migrate.json()["migrated"] is False
