"""Review of the half-lease boundary (check-in renews at exactly half) and the MCP server's turns
file saved after the answer: findings kept as tests, with real git."""

from __future__ import annotations

import threading
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from gitcoord import turns
from gitcoord.coordinator import Coordinator

from .conftest import World, run


def test_the_check_in_time_a_short_lease_is_told_comes_before_that_lease_ends(local_repo: Path) -> None:
    """`check-in --minutes 10` renews for 10 minutes; the time it tells the agent to come back must
    leave the claim alive, not half the default lease away (15 minutes: dead one second later)."""
    t0 = datetime(2026, 11, 27, 12, 0, 0, tzinfo=UTC)
    with Coordinator(local_repo, agent="alpha") as coord:
        coord.store.clock = lambda: t0
        coord.claim(["src/a.py"], minutes=10)
        told = coord.check_in(minutes=10)["next_check_in"]
        (claim,) = coord.claim(["src/a.py"], minutes=10)  # a renewal: its lease as it now is
    assert claim.expires_at == t0 + timedelta(minutes=10)
    assert told == t0 + timedelta(minutes=5), (told, claim.expires_at)  # half of what is left
    with Coordinator(local_repo, agent="alpha") as coord:
        coord.store.clock = lambda: told
        back = coord.check_in()  # on time, as told: the short claim is renewed, not kept
        assert back["renewed"] == [claim.id] and back["kept"] == []
        coord.claim(["src/long.py"], minutes=120)
        coord.release(["src/a.py"])
        coord.store.clock = lambda: told + timedelta(minutes=1)
        alone = coord.check_in()  # only a long claim left: half the default lease, as before
    assert alone["next_check_in"] == told + timedelta(minutes=1 + 15)


def test_saves_queued_by_one_call_land_in_order_and_a_later_cli_write_reads_the_last(world: World) -> None:
    """Two writes in one MCP call queue two saves behind a move the worker is still busy with; the
    file ends with the second write's state, and the CLI (saving at once) carries it on."""
    pytest.importorskip("mcp", reason="the official `mcp` SDK is not installed")
    from gitcoord.mcp import Tools

    a = world.clones[0]
    common = Path(a) / ".git"
    tools = Tools(a, "alpha")
    gate = threading.Event()
    try:
        tools.call(  # the worker is kept busy until the call has answered
            lambda c: [
                tools.mirrors.later(lambda: gate.wait(120)),
                c.claim(["src/a.py"]),
                c.claim(["src/b.py"]),
            ]
        )
        assert turns.load(common).streak == 0  # nothing saved yet: both saves wait in the queue
        gate.set()
        tools.mirrors.wait()
        after_mcp = turns.load(common)
        assert after_mcp.streak == 2, after_mcp
        assert run(a, "claim", "src/c.py", agent="alpha").code == 0
        assert turns.load(common).streak == 3
    finally:
        gate.set()
        tools.close()
