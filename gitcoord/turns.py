"""Turns between writers of one coord ref that share nothing but the remote (DESIGN §3, "Turns").

With a remote, the writer that landed the last write already holds the remote's tip: its next
write is one push. Every other writer needs a fetch and a push, so it arrives a round trip later
and loses again, write after write, until its retry time runs out. The compare-and-swap stays the
only judge of what lands; this module only decides WHEN a writer tries:

- a writer that holds the tip waits `YIELD_ROUND_TRIPS` of its own push time before it writes
  again, after every `TURN_WRITES` landings in a row when it lost a race not long ago (contention
  it saw), and otherwise once its run reaches 4, 8, 16, 32, 64, 96, ... (a look for writers it
  cannot see: nobody can tell it, since a lost push leaves no trace on the remote). A turn of
  several writes keeps most of the one-push-per-write rate of a holder: each handover costs a
  wait and a fetch, and fewer handovers cost less;
- a writer that lost backs off less the more it lost in a row, so the one that waited longest
  tends to try first;
- a writer whose first lost race comes right after a full turn of its own sits out about one turn
  of the writer that took over, so that at the next handover the writers that waited longer are
  the only ones racing: with three writers the turns go round, not to whoever happens to fetch
  first (a chance that, left alone, skips one writer for many turns in a row).

The state is a few numbers per clone in `<common-dir>/gitcoord-state/turns.json`: what this clone
landed last, its run of landings, when it last lost, and its push time. It is advice: a missing or
damaged file means "no history", and two processes of one clone writing it at once lose nothing
that matters.
"""

from __future__ import annotations

import contextlib
import functools
import json
import os
import random
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass
from pathlib import Path

from gitcoord.constants import STATE_DIR

TURNS_FILE = f"{STATE_DIR}/turns.json"
# A holder waits this many of its own push times: long enough for a writer that just lost to
# back off, fetch and push (two round trips and its backoff of at most half of one).
YIELD_ROUND_TRIPS = 2.5
# Writes a holder lands in a row, under contention, before it yields its turn.
TURN_WRITES = 4
# A writer that lost right after a full turn waits this many push times: the next holder's turn
# (TURN_WRITES pushes, each with its commit built, and its yield) and a little more.
SIT_OUT_ROUND_TRIPS = TURN_WRITES * 1.25 + YIELD_ROUND_TRIPS
# ...only if its last landing is this recent (in its push times, and at least CONTENDED_MIN_SECONDS).
RECENT_ROUND_TRIPS = 10
# A lost race counts as "contention seen" for this many push times (and at least MIN seconds).
CONTENDED_ROUND_TRIPS = 40
CONTENDED_MIN_SECONDS = 5.0
# Without contention seen, a holder still looks after this many landings on its own tip, then
# at every power of two, and at least every LISTEN_EVERY: the cost to a writer alone is one wait
# per LISTEN_EVERY writes once its run is long.
LISTEN_FROM = 4
LISTEN_EVERY = 32
# Push times outside this range are measurement noise (a stalled machine, a cached answer).
MIN_ROUND_TRIP = 0.005
MAX_ROUND_TRIP = 2.0
DEFAULT_ROUND_TRIP = 0.1
SMOOTHING = 0.3  # weight of the newest push time in the running average


@dataclass
class Turns:
    """What one clone remembers of its last writes."""

    last: str = ""  # the commit this clone landed last
    streak: int = 0  # landings in a row, each on this clone's previous landing
    lost_at: float = 0.0  # wall time of the last lost race (0: none remembered)
    round_trip: float = 0.0  # running average of this clone's push time, in seconds
    landed_at: float = 0.0  # wall time of its last landing (0: none remembered)

    def holds(self, tip: str | None) -> bool:
        """Is `tip` this clone's own last landing (so its next push needs no fetch)?"""
        return bool(self.last) and self.last == tip

    def rtt(self) -> float:
        return min(MAX_ROUND_TRIP, max(MIN_ROUND_TRIP, self.round_trip or DEFAULT_ROUND_TRIP))


def pause_before(turns: Turns, tip: str | None, now: float) -> float:
    """Seconds a writer about to push on `tip` waits first, so that others get their turn.

    >>> pause_before(Turns(last="c1", streak=4, lost_at=100.0, round_trip=0.2), "c1", 101.0)
    0.5
    >>> pause_before(Turns(last="c1", streak=4, lost_at=100.0, round_trip=0.2), "c2", 101.0)
    0.0
    """
    if not turns.holds(tip):
        return 0.0
    rtt = turns.rtt()
    since_lost = now - turns.lost_at
    if turns.lost_at and 0 <= since_lost <= max(CONTENDED_MIN_SECONDS, CONTENDED_ROUND_TRIPS * rtt):
        yields = turns.streak > 0 and turns.streak % TURN_WRITES == 0
    else:
        yields = _listens_at(turns.streak)
    return YIELD_ROUND_TRIPS * rtt if yields else 0.0


def _listens_at(streak: int) -> bool:
    if streak < LISTEN_FROM:
        return False
    return streak & (streak - 1) == 0 or streak % LISTEN_EVERY == 0


def backoff(losses: int, turns: Turns, rng: random.Random | None = None) -> float:
    """Seconds a writer waits after its `losses`-th lost race in a row: less the more it lost."""
    cap = turns.rtt() / (2 * max(1, losses))
    return (rng or random).uniform(0, cap)


def sits_out(before: Turns, won: bool, now: float) -> float:
    """Seconds a writer waits, beyond its backoff, after a swap whose clone held `before`.

    Only a race lost right after a full turn of its own (a run of TURN_WRITES or more whose last
    landing is recent: a yield and a push ago) sits out: the writer that just had its turn lets
    the others have theirs. A run that ended long ago is no turn being handed over.

    >>> sits_out(Turns(last="c1", streak=4, round_trip=0.2, landed_at=100.0), won=False, now=101.0)
    1.5
    >>> sits_out(Turns(last="c1", streak=3, round_trip=0.2, landed_at=100.0), won=False, now=101.0)
    0.0
    >>> sits_out(Turns(last="c1", streak=9, round_trip=0.2, landed_at=100.0), won=False, now=4000.0)
    0.0
    """
    since = now - before.landed_at
    recent = 0 <= since <= max(CONTENDED_MIN_SECONDS, RECENT_ROUND_TRIPS * before.rtt())
    if won or before.streak < TURN_WRITES or not (before.landed_at and recent):
        return 0.0
    return SIT_OUT_ROUND_TRIPS * before.rtt()


def landed(turns: Turns, old: str | None, new: str, push_seconds: float, now: float | None = None) -> Turns:
    """After a write landed on `old` as `new` (at wall time `now`)."""
    streak = turns.streak + 1 if turns.holds(old) else 1
    at = time.time() if now is None else now
    return Turns(new, streak, turns.lost_at, _averaged(turns.round_trip, push_seconds), at)


def lost(turns: Turns, now: float, push_seconds: float) -> Turns:
    """After a lost race."""
    return Turns(turns.last, 0, now, _averaged(turns.round_trip, push_seconds), turns.landed_at)


def _averaged(mean: float, sample: float) -> float:
    if not MIN_ROUND_TRIP <= sample <= MAX_ROUND_TRIP:
        return mean
    return sample if not mean else (1 - SMOOTHING) * mean + SMOOTHING * sample


def load(common_dir: Path) -> Turns:
    """This clone's turns; no history if the file is missing or not what this module writes."""
    try:
        data = json.loads((common_dir / TURNS_FILE).read_text())
        found = Turns(
            str(data["last"]),
            int(data["streak"]),
            float(data["lost_at"]),
            float(data["round_trip"]),
            float(data.get("landed_at", 0.0)),  # absent in the files of older versions
        )
    except (OSError, ValueError, KeyError, TypeError):
        return Turns()
    return found


def save(common_dir: Path, turns: Turns) -> None:
    """Write the state whole (temp file, then rename); a failure only loses advice."""
    path = common_dir / TURNS_FILE
    temp = path.with_name(f"{path.name}.{os.getpid()}.tmp")
    try:
        # Only the state directory is made: a clone moved or deleted meanwhile is not made again.
        path.parent.mkdir(exist_ok=True)
        temp.write_text(json.dumps(asdict(turns)))
        os.replace(temp, path)
    except OSError:
        with contextlib.suppress(OSError):
            temp.unlink(missing_ok=True)


class Keeper:
    """One store's turns: read from the clone's state on first use, saved after every swap."""

    def __init__(self, common_dir: Path | None) -> None:
        self.common_dir = common_dir
        self._state: Turns | None = None
        self._sit_out = 0.0  # owed by the last lost race, paid with the next backoff

    @property
    def state(self) -> Turns:
        if self._state is None:
            self._state = load(self.common_dir) if self.common_dir is not None else Turns()
        return self._state

    def pause(self, tip: str | None) -> float:
        return pause_before(self.state, tip, time.time())

    def backoff(self, losses: int, budget: float | None = None) -> float:
        """The wait after a lost race; a sit-out owed is paid here, once, and never takes more
        than a quarter of what is left of the write's retry `budget` (seconds)."""
        owed, self._sit_out = self._sit_out, 0.0
        if budget is not None:
            owed = min(owed, max(0.0, budget) / 4)
        return owed + backoff(losses, self.state)

    def swapped(
        self,
        old: str | None,
        new: str,
        won: bool,
        seconds: float,
        later: Callable[[Callable[[], object]], None] | None = None,
    ) -> None:
        """Remember a compare-and-swap; the file is saved now, or by `later` (after the answer:
        this store's next write reads the state it holds, another process's the file)."""
        state = self.state
        now = time.time()
        self._sit_out = sits_out(state, won, now)
        self._state = landed(state, old, new, seconds, now) if won else lost(state, now, seconds)
        if self.common_dir is not None:
            job = functools.partial(save, self.common_dir, self._state)
            if later is None:
                job()
            else:
                later(job)
