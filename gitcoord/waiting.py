"""Waiting without polling: `inbox --wait SECS`, `help-requests list --wait SECS`.

A wait returns as soon as something for the agent is there: at once when it already is
(an unread message, an open help request addressed to it), else when one arrives, else
after SECS seconds with nothing. In local mode it sleeps on the coord ref (`RefWatch`,
the watch `claim --wait` uses: a few system calls every 50 ms, no git process) and reads
again only when the ref moved; in remote mode it fetches with a backoff from 0.5 s up to
5 s, so many waiting agents do not hammer the remote.
"""

from __future__ import annotations

import secrets
import threading
import time
from collections.abc import Callable
from typing import TYPE_CHECKING, TypeVar

from gitcoord.validate import check_wait

if TYPE_CHECKING:
    from gitcoord.coordinator import Coordinator
    from gitcoord.records import HelpRequest, Message

T = TypeVar("T")

_FIRST_FETCH_PAUSE = 0.5
_MAX_FETCH_PAUSE = 5.0


def wait_until(
    coord: Coordinator,
    look: Callable[[bool], T],
    ready: Callable[[T], bool],
    wait: float,
    stop: threading.Event | None = None,
) -> T:
    """Call `look(fetch)` until `ready(answer)` or `wait` seconds pass; the last answer.

    `look` reads the state (fetching first when its argument is True, in remote mode).
    `stop`, once set, ends the wait early (an MCP client that cancelled).
    """
    wait = check_wait(wait)
    stop = stop if stop is not None else threading.Event()
    deadline = time.monotonic() + wait
    watch = coord.store.ref_watch()
    pause = _FIRST_FETCH_PAUSE
    while True:
        before = watch.stamp() if watch else None
        answer = look(True)
        left = deadline - time.monotonic()
        if ready(answer) or left <= 0 or stop.is_set():
            return answer
        if watch is not None and before is not None:
            watch.wait(before, left, stop=stop)
        else:
            stop.wait(min(left, pause * (0.5 + secrets.randbelow(1000) / 1000)))
            pause = min(pause * 1.6, _MAX_FETCH_PAUSE)


def inbox(
    coord: Coordinator, wait: float, *, all: bool = False, stop: threading.Event | None = None
) -> list[Message]:
    """`inbox` that waits up to `wait` seconds for an unread message to me (or to everyone)."""
    me = coord.require_agent()

    def look(fetch: bool) -> list[Message]:
        return coord.inbox(all=all, fetch=fetch)

    def ready(found: list[Message]) -> bool:
        return any(me not in m.read_by for m in found)

    return wait_until(coord, look, ready, wait, stop)


def help_requests(
    coord: Coordinator, wait: float, *, open_only: bool = False, stop: threading.Event | None = None
) -> list[HelpRequest]:
    """`help-requests list` that waits up to `wait` seconds for news for me: an open request
    addressed to me (or to anyone, not mine), or a change to one of my own requests."""
    me = coord.require_agent()
    start: dict[str, str] | None = None

    def look(fetch: bool) -> list[HelpRequest]:
        return coord.help_requests(open_only=open_only, fetch=fetch)

    def ready(found: list[HelpRequest]) -> bool:
        nonlocal start
        own: dict[str, str] = {h.id: h.status for h in found if h.from_agent == me}
        if start is None:
            start = own
        for_me = any(h.status == "open" and h.to in (me, "any") and h.from_agent != me for h in found)
        return for_me or own != start

    return wait_until(coord, look, ready, wait, stop)
