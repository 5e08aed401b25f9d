"""Many agents through one remote, then the coord history replayed commit by commit.

Six agent processes (each a stream of cold `gitcoord` commands in its own clone)
claim, renew, release, abandon and take over overlapping resources: files,
directories, globs and a named resource, with no grace, so expiries and
takeovers happen within the test. Afterwards every revision of the remote's
coord branch is replayed:

- never two live, overlapping, conflicting claims of different agents;
- every grant a client was told about (exit 0) is in the history, at the
  revision it was told;
- every refusal named a claim that was live in a tree that was the tip
  while the refused command ran.

Time is counted in turns, not seconds, so the run means the same on an idle and
on a loaded machine: every command is one turn of a shared counter and runs on a
clock (GITCOORD_CLOCK_SKEW_SECONDS) set to STEP seconds per turn from the start,
and a lease lasts LEASE_TURNS turns. How long a command really takes only moves
its clock by that much, which is small against a STEP; every agent runs a fixed
number of turns.
"""

from __future__ import annotations

import json
import os
import random
import subprocess
import threading
import time
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

from gitcoord.git import Git
from gitcoord.leases import is_dead
from gitcoord.overlap import overlaps
from gitcoord.records import Agent, Claim
from gitcoord.resources import parse_resource
from gitcoord.store import Snapshot, Store

from ..conftest import GITCOORD, World, git

AGENTS = [f"r{i}" for i in range(6)]
RESOURCES = ["src/a.py", "src/", "src/*.py", "src/b/**", "src/b/c.py", "docs/x.md", "docs/", "db:migrations"]
TURNS = 12  # commands per agent
STEP = 60.0  # seconds of the agents' clock per turn of the whole team
LEASE_TURNS = 8
# Leases of LEASE_TURNS turns, dead as soon as expired; the give-up time of a contended write is
# made generous, because this test is about what lands, not about how fast.
CONFIG = f"[lease]\nminutes = {LEASE_TURNS * STEP / 60}\ngrace_minutes = 0\n[store]\nretry_seconds = 600\n"
GRACE = timedelta(0)
SLACK = timedelta(seconds=1)  # timestamps on disk are to the second


@dataclass
class Op:
    agent: str
    args: list[str]
    code: int
    out: str
    err: str
    started: datetime  # real time, to compare with when commits landed on the remote
    ended: datetime
    clock: datetime  # the command's own clock when it started (its `now` is this or a little later)


class TeamClock:
    """The turn counter shared by the agents: turn k runs on the clock START + k * STEP."""

    def __init__(self) -> None:
        self.start = time.time()
        self.turn = 0
        self.lock = threading.Lock()

    def next_skew(self) -> tuple[float, datetime]:
        """GITCOORD_CLOCK_SKEW_SECONDS for the next command, and the time it sets."""
        with self.lock:
            self.turn += 1
            at = self.start + self.turn * STEP
        return at - time.time(), datetime.fromtimestamp(int(at), UTC)


def _gitcoord(clone: Path, agent: str, clock: TeamClock, *args: str) -> Op:
    skew, at = clock.next_skew()
    started = datetime.now(UTC)
    res = subprocess.run(
        [*GITCOORD, "-C", str(clone), *args],
        capture_output=True,
        text=True,
        timeout=600,
        env=dict(os.environ, GITCOORD_AGENT=agent, GITCOORD_CLOCK_SKEW_SECONDS=f"{skew:.6f}"),
    )
    return Op(agent, list(args), res.returncode, res.stdout, res.stderr, started, datetime.now(UTC), at)


def _agent_loop(
    clone: Path, agent: str, seed: int, ops: list[Op], lock: threading.Lock, clock: TeamClock
) -> None:
    rng = random.Random(seed)
    held: list[str] = []
    turns = 0
    renewed = False
    while turns < TURNS:
        roll = rng.random()
        # Each agent renews on its very next turn after its first grant, so every run exercises a
        # renewal whatever the scheduling: a handful of the team's turns pass, fewer than a lease.
        if held and (roll < 0.2 or not renewed):
            renewed = True
            op = _gitcoord(clone, agent, clock, "check-in", *held)  # renew (refused if taken over meanwhile)
        elif held and roll < 0.45:
            op = _gitcoord(clone, agent, clock, "release", *held)
            held = [] if op.code == 0 else held
        elif held and roll < 0.55:
            # abandon: the lease runs out (the others' turns move the clock) and someone takes it over
            held = []
            continue
        else:
            wanted = rng.sample(RESOURCES, rng.choice([1, 1, 2]))
            shared = ["--shared"] if rng.random() < 0.2 else []
            op = _gitcoord(clone, agent, clock, "claim", *wanted, *shared, "--json")
            if op.code == 0:
                held = sorted(set(held) | set(wanted))
        if op.code == 3 and op.args[0] == "check-in":
            held = []  # lost to a takeover: forget it, as a well-behaved agent would
        turns += 1
        with lock:
            ops.append(op)


def _landings(remote: Path) -> dict[str, datetime]:
    """When each commit became the remote's tip, from its reflog (a commit's own date is when
    it was made, which under load can be seconds before its push lands)."""
    landed = {}
    for line in (remote / "logs" / "refs" / "heads" / "coord").read_text().splitlines():
        head, _, _ = line.partition("\t")
        fields = head.split(" ")
        landed[fields[1]] = datetime.fromtimestamp(int(fields[-2]), UTC)
    return landed


def _replay(remote: Path) -> tuple[list[tuple[datetime, int, list[Claim]]], list[str], list[str]]:
    """(landing time, rev, claims in the tree) per revision, the violations, and the takeover commits."""
    store = Store(Git(remote))
    landed = _landings(remote)
    revisions, violations, takeovers = [], [], []
    log = git(
        remote,
        "log",
        "--reverse",
        "--format=%H %ct %(trailers:key=Coord-Agent,valueonly,separator=;) "
        "%(trailers:key=Coord-Takeover,valueonly,separator=;)",
        "coord",
    ).splitlines()
    for line in log:
        sha, stamp, writer, *takeover = line.split(" ", 3)
        snap = store.snapshot_at(sha)
        when = _writer_clock(snap, writer) or datetime.fromtimestamp(int(stamp), UTC)
        claims = snap.records(Claim)
        revisions.append((landed.get(sha, when), snap.rev, claims))
        if takeover and takeover[0].strip():
            takeovers.append(takeover[0])
        live = [c for c in claims if not is_dead(c, when, GRACE)]
        for i, a in enumerate(live):
            for b in live[i + 1 :]:
                if (
                    a.agent != b.agent
                    and not (a.mode == b.mode == "shared")
                    and overlaps(parse_resource(a.resource), parse_resource(b.resource))
                ):
                    violations.append(
                        f"rev {snap.rev}: {a.id} {a.agent} {a.resource} / {b.id} {b.agent} {b.resource}"
                    )
    store.git.close()
    return revisions, violations, takeovers


def _writer_clock(snap: Snapshot, writer: str) -> datetime | None:
    """The clock the writer of this commit judged liveness by: every agent write is a heartbeat
    that stamps the agent's record with it (None for a commit that did not touch one)."""
    record = snap.record(Agent, writer) if writer else None
    return record.last_check_in if record and record.updated_rev == snap.rev else None


def _named_holders(err: str) -> list[tuple[str, str]]:
    """(agent, claim id) of every `X overlaps AGENT's MODE claim C-N on ...` line of a refusal."""
    out = []
    for line in err.splitlines():
        _, sep, rest = line.partition(" overlaps ")
        words = rest.split()
        if sep and len(words) >= 4 and words[0].endswith("'s") and words[2] == "claim":
            out.append((words[0][:-2], words[3]))
    return out


def test_history_replay_under_churn(world: World) -> None:
    clones = [
        world.clones[i] if i < len(world.clones) else world.clone(f"agent-{a}") for i, a in enumerate(AGENTS)
    ]
    git(world.remote, "config", "core.logAllRefUpdates", "always")  # landing times, for the replay
    for clone in clones:
        (clone / ".coord").mkdir(exist_ok=True)
        (clone / ".coord" / "config.toml").write_text(CONFIG)
    ops: list[Op] = []
    lock = threading.Lock()
    clock = TeamClock()
    threads = [
        threading.Thread(target=_agent_loop, args=(clone, agent, i, ops, lock, clock))
        for i, (clone, agent) in enumerate(zip(clones, AGENTS, strict=True))
    ]
    for t in threads:
        t.start()
    for t in threads:
        t.join()

    unexpected = [(o.agent, o.args, o.code, o.err[-400:]) for o in ops if o.code not in (0, 3)]
    assert not unexpected, unexpected
    revisions, violations, takeovers = _replay(world.remote)
    assert not violations, violations[:5]

    # No phantom grant: what a client was told it holds is in the tree of the revision it was told.
    by_rev = {rev: {(c.id, c.agent, c.resource, c.token) for c in claims} for _, rev, claims in revisions}
    grants = [o for o in ops if o.args[0] == "claim" and o.code == 0]
    for op in grants:
        for view in json.loads(op.out):
            key = (view["id"], view["agent"], view["resource"], view["token"])
            assert key in by_rev.get(view["updated_rev"], set()), (op.agent, view)

    # Every refusal of a claim named a holder live in a tip of the time the command ran.
    refusals = [o for o in ops if o.args[0] == "claim" and o.code == 3]
    for op in refusals:
        named = _named_holders(op.err)
        assert named, op.err
        # Every revision that was the tip at some moment while the command ran: it landed before
        # the command ended, and the next one landed after the command started.
        window = [
            claims
            for k, (landed, _, claims) in enumerate(revisions)
            if landed <= op.ended + SLACK
            and (k + 1 == len(revisions) or revisions[k + 1][0] >= op.started - SLACK)
        ]
        for agent, cid in named:
            assert any(
                c.id == cid and c.agent == agent and not is_dead(c, op.clock - SLACK, GRACE)
                for claims in window
                for c in claims
            ), (op.err, cid)

    # The run exercised what it is meant to: grants, refusals, renewals, releases and takeovers.
    assert grants and refusals, (len(grants), len(refusals))
    assert any(o.args[0] == "check-in" and o.code == 0 for o in ops)
    assert any(o.args[0] == "release" and o.code == 0 for o in ops)
    assert takeovers, "no takeover happened: leases too long for the run?"
