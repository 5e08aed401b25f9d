"""Clock skew: the documented bound on how far ahead a taker's clock may run."""

from __future__ import annotations

from ..conftest import World, run

MINUTE = 60


def _skewed(minutes: float) -> dict[str, str]:
    return {"GITCOORD_CLOCK_SKEW_SECONDS": str(minutes * MINUTE)}


def test_clock_ten_minutes_ahead_cannot_take_a_live_claim(world: World) -> None:
    a, b = world.clones[0], world.clones[1]
    assert run(a, "claim", "src/live.py", "--minutes", "30", agent="alpha").code == 0
    res = run(b, "claim", "src/live.py", agent="beta", env=_skewed(10))
    assert res.code == 3 and "alpha's exclusive claim" in res.err


def test_bound_is_remaining_lease_plus_grace(world: World) -> None:
    """README: a claim with r minutes left is safe from clocks less than r + grace ahead."""
    a, b = world.clones[0], world.clones[1]
    assert run(a, "claim", "src/short.py", "--minutes", "4", agent="alpha").code == 0
    # r = 4, grace = 5: a clock 8 minutes ahead is inside the bound and is refused ...
    assert run(b, "claim", "src/short.py", agent="beta", env=_skewed(8)).code == 3
    # ... and one 10 minutes ahead is outside it: it sees the claim dead and takes it.
    taken = run(b, "claim", "src/short.py", "--json", agent="beta", env=_skewed(10))
    assert taken.code == 0 and taken.json()[0]["agent"] == "beta"


def test_check_in_at_half_lease_keeps_twenty_minute_skew_out(world: World) -> None:
    a, b = world.clones[0], world.clones[1]
    assert run(a, "claim", "src/kept.py", "--minutes", "30", agent="alpha").code == 0
    # Fifteen minutes later (alpha's view) alpha checks in, renewing to a full lease.
    assert run(a, "check-in", agent="alpha", env=_skewed(15)).code == 0
    # Beta's clock runs 20 minutes ahead of alpha's at that moment: 15 + 20 = 35 minutes.
    assert run(b, "claim", "src/kept.py", agent="beta", env=_skewed(35)).code == 3
