"""The dashboard's timeline: each claim's life over the last hours, from the coord history, as inline SVG.

`claim_intervals` reads the history (a claim still in the tree lasts until now; one that is gone
ended at the last commit that touched it); `timeline_svg` draws one row per agent. Every piece of
text from a record is escaped, as in the rest of the page (gitcoord.dashboard).
"""

from __future__ import annotations

import html
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any

from gitcoord import leases
from gitcoord.errors import GitcoordError
from gitcoord.records import Claim, utc_text
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


# -- data --------------------------------------------------------------------------


def claim_intervals(
    coord: Coordinator, snap: Snapshot, now: datetime, hours: float = TIMELINE_HOURS
) -> list[Interval]:
    """Claims held during the last `hours`, from the coord history.

    A claim that is still in the tree lasts until now (or its expiry, when it is
    dead but not yet removed); one that is gone ended at the last commit that
    touched it (its release or takeover), whatever that commit's action was.
    """
    window = now - timedelta(hours=hours)
    touches = _claim_touches(coord, window)
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
                )
            )
    return out


def _id_number(record_id: str) -> int:
    return int(record_id.partition("-")[2] or 0)


def _claim_touches(coord: Coordinator, window: datetime) -> dict[str, list[tuple[datetime, str]]]:
    """Claim id -> [(commit time, commit)] oldest first, for commits since `window`."""
    touches: dict[str, list[tuple[datetime, str]]] = {}
    for entry in coord.store.history(since=utc_text(window)):
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
        return Interval(cid, current.agent, current.resource, current.mode, current.created_at, end, not dead)
    record = _record_near(coord, cid, touches[0][1])
    if record is None:
        return None
    return Interval(cid, record.agent, record.resource, record.mode, record.created_at, touches[-1][0], False)


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


# -- the timeline --------------------------------------------------------------------

_LABEL_W, _PLOT_W, _ROW_H, _TOP = 130, 820, 26, 24


def timeline_svg(
    intervals: list[Interval], agents: Iterable[str], now: datetime, hours: float = TIMELINE_HOURS
) -> str:
    """Claims per agent over the last `hours` as an inline SVG (one row per agent)."""
    names = sorted(set(agents) | {i.agent for i in intervals})
    start = now - timedelta(hours=hours)
    span = hours * 3600

    def x(when: datetime) -> float:
        return _LABEL_W + _PLOT_W * max(0.0, min(1.0, (when - start).total_seconds() / span))

    height = _TOP + _ROW_H * max(1, len(names)) + 4
    width = _LABEL_W + _PLOT_W + 10
    parts = [
        f'<svg class="timeline" role="img" viewBox="0 0 {width} {height}" width="{width}" height="{height}">',
        f"<title>Claims per agent, last {hours:g} hours</title>",
    ]
    parts += _axis(start, now, hours, x, height)
    for row, name in enumerate(names):
        y = _TOP + row * _ROW_H
        parts.append(
            f'<text class="agent" x="{_LABEL_W - 8}" y="{y + 17}" text-anchor="end">{_e(name)}</text>'
        )
        parts.append(
            f'<line class="row" x1="{_LABEL_W}" x2="{_LABEL_W + _PLOT_W}" y1="{y + _ROW_H}" '
            f'y2="{y + _ROW_H}"/>'
        )
        parts += [_bar(i, x, y) for i in intervals if i.agent == name]
    if not names:
        parts.append(
            f'<text x="{_LABEL_W + 10}" y="{_TOP + 17}">no claims in the last {hours:g} hours</text>'
        )
    parts.append("</svg>")
    return "".join(parts)


def _axis(
    start: datetime, now: datetime, hours: float, x: Callable[[datetime], float], height: int
) -> list[str]:
    step = timedelta(hours=max(1, round(hours / 8)))
    tick = start.replace(minute=0, second=0, microsecond=0) + timedelta(hours=1)
    parts = []
    while tick <= now:
        px = x(tick)
        parts.append(
            f'<line class="tick" x1="{px:.1f}" x2="{px:.1f}" y1="{_TOP - 4}" y2="{height - 4}"/>'
            f'<text class="tick" x="{px:.1f}" y="{_TOP - 8}" text-anchor="middle">{tick:%H:%M}</text>'
        )
        tick += step
    parts.append(f'<line class="now" x1="{x(now):.1f}" x2="{x(now):.1f}" y1="{_TOP - 4}" y2="{height - 4}"/>')
    return parts


def _bar(i: Interval, x: Callable[[datetime], float], y: int) -> str:
    left, right = x(i.start), x(i.end)
    width = max(2.0, right - left)
    state = "live" if i.live else "ended"
    tip = f"{i.claim_id} {i.resource} ({i.mode}, {state}) {_when(i.start)} – {_when(i.end)} UTC"
    label = ""
    if width > 40:
        chars = int(width / 7)
        text = i.resource if len(i.resource) <= chars else i.resource[: max(1, chars - 1)] + "…"
        label = f'<text class="bar" x="{left + 4:.1f}" y="{y + 16}">{_e(text)}</text>'
    return (
        f'<g class="claim {state} {_e(i.mode)}"><title>{_e(tip)}</title>'
        f'<rect x="{left:.1f}" y="{y + 4}" width="{width:.1f}" height="{_ROW_H - 8}" rx="3"/>{label}</g>'
    )
