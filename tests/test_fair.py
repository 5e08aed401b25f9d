"""Nobody starves: writers in separate clones take turns on a slowed remote (DESIGN §3, "Turns").

The remote sits behind an `ext::` transport that sleeps before every connection, as a hosted
remote's round trip does. The race test counts turns in the remote's history, never seconds.
"""

from __future__ import annotations

import json
import os
import random
import subprocess
import sys
from pathlib import Path

from gitcoord import turns
from gitcoord.turns import Turns

from .conftest import World, git, wait_for

# One writer process: wait for the go file, then claim and release its own file N times.
WRITER = """
import json, sys, time
from pathlib import Path
from gitcoord import Coordinator, GitcoordError
clone, agent, rounds, go = sys.argv[1], sys.argv[2], int(sys.argv[3]), Path(sys.argv[4])
coord = Coordinator(clone, agent=agent)
coord.snapshot()
(go.parent / f"ready-{agent}").write_text("")
while not go.exists():
    time.sleep(0.01)
done, failures = 0, []
for i in range(rounds):
    try:
        coord.claim([f"{agent}/work.py"])
        coord.release([f"{agent}/work.py"])
        done += 1
    except GitcoordError as exc:
        failures.append([exc.exit_code, str(exc)])
coord.close()
print(json.dumps({"agent": agent, "done": done, "failures": failures}))
"""


def slow_remote(world: World, clone: Path, delay: float) -> None:
    """Point `clone` at the world's remote through an ext:: command that sleeps `delay` first."""
    script = world.root / "slow-git"
    script.write_text(f'#!/bin/sh\nsleep {delay}\nexec git "$@"\n')
    script.chmod(0o755)
    git(clone, "config", "protocol.ext.allow", "always")
    git(clone, "remote", "set-url", "origin", f"ext::{script} %s {world.remote}")


def test_holder_of_the_tip_yields_after_contention() -> None:
    seen = Turns(last="c1", streak=turns.TURN_WRITES, lost_at=1000.0, round_trip=0.2)
    assert turns.pause_before(seen, "c1", 1001.0) == 0.5
    assert turns.pause_before(seen, "c0", 1001.0) == 0.0  # not the holder: it must fetch anyway
    # A turn is TURN_WRITES writes: the holder yields after each full turn, not between.
    during = [turns.pause_before(Turns("c1", n, 1000.0, 0.2), "c1", 1001.0) for n in range(1, 13)]
    assert [n for n, pause in enumerate(during, 1) if pause] == [4, 8, 12]
    late = Turns(last="c1", streak=3, lost_at=1000.0, round_trip=0.2)
    assert turns.pause_before(late, "c1", 1000.0 + 60) == 0.0  # contention long ago, short run
    assert turns.pause_before(late, "c1", 999.0) == 0.0  # a clock that went back is no evidence


def test_a_writer_alone_looks_for_others_rarely() -> None:
    waits = [
        n
        for n in range(1, 200)
        if turns.pause_before(Turns(last="c", streak=n, round_trip=0.1), "c", 0.0) > 0
    ]
    assert waits == [4, 8, 16, 32, 64, 96, 128, 160, 192]


def test_losers_back_off_less_the_longer_they_waited() -> None:
    state = Turns(round_trip=0.2)
    rng = random.Random(3)
    first = [turns.backoff(1, state, rng) for _ in range(200)]
    fifth = [turns.backoff(5, state, rng) for _ in range(200)]
    assert max(first) <= 0.1 and max(fifth) <= 0.02
    assert sum(fifth) < sum(first) / 3


def test_the_writer_that_just_had_its_turn_sits_out_the_next_handover(tmp_path: Path) -> None:
    keeper = turns.Keeper(tmp_path)
    keeper._state = Turns(last="c4", streak=turns.TURN_WRITES, lost_at=0.0, round_trip=0.2)
    keeper.swapped("c4", "x", won=False, seconds=0.2)  # lost right after a full turn of its own
    owed = keeper.backoff(1)
    assert turns.SIT_OUT_ROUND_TRIPS * 0.2 <= owed <= turns.SIT_OUT_ROUND_TRIPS * 0.2 + 0.1
    assert keeper.backoff(1) <= 0.1  # paid once, not on every retry
    keeper.swapped("c5", "y", won=False, seconds=0.2)  # a second loss in a row: no turn before it
    assert keeper.backoff(2) <= 0.05
    # A sit-out never takes more than a quarter of what is left of the write's retry budget.
    keeper._state = Turns(last="c6", streak=turns.TURN_WRITES, round_trip=2.0)
    keeper.swapped("c6", "w", won=False, seconds=2.0)
    assert 2.0 <= keeper.backoff(1, budget=8.0) <= 3.0
    # A short run (someone jumped in between writes of a writer that was not racing) owes nothing.
    short = turns.Keeper(None)
    short._state = Turns(last="c2", streak=turns.TURN_WRITES - 1, round_trip=0.2)
    short.swapped("c2", "z", won=False, seconds=0.2)
    assert short.backoff(1) <= 0.1


def test_runs_and_losses_are_remembered(tmp_path: Path) -> None:
    state = turns.landed(Turns(), None, "c1", 0.2)
    state = turns.landed(state, "c1", "c2", 0.1)
    assert (state.last, state.streak, state.lost_at) == ("c2", 2, 0.0)
    assert abs(state.round_trip - 0.17) < 1e-9
    state = turns.lost(state, 50.0, 9.0)  # a stalled push is not a round trip
    assert (state.streak, state.lost_at, state.round_trip) == (0, 50.0, state.round_trip)
    turns.save(tmp_path, state)
    assert turns.load(tmp_path) == state
    (tmp_path / turns.TURNS_FILE).write_text("{not json")
    assert turns.load(tmp_path) == Turns()


def test_three_writers_on_a_slow_remote_take_turns(world: World, tmp_path: Path) -> None:
    rounds = 8  # each round is two writes: claim, then release
    clones = world.clones[:3]
    for clone in clones:
        slow_remote(world, clone, 0.05)
    go = tmp_path / "go"
    agents = [f"w{i}" for i in range(len(clones))]
    procs = [
        subprocess.Popen(
            [sys.executable, "-c", WRITER, str(clone), agent, str(rounds), str(go)],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            env=dict(os.environ),
        )
        for clone, agent in zip(clones, agents, strict=True)
    ]
    wait_for(lambda: all((tmp_path / f"ready-{a}").exists() for a in agents), "the writers to be ready")
    go.write_text("")
    reports = []
    for proc in procs:
        out, err = proc.communicate(timeout=300)
        assert proc.returncode == 0, err
        reports.append(json.loads(out))
    # Every writer finished every round: nobody gave up (exit 4), nobody was refused.
    assert [(r["done"], r["failures"]) for r in reports] == [(rounds, [])] * len(agents)
    # Turns, counted in the remote's history: when the first writer had landed all its writes,
    # every other writer had landed a fair share of its own. (Before a writer that just had its
    # turn sat out the next handover, chance alone left one writer of three without a turn here
    # in about 3% of runs; with it the turns go round, 12 writes each or close.)
    order = [
        s.split(":")[0] for s in git(world.remote, "log", "--reverse", "--format=%s", "coord").splitlines()
    ]
    order = [a for a in order if a in agents]
    assert len(order) == 2 * rounds * len(agents)
    landed = dict.fromkeys(agents, 0)
    for agent in order:
        landed[agent] += 1
        if landed[agent] == 2 * rounds:
            break
    assert min(landed.values()) >= rounds // 2, (landed, order)
