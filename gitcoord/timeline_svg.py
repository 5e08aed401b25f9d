"""The dashboard's timeline drawn as inline SVG: one lane per agent, claims as bars, marks on top.

Bars are coloured by state (held, shared, auto, ended: the classes `bar held` ... that the
stylesheet colours, gitcoord.dashboard_style), check-ins are ticks, help requests triangles
and coming conflicts diamonds at "now". Every piece of text from a record is escaped.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from datetime import datetime, timedelta

from gitcoord.timeline import Activity, Interval, Mark, escape, minute_text

_e = escape
LABEL_W, PLOT_W, ROW_H, TOP = 120, 1000, 28, 26
# Tick steps in seconds: the first one that gives at most about ten ticks.
_STEPS = (5, 10, 15, 30, 60, 120, 300, 600, 900, 1800, 3600, 7200, 10800, 21600, 43200, 86400, 172800, 604800)


def timeline_svg(found: Activity, agents: Iterable[str], start: datetime, end: datetime) -> str:
    """The lanes of `agents` (and of anyone active) over [start, end] as one <svg>."""
    names = sorted(set(agents) | {i.agent for i in found.intervals} | {m.agent for m in found.marks})
    span = max(1.0, (end - start).total_seconds())

    def x(when: datetime) -> float:
        return LABEL_W + PLOT_W * max(0.0, min(1.0, (when - start).total_seconds() / span))

    height = TOP + ROW_H * max(1, len(names)) + 4
    width = LABEL_W + PLOT_W + 12
    parts = [
        f'<svg class="timeline" role="img" viewBox="0 0 {width} {height}" width="{width}" '
        f'height="{height}" data-start="{int(start.timestamp())}" data-end="{int(end.timestamp())}" '
        f'data-plot="{PLOT_W}">',
        f"<title>Claims per agent, {_e(minute_text(start))} to {_e(minute_text(end))} UTC</title>",
    ]
    parts += _axis(start, end, x, height)
    for row, name in enumerate(names):
        parts.append(_lane(found, name, TOP + row * ROW_H, start, x))
    if not names:
        parts.append(f'<text x="{LABEL_W + 10}" y="{TOP + 18}">no activity in this window</text>')
    now_x = x(found.now)
    parts.append(f'<line class="now" x1="{now_x:.1f}" x2="{now_x:.1f}" y1="{TOP - 4}" y2="{height - 4}"/>')
    parts.append("</svg>")
    return "".join(parts)


def _lane(found: Activity, name: str, y: int, start: datetime, x: Callable[[datetime], float]) -> str:
    parts = [
        f'<g class="lane" data-agent="{_e(name)}">',
        f'<text class="agent" x="{LABEL_W - 8}" y="{y + 18}" text-anchor="end">{_e(_short(name, 16))}'
        f"<title>{_e(name)}</title></text>",
        f'<line class="row" x1="{LABEL_W}" x2="{LABEL_W + PLOT_W}" y1="{y + ROW_H}" y2="{y + ROW_H}"/>',
    ]
    parts += [_bar(i, x, y) for i in found.intervals if i.agent == name and i.end >= start]
    parts += [_mark(m, x, y) for m in found.marks if m.agent == name and m.when >= start]
    parts.append("</g>")
    return "".join(parts)


def _axis(start: datetime, end: datetime, x: Callable[[datetime], float], height: int) -> list[str]:
    seconds = (end - start).total_seconds()
    step = next((s for s in _STEPS if seconds / s <= 10), _STEPS[-1])
    tick = start.replace(microsecond=0)
    tick -= timedelta(seconds=(tick.hour * 3600 + tick.minute * 60 + tick.second) % min(step, 86400))
    shape = "%H:%M:%S" if step < 60 else "%H:%M"
    parts = []
    while tick <= end:
        if tick >= start:
            px = x(tick)
            midnight = tick.hour == tick.minute == tick.second == 0
            label = f"{tick:%b %d}" if midnight else f"{tick:{shape}}"
            parts.append(
                f'<line class="tick" x1="{px:.1f}" x2="{px:.1f}" y1="{TOP - 4}" y2="{height - 4}"/>'
                f'<text class="tick" x="{px:.1f}" y="{TOP - 9}" text-anchor="middle">{label}</text>'
            )
        tick += timedelta(seconds=step)
    return parts


def _bar(i: Interval, x: Callable[[datetime], float], y: int) -> str:
    left, right = x(i.start), x(i.end)
    width = max(3.0, right - left)
    how = ", auto" if i.auto else ""
    life = "live" if i.live else "ended"
    span = f"{minute_text(i.start)} to {minute_text(i.end)} UTC"
    tip = f"{i.claim_id} {i.resource} ({i.mode}{how}, {life}) {span}"
    label = ""
    if width > 40:
        text = _short(i.resource, int(width / 6.5))
        label = f'<text class="bar {i.state}" x="{left + 4:.1f}" y="{y + 17}">{_e(text)}</text>'
    return (
        f'<rect class="bar {i.state}" x="{left:.1f}" y="{y + 5}" width="{width:.1f}" height="{ROW_H - 10}" '
        f'rx="3"><title>{_e(tip)}</title></rect>{label}'
    )


def _mark(m: Mark, x: Callable[[datetime], float], y: int) -> str:
    px = x(m.when)
    tip = f"<title>{_e(m.text)}</title>"
    if m.kind == "checkin":
        ends = f'y1="{y + 2}" y2="{y + ROW_H - 2}"'
        return f'<line class="checkin" x1="{px:.1f}" x2="{px:.1f}" {ends}>{tip}</line>'
    if m.kind == "help":
        return f'<path class="help" d="M{px:.1f} {y + 3} l5 9 h-10 z">{tip}</path>'
    return f'<path class="conflict" d="M{px:.1f} {y + ROW_H - 13} l6 6 l-6 6 l-6 -6 z">{tip}</path>'


def _short(text: str, chars: int) -> str:
    return text if len(text) <= chars else text[: max(1, chars - 1)] + "…"
