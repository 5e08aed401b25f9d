"""The dashboard timeline's data: each claim's life, the check-ins and help requests, from the history.

`activity` reads the coord history once for a window (a claim still in the tree lasts until now;
one that is gone ended at the last commit that touched it; a `check-in` commit is a tick on its
agent's lane) and `fit_window` narrows the window to where something happened, so a short
session fills the plot instead of being a sliver of a day. gitcoord.timeline_svg draws it.
"""

from __future__ import annotations

import html
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any

from gitcoord import leases
from gitcoord.errors import GitcoordError
from gitcoord.records import Claim, HelpRequest, utc_text
from gitcoord.snapshot import Snapshot

if TYPE_CHECKING:
    from gitcoord.coordinator import Coordinator

TIMELINE_HOURS = 24


def escape(value: Any) -> str:
    """A record's text, safe in HTML text and in a quoted attribute."""
    return html.escape("" if value is None else str(value), quote=True)


def minute_text(value: datetime | None) -> str:
    """`2026-01-02 03:04`: a UTC time to the minute, as the page shows times."""
    return utc_text(value)[:16].replace("T", " ") if value else ""


_e, _when = escape, minute_text


@dataclass(frozen=True)
class Interval:
    """One claim's life, clipped to the timeline window."""

    claim_id: str
    agent: str
    resource: str
    mode: str
    start: datetime
    end: datetime
    live: bool
    auto: bool = False

    @property
    def state(self) -> str:
        """How the bar is coloured: held, shared, auto (all live) or ended (released, taken over)."""
        if not self.live:
            return "ended"
        return "auto" if self.auto else "held" if self.mode == "exclusive" else "shared"


@dataclass(frozen=True)
class Mark:
    """A point on an agent's lane: a check-in, a help request, a coming conflict."""

    kind: str  # "checkin", "help" or "conflict"
    agent: str
    when: datetime
    text: str


@dataclass
class Activity:
    """What the timeline draws, for the window [since, now]."""

    since: datetime
    now: datetime
    intervals: list[Interval] = field(default_factory=list)
    marks: list[Mark] = field(default_factory=list)


# -- data --------------------------------------------------------------------------


def activity(coord: Coordinator, snap: Snapshot, now: datetime, since: datetime) -> Activity:
    """Claims, check-ins and help requests of the window [since, now], from one history read."""
    history = list(coord.store.history(since=utc_text(since)))
    found = Activity(since, now, claim_intervals(coord, snap, now, since=since, history=history))
    for entry in history:
        when = datetime.fromisoformat(entry["time"])
        if entry.get("action") == "check-in" and entry.get("agent") and when >= since:
            found.marks.append(Mark("checkin", entry["agent"], when, f"check-in {minute_text(when)} UTC"))
    for h in snap.records(HelpRequest):
        if since <= h.created_at <= now:
            tip = f"{h.id} to {h.to} ({h.priority}, {h.status}): {h.message}"
            found.marks.append(Mark("help", h.from_agent, h.created_at, tip))
    return found


def fit_window(found: Activity, *, least: timedelta = timedelta(seconds=20)) -> datetime:
    """Where a window fitted to the activity starts: a little before the first thing in it."""
    starts = [i.start for i in found.intervals] + [m.when for m in found.marks if m.kind != "conflict"]
    if not starts:
        return found.since
    first = max(found.since, min(starts))
    pad = max((found.now - first) / 12, timedelta(seconds=5))
    return max(found.since, min(first - pad, found.now - least))


def claim_intervals(
    coord: Coordinator,
    snap: Snapshot,
    now: datetime,
    hours: float = TIMELINE_HOURS,
    *,
    since: datetime | None = None,
    history: list[dict[str, Any]] | None = None,
) -> list[Interval]:
    """Claims held during the last `hours`, from the coord history.

    A claim that is still in the tree lasts until now (or its expiry, when it is
    dead but not yet removed); one that is gone ended at the last commit that
    touched it (its release or takeover), whatever that commit's action was.
    """
    window = since or now - timedelta(hours=hours)
    if history is None:
        history = list(coord.store.history(since=utc_text(window)))
    touches = _claim_touches(history)
    in_tree = {c.id: c for c in snap.records(Claim)}
    out = []
    for cid in sorted(set(touches) | set(in_tree), key=_id_number):
        found = _interval(coord, cid, in_tree.get(cid), touches.get(cid, []), now)
        if found is not None and found.end >= window:
            out.append(
                Interval(
                    found.claim_id,
                    found.agent,
                    found.resource,
                    found.mode,
                    max(found.start, window),
                    found.end,
                    found.live,
                    found.auto,
                )
            )
    return out


def _id_number(record_id: str) -> int:
    return int(record_id.partition("-")[2] or 0)


def _claim_touches(history: list[dict[str, Any]]) -> dict[str, list[tuple[datetime, str]]]:
    """Claim id -> [(commit time, commit)] oldest first, for the commits of `history` (newest first)."""
    touches: dict[str, list[tuple[datetime, str]]] = {}
    for entry in history:
        when = datetime.fromisoformat(entry["time"])
        for key in entry.get("records", []):
            if key.startswith("C-"):
                touches.setdefault(key, []).insert(0, (when, entry["commit"]))
    return touches


def _interval(
    coord: Coordinator, cid: str, current: Claim | None, touches: list[tuple[datetime, str]], now: datetime
) -> Interval | None:
    if current is not None:
        dead = leases.is_dead(current, now, coord.grace)
        end = min(now, current.expires_at) if dead else now
        return Interval(
            cid,
            current.agent,
            current.resource,
            current.mode,
            current.created_at,
            end,
            not dead,
            current.auto,
        )
    record = _record_near(coord, cid, touches[0][1])
    if record is None:
        return None
    return Interval(
        cid, record.agent, record.resource, record.mode, record.created_at, touches[-1][0], False, record.auto
    )


def _record_near(coord: Coordinator, cid: str, commit: str) -> Claim | None:
    """The claim as of `commit`, or just before it (when that commit removed it)."""
    for rev in (commit, f"{commit}^"):
        try:
            found = coord.store.snapshot_at(rev).record(Claim, cid)
        except GitcoordError:  # a root commit has no parent: nothing to read there
            found = None
        if found is not None:
            return found
    return None
