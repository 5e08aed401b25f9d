"""Writers SIGKILLed at random points, for every kind of write, in both modes.

tests/test_races.py kills `claim` in remote mode only; here every kind of write
(claim, release, check-in, task add, task next, log-error, send) is killed at
a random moment of its run, through a real process, on a file:// remote and in
local mode from a worktree. After each kill:

- `git fsck --strict` is clean in every repository involved;
- the coord ref is at the old commit or at a child of it whose message has
  every trailer, whose `Coord-Rev` is `meta.toml`'s rev, and whose tree
  differs from the old one only in the records the trailer names (plus meta):
  nothing half-written;
- every record of every kind parses (`Snapshot.skipped` is empty);
- in remote mode the clone's copy of the branch never diverges from the remote;
- the same kind of write, run again, succeeds.

The killed process is the leader of its own session and the check waits until
every process of that session (a `git push` it started, say) is gone: a write
that was already handed to git may still land, and that is allowed, but it
must land whole before we look.
"""

from __future__ import annotations

import random
import subprocess
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import pytest

from gitcoord import Coordinator
from gitcoord.doctor import MODELS
from gitcoord.records import Summary
from gitcoord.store import ROOT

from ..conftest import World, git, kill_mid_write, run

TRAILERS = ("Coord-Agent", "Coord-Action", "Coord-Rev", "Coord-Records")
KILLS_PER_KIND = 3
# A cold write takes about 0.3 s on this machine; kill points spread over all of it and a little
# before (still importing) and after (already done), so every phase gets hit across the runs.
KILL_WINDOW = (0.02, 0.45)


@dataclass
class Place:
    """Where the writes run: `work` runs the commands, `repos` are fsck'd, `authority` holds the truth."""

    work: Path
    repos: list[Path]
    authority: Path
    remote_mode: bool


@pytest.fixture(params=["remote", "local-worktree"])
def place(request: pytest.FixtureRequest, world: World, tmp_path: Path) -> Place:
    if request.param == "remote":
        return Place(world.clones[0], [world.clones[0], world.remote], world.remote, True)
    # Local mode: the repository of the seed has no remote; agents work in its worktrees.
    repo = world.root / "seed"
    assert run(repo, "init").code == 0
    wt = tmp_path / "wt-alpha"
    git(repo, "worktree", "add", "-q", str(wt))
    return Place(wt, [repo], repo, False)


# -- the kinds of write: a precondition (in-process, fast) and the argv of the killed write -------


def _claimed(p: Place, i: int) -> list[str]:
    assert run(p.work, "claim", f"pre/{i}.py", agent="alpha").code == 0
    return []


def _has_task(p: Place, i: int) -> list[str]:
    assert run(p.work, "task", "add", f"task {i}", "--resource", f"tasks/{i}.py", agent="alpha").code == 0
    return []


def _nothing(p: Place, i: int) -> list[str]:
    return []


Kind = tuple[Callable[[Place, int], list[str]], Callable[[int], list[str]]]
KINDS: dict[str, Kind] = {
    "claim": (_nothing, lambda i: ["claim", f"k/{i}.py", "-m", "crash test"]),
    "release": (_claimed, lambda i: ["release", f"pre/{i}.py", "-m", "done"]),
    "check-in": (_claimed, lambda i: ["check-in", f"pre/{i}.py", "--progress", "40", "-m", "halfway"]),
    "task-add": (_nothing, lambda i: ["task", "add", f"crash {i}", "--resource", f"t/{i}.py"]),
    "task-next": (_has_task, lambda i: ["task", "next"]),
    "log-error": (_nothing, lambda i: ["log-error", "--type", "other", "--severity", "low", f"boom {i}"]),
    "send": (_nothing, lambda i: ["send", "--to", "any", f"note {i}"]),
}


def _tip(repo: Path) -> str:
    return git(repo, "rev-parse", "--verify", "-q", "refs/heads/coord", check=False)


def _fsck(repo: Path) -> None:
    res = subprocess.run(
        ["git", "fsck", "--no-progress", "--strict"], cwd=repo, capture_output=True, text=True
    )
    assert res.returncode == 0, f"git fsck in {repo}: {res.stdout}{res.stderr}"


def _changed_paths(repo: Path, old: str, new: str) -> set[str]:
    out = git(repo, "diff-tree", "-r", "--name-only", "--no-commit-id", old, new)
    return set(out.splitlines())


def _check_landed_whole(repo: Path, old: str, new: str) -> None:
    """`new` is a child of `old` with all its trailers, and changes only what it says it changes."""
    assert git(repo, "rev-parse", f"{new}^") == old, "the new tip is not a child of the old one"
    body = git(repo, "log", "-1", "--format=%B", new)
    found = {line.partition(": ")[0]: line.partition(": ")[2] for line in body.splitlines() if ": " in line}
    missing = [t for t in TRAILERS if t not in found]
    assert not missing, f"trailers missing {missing} in:\n{body}"
    assert found["Coord-Agent"] == "alpha"
    rev = int(found["Coord-Rev"])
    assert f"rev = {rev}" in git(repo, "show", f"{new}:{ROOT}/meta.toml")
    records = {r.strip() for r in found["Coord-Records"].split(",") if r.strip()}
    for path in _changed_paths(repo, old, new) - {f"{ROOT}/meta.toml"}:
        stem = path.rsplit("/", 1)[1].removesuffix(".toml")
        assert stem in records, f"{path} changed but the commit names only {records}"


def _check_records_parse(work: Path) -> None:
    with Coordinator(work) as c:
        snap = c.snapshot(fetch=c.store.remote is not None)
        for model in MODELS:
            snap.records(model)
        for name, entry in snap.entries(f"{ROOT}/{Summary.directory}").items():
            if entry.is_tree:
                snap.records(Summary, subdir=name)
        assert snap.skipped == []


def _check_no_divergence(place: Place) -> None:
    """Before any fetch: the clone's copies of the branch are the remote's tip or an ancestor of it.

    The clone made every commit the remote could have gained here, so it has them all.
    """
    remote_tip = _tip(place.authority)
    for ref in ("refs/remotes/origin/coord", "refs/heads/coord"):
        mine = git(place.work, "rev-parse", "--verify", "-q", ref, check=False)
        ancestor = subprocess.run(["git", "merge-base", "--is-ancestor", mine, remote_tip], cwd=place.work)
        assert mine and ancestor.returncode == 0, f"{ref} ({mine}) diverged from the remote ({remote_tip})"


@pytest.mark.parametrize("kind", list(KINDS))
def test_sigkill_at_random_points_leaves_old_or_whole_new(place: Place, kind: str) -> None:
    prepare, argv = KINDS[kind]
    rng = random.Random(f"{kind}-{place.remote_mode}")
    for i in range(KILLS_PER_KIND):
        prepare(place, i)
        old = _tip(place.authority)
        kill_mid_write(place.work, argv(i), rng.uniform(*KILL_WINDOW))
        new = _tip(place.authority)
        if new != old:
            _check_landed_whole(place.authority, old, new)
        if place.remote_mode:
            _check_no_divergence(place)
        for repo in place.repos:
            _fsck(repo)
        _check_records_parse(place.work)
    # The next write of the same kind goes through, after all the crashes.
    prepare(place, KILLS_PER_KIND)
    after = run(place.work, *argv(KILLS_PER_KIND), agent="alpha")
    assert after.code == 0, after.err
    assert "Traceback" not in after.err


def test_a_kill_after_the_push_is_healed_by_the_next_read(world: World) -> None:
    """Killed between a successful push and the local mirror: the next read catches up, nothing lost."""
    a = world.clones[0]
    landed = 0
    rng = random.Random(11)
    for i in range(6):
        before = _tip(world.remote)
        kill_mid_write(a, ["claim", f"late/{i}.py"], rng.uniform(0.25, 0.5))
        if _tip(world.remote) != before:
            landed += 1
    claims = run(a, "claims", "--json", agent="alpha")
    assert claims.code == 0
    # Every write the remote accepted is visible from the clone that made it, whatever was killed.
    assert len([c for c in claims.json() if c["resource"].startswith("late/")]) == landed
    assert _tip(world.remote) == git(a, "rev-parse", "refs/remotes/origin/coord")
