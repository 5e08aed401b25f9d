"""The dashboard's tables, one function per section (gitcoord.dashboard assembles the page).

Cells are HTML built here: every piece of text from a record goes through `escape`. Times are
absolute (UTC, the page header states when it was generated), never "2 min ago": the page is
a snapshot and a relative age would be wrong as soon as it is read later. Ids sit in
`<td class="id">` cells, which the stylesheet never wraps.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping, Sequence
from datetime import datetime
from typing import Any

from gitcoord import output
from gitcoord.constants import (
    DECISION_STATUSES,
    HELP_STATUS_ORDER,
    PRIORITY_ORDER,
    SEVERITY_ORDER,
    TASK_BOARD_ORDER,
)
from gitcoord.records import Decision, ErrorRecord, HelpRequest, Summary, Task
from gitcoord.timeline import escape

MAX_ROWS = 200  # per group: a page that stays readable when a project runs for months

_e = escape


def at(value: datetime | str | None, now: datetime) -> str:
    """A UTC time as short as it stays clear: `15:41` today, `Nov 25 15:41` this year, else the date."""
    when = parse_time(value)
    if when is None:
        return ""
    if when.date() == now.date():
        return f"{when:%H:%M}"
    if when.year == now.year:
        return f"{when:%b %d %H:%M}"
    return f"{when:%Y-%m-%d %H:%M}"


def parse_time(value: Any) -> datetime | None:
    if isinstance(value, datetime):
        return value
    if not value:
        return None
    return datetime.fromisoformat(str(value).replace("Z", "+00:00"))


def badge(text: str, kind: str = "") -> str:
    return f'<span class="badge {_e(kind or text)}">{_e(text)}</span>'


def table(
    columns: Sequence[str],
    rows: Sequence[Sequence[str]],
    empty: str = "none",
    *,
    ids: Iterable[int] = (0,),
    times: Iterable[int] = (),
) -> str:
    """A table whose cells are already HTML; the `ids` and `times` columns never wrap."""
    if not rows:
        return f'<p class="empty">{_e(empty)}</p>'
    kinds = {i: ' class="id"' for i in ids} | {i: ' class="t"' for i in times}
    head = "".join(f"<th>{_e(c)}</th>" for c in columns)
    body = "".join(
        "<tr>" + "".join(f"<td{kinds.get(n, '')}>{cell}</td>" for n, cell in enumerate(row)) + "</tr>"
        for row in rows[:MAX_ROWS]
    )
    more = f'<p class="empty">… and {len(rows) - MAX_ROWS} more</p>' if len(rows) > MAX_ROWS else ""
    return f"<table><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>{more}"


def section(anchor: str, title: str, body: str, count: int | None = None) -> str:
    counted = f' <span class="count">{count}</span>' if count is not None else ""
    return f'<section id="{_e(anchor)}"><h2>{_e(title)}{counted}</h2>{body}</section>'


def _groups(
    title_of: Callable[[str], str],
    order: Iterable[str],
    items: Sequence[Any],
    key: Callable[[Any], str],
    render: Callable[[Sequence[Any]], str],
) -> str:
    """Items split by `key` in `order`, each group under its own heading (empty groups left out)."""
    parts = []
    for value in order:
        group = [i for i in items if key(i) == value]
        if group:
            parts.append(
                f'<h3>{_e(title_of(value))} <span class="count">{len(group)}</span></h3>{render(group)}'
            )
    return "".join(parts) or '<p class="empty">none</p>'


def _progress(value: Any) -> str:
    if value is None:
        return ""
    pct = max(0, min(100, int(value)))
    return f'<span class="meter"><span style="width:{pct}%"></span></span> {pct}%'


# -- sections ------------------------------------------------------------------------


def agents_section(
    agents: Sequence[Mapping[str, Any]], claims: Sequence[Mapping[str, Any]], now: datetime
) -> str:
    """Who does what now: each agent's live claims with their own progress and last words."""
    rows = []
    for a in sorted(agents, key=lambda a: (a["status"] != "stale", a["name"])):
        held = [c for c in claims if c["agent"] == a["name"]]
        work = "".join(
            f'<div class="work"><code>{_e(c["resource"])}</code> {_progress(c.get("progress"))}'
            + (f' <span class="words">{_e(c["message"])}</span>' if c.get("message") else "")
            + "</div>"
            for c in sorted(held, key=lambda c: c["resource"])
        )
        rows.append(
            [
                f"<b>{_e(a['name'])}</b>",
                badge(a["status"]),
                _e(a.get("role", "")),
                work or '<span class="empty">holds nothing</span>',
                _e(at(a.get("last_check_in"), now)),
                _e(at(a.get("next_check_in"), now)) if held else "",
                _e(a.get("message", "")),
            ]
        )
    stale = sum(1 for a in agents if a["status"] == "stale")
    warn = (
        f'<p class="warn">{stale} stale agent{"s" if stale != 1 else ""}: missed the check-in.</p>'
        if stale
        else ""
    )
    columns = ["agent", "status", "role", "working on", "last check-in", "next check-in", "last words"]
    body = warn + table(columns, rows, "no agent has started yet", ids=(), times=(4, 5))
    return section("agents", "Agents", body, len(agents))


def claims_section(claims: Sequence[Mapping[str, Any]], now: datetime) -> str:
    rows = [
        [
            _e(c["id"]),
            _e(c["agent"]),
            f"<code>{_e(c['resource'])}</code>",
            badge(output.claim_mode(c), c["mode"]) + (" " + badge("auto") if c.get("auto") else ""),
            badge(c["state"]),
            _e(at(c["created_at"], now)),
            _e(at(c["expires_at"], now)),
            _e("" if c.get("progress") is None else f"{c['progress']}%"),
            _e(c.get("message", "")),
        ]
        for c in sorted(claims, key=lambda c: (c["agent"], c["resource"]))
    ]
    columns = ["id", "agent", "resource", "mode", "state", "since", "until", "progress", "message"]
    body = table(columns, rows, "no live claims", times=(5, 6))
    return section("claims", "Live claims", body, len(claims))


def conflicts_section(report: Mapping[str, Any] | None) -> str:
    """The coming conflicts between agents' branches (gitcoord.conflicts.radar), before any merge."""
    if report is None:
        body = '<p class="empty">git could not compare the branches here</p>'
        return section("conflicts", "Coming conflicts", body)
    pairs = report.get("pairs", [])
    rows = [
        [
            f"<b>{_e(p['a'] or p['a_branch'])}</b> × <b>{_e(p['b'])}</b>",
            f"<code>{_e(p['a_branch'])}</code> × <code>{_e(p['b_branch'])}</code>",
            "<br>".join(f"<code>{_e(x)}</code>" for x in p["conflicts"]),
            "<br>".join(f"<code>{_e(x)}</code>" for x in p["overlap"]),
            _e(p["next"]),
        ]
        for p in pairs
    ]
    columns = ["between", "branches", "would conflict", "both changed", "next step"]
    body = table(columns, rows, "no coming conflict between the agents' branches", ids=(0, 1))
    return section("conflicts", "Coming conflicts", body, len(pairs))


def help_section(items: list[HelpRequest], now: datetime) -> str:
    def render(group: Sequence[HelpRequest]) -> str:
        ordered = sorted(group, key=lambda h: (HELP_STATUS_ORDER.get(h.status, 9), h.created_at))
        return table(
            ["id", "from", "to", "status", "resource", "message", "created", "resolution"],
            [
                [
                    _e(h.id),
                    _e(h.from_agent),
                    _e(h.to),
                    badge(h.status),
                    f"<code>{_e(h.resource)}</code>",
                    _e(h.message),
                    _e(at(h.created_at, now)),
                    _e(f"{h.resolved_by}: {h.resolution_note}" if h.resolved_by else h.acked_by),
                ]
                for h in ordered
            ],
            times=(6,),
        )

    body = _groups(lambda p: f"Priority {p}", PRIORITY_ORDER, items, lambda h: h.priority, render)
    return section("help", "Help requests", body, len(items))


def errors_section(items: list[ErrorRecord], now: datetime) -> str:
    def render(group: Sequence[ErrorRecord]) -> str:
        ordered = sorted(group, key=lambda e: (e.status != "open", e.created_at))
        return table(
            ["id", "agent", "type", "status", "resource", "message", "created", "resolution"],
            [
                [
                    _e(e.id),
                    _e(e.agent),
                    _e(e.type),
                    badge(e.status),
                    f"<code>{_e(e.resource)}</code>",
                    _e(e.message)
                    + (
                        f"<details><summary>trace</summary><pre>{_e(e.trace)}</pre></details>"
                        if e.trace
                        else ""
                    ),
                    _e(at(e.created_at, now)),
                    _e(f"{e.resolved_by}: {e.resolution_note}" if e.resolved_by else ""),
                ]
                for e in ordered
            ],
            times=(6,),
        )

    body = _groups(lambda s: f"Severity {s}", SEVERITY_ORDER, items, lambda e: e.severity, render)
    return section("errors", "Errors", body, len(items))


def _review_proof(proof: Mapping[str, Any] | None) -> str:
    """Whether a signature proves the review (allowed signers set): verified by whom, or unverified."""
    if not proof or proof.get("review_verified") is None:
        return ""
    if proof["review_verified"]:
        return " " + badge(f"verified: {proof['review_signer']}", "impact-low")
    return " " + badge("UNVERIFIED", "impact-high")


def decisions_section(items: list[Decision], proof: Mapping[str, Mapping[str, Any]] | None = None) -> str:
    """Decisions by status, the ones awaiting review first."""
    proof = proof or {}

    def render(group: Sequence[Decision]) -> str:
        return table(
            ["id", "agent", "impact", "category", "title", "rationale", "alternatives", "review"],
            [
                [
                    _e(d.id),
                    _e(d.agent),
                    badge(d.impact, f"impact-{d.impact}"),
                    _e(d.category),
                    f"<b>{_e(d.title)}</b>",
                    _e(d.rationale),
                    _e("; ".join(d.alternatives)),
                    _e(f"{d.reviewed_by}: {d.review_note}" if d.reviewed_by else "")
                    + _review_proof(proof.get(d.id)),
                ]
                for d in sorted(group, key=lambda d: d.created_at)
            ],
        )

    order = ["proposed"] + [s for s in DECISION_STATUSES if s != "proposed"]
    titles = {"proposed": "Awaiting review"}
    body = _groups(lambda s: titles.get(s, s.capitalize()), order, items, lambda d: d.status, render)
    return section("decisions", "Decisions", body, len(items))


def tasks_section(items: list[Task]) -> str:
    def render(group: Sequence[Task]) -> str:
        ordered = sorted(group, key=lambda t: (PRIORITY_ORDER.get(t.priority, 9), t.created_at))
        return table(
            ["id", "priority", "assignee", "title", "resources", "depends on", "note"],
            [
                [
                    _e(t.id),
                    badge(t.priority),
                    _e(t.assignee),
                    f"<b>{_e(t.title)}</b>",
                    "<br>".join(f"<code>{_e(r)}</code>" for r in t.resources),
                    _e(", ".join(t.depends_on)),
                    _e(t.block_reason or t.note),
                ]
                for t in ordered
            ],
        )

    body = _groups(
        lambda s: s.replace("_", " ").capitalize(), TASK_BOARD_ORDER, items, lambda t: t.status, render
    )
    return section("tasks", "Tasks", body, len(items))


def summaries_section(items: list[Summary]) -> str:
    cards = []
    for s in items:
        metrics = "".join(f"<li>{_e(k)}: {_e(v)}</li>" for k, v in sorted(s.metrics.items()))
        fields = [
            ("Completed", s.completed),
            ("Next", s.next),
            ("Blockers", s.blockers),
            ("Messages", s.messages),
        ]
        body = "".join(f"<dt>{name}</dt><dd>{_e(text)}</dd>" for name, text in fields if text)
        day = f" (day {s.day_number})" if s.day_number is not None else ""
        cards.append(
            f'<div class="card"><h3>{_e(s.agent)} · {_e(s.day.isoformat())}{_e(day)}</h3>'
            f"<dl>{body}</dl>" + (f"<ul>{metrics}</ul>" if metrics else "") + "</div>"
        )
    body = f'<div class="cards">{"".join(cards)}</div>' if cards else '<p class="empty">no summaries yet</p>'
    return section("summaries", "Latest summaries", body, len(items))
