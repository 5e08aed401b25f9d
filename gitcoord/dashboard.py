"""`gitcoord dashboard`: one self-contained HTML page of the coord state (DESIGN §7).

The page has inline CSS and inline SVG only: no script, no font, no image, no
link to the network (a Content-Security-Policy forbids fetching anything), so it
can be mailed, attached to a CI run or opened offline. Every piece of text that
comes from a record is escaped. Example::

    from gitcoord import Coordinator
    from gitcoord.dashboard import write_dashboard

    with Coordinator("path/to/repo") as coord:
        write_dashboard(coord, Path("dashboard.html"))
"""

from __future__ import annotations

import os
import tempfile
from collections.abc import Callable, Iterable, Mapping, Sequence
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

from gitcoord import output
from gitcoord.constants import (
    DECISION_STATUSES,
    HELP_STATUS_ORDER,
    PRIORITY_ORDER,
    SEVERITY_ORDER,
    TASK_BOARD_ORDER,
)
from gitcoord.dashboard_style import CSS
from gitcoord.errors import InvalidInput
from gitcoord.records import (
    Decision,
    ErrorRecord,
    HelpRequest,
    Summary,
    Task,
)
from gitcoord.snapshot import ROOT, Snapshot
from gitcoord.timeline import TIMELINE_HOURS, claim_intervals, escape, minute_text, timeline_svg

if TYPE_CHECKING:
    from gitcoord.coordinator import Coordinator

MAX_ROWS = 200  # per group: a page that stays readable when a project runs for months


def latest_summaries(snap: Snapshot) -> list[Summary]:
    """The newest daily summary of each agent (summaries live in one directory per agent)."""
    out = []
    for name, entry in sorted(snap.entries(f"{ROOT}/{Summary.directory}").items()):
        if entry.is_tree:
            found = snap.records(Summary, name)
            if found:
                out.append(max(found, key=lambda s: (s.day, s.created_at)))
    return sorted(out, key=lambda s: s.day, reverse=True)


# -- HTML helpers --------------------------------------------------------------------


_e, _when = escape, minute_text


def _ago(value: datetime | None, now: datetime) -> str:
    if value is None:
        return "never"
    seconds = int((now - value).total_seconds())
    if seconds < 0:
        return f"in {_span(-seconds)}"
    return f"{_span(seconds)} ago"


def _span(seconds: int) -> str:
    if seconds < 90:
        return f"{seconds} s"
    if seconds < 90 * 60:
        return f"{seconds // 60} min"
    if seconds < 48 * 3600:
        return f"{seconds // 3600} h"
    return f"{seconds // 86400} d"


def _badge(text: str, kind: str = "") -> str:
    return f'<span class="badge {_e(kind or text)}">{_e(text)}</span>'


def _table(columns: Sequence[str], rows: Sequence[Sequence[str]], empty: str = "none") -> str:
    """A table whose cells are already HTML (callers escape what they put in)."""
    if not rows:
        return f'<p class="empty">{_e(empty)}</p>'
    head = "".join(f"<th>{_e(c)}</th>" for c in columns)
    shown = rows[:MAX_ROWS]
    body = "".join("<tr>" + "".join(f"<td>{cell}</td>" for cell in row) + "</tr>" for row in shown)
    more = f'<p class="empty">… and {len(rows) - MAX_ROWS} more</p>' if len(rows) > MAX_ROWS else ""
    return f"<table><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>{more}"


def _section(anchor: str, title: str, body: str, count: int | None = None) -> str:
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


# -- sections ------------------------------------------------------------------------


def _agents_section(agents: Sequence[Mapping[str, Any]], now: datetime) -> str:
    rows = []
    for a in sorted(agents, key=lambda a: (a["status"] != "stale", a["name"])):
        progress = a.get("progress")
        bar = (
            (
                f'<span class="bar"><span style="width:{max(0, min(100, int(progress)))}%"></span></span> '
                f"{int(progress)}%"
            )
            if progress is not None
            else ""
        )
        last = _parse(a.get("last_check_in"))
        rows.append(
            [
                f"<b>{_e(a['name'])}</b>",
                _badge(a["status"]),
                _e(a.get("role", "")),
                f"<code>{_e(a.get('resource', ''))}</code>",
                bar,
                f'<span title="{_e(a.get("last_check_in") or "")}">{_e(_ago(last, now))}</span>',
                _e(_when(_parse(a.get("next_check_in")))),
                _e(a.get("message", "")),
            ]
        )
    stale = sum(1 for a in agents if a["status"] == "stale")
    warn = (
        f'<p class="warn">{stale} stale agent{"s" if stale != 1 else ""}: missed the check-in.</p>'
        if stale
        else ""
    )
    columns = [
        "agent",
        "status",
        "role",
        "resource",
        "progress",
        "last check-in",
        "next check-in (UTC)",
        "message",
    ]
    return _section("agents", "Agents", warn + _table(columns, rows, "no agent has started yet"), len(agents))


def _parse(value: Any) -> datetime | None:
    if isinstance(value, datetime):
        return value
    if not value:
        return None
    return datetime.fromisoformat(str(value).replace("Z", "+00:00"))


def _claims_section(claims: Sequence[Mapping[str, Any]]) -> str:
    rows = [
        [
            _e(c["id"]),
            _e(c["agent"]),
            f"<code>{_e(c['resource'])}</code>",
            _badge(output.claim_mode(c), c["mode"]),
            _badge(c["state"]),
            _e(_when(_parse(c["created_at"]))),
            _e(_when(_parse(c["expires_at"]))),
            _e("" if c.get("progress") is None else f"{c['progress']}%"),
            _e(c.get("message", "")),
        ]
        for c in sorted(claims, key=lambda c: (c["agent"], c["resource"]))
    ]
    columns = [
        "id",
        "agent",
        "resource",
        "mode",
        "state",
        "since (UTC)",
        "until (UTC)",
        "progress",
        "message",
    ]
    return _section("claims", "Live claims", _table(columns, rows, "no live claims"), len(claims))


def _help_section(items: list[HelpRequest]) -> str:
    def render(group: Sequence[HelpRequest]) -> str:
        ordered = sorted(group, key=lambda h: (HELP_STATUS_ORDER.get(h.status, 9), h.created_at))
        return _table(
            ["id", "from", "to", "status", "resource", "message", "created (UTC)", "resolution"],
            [
                [
                    _e(h.id),
                    _e(h.from_agent),
                    _e(h.to),
                    _badge(h.status),
                    f"<code>{_e(h.resource)}</code>",
                    _e(h.message),
                    _e(_when(h.created_at)),
                    _e(f"{h.resolved_by}: {h.resolution_note}" if h.resolved_by else h.acked_by),
                ]
                for h in ordered
            ],
        )

    body = _groups(lambda p: f"Priority {p}", PRIORITY_ORDER, items, lambda h: h.priority, render)
    return _section("help", "Help requests", body, len(items))


def _errors_section(items: list[ErrorRecord]) -> str:
    def render(group: Sequence[ErrorRecord]) -> str:
        ordered = sorted(group, key=lambda e: (e.status != "open", e.created_at))
        return _table(
            ["id", "agent", "type", "status", "resource", "message", "created (UTC)", "resolution"],
            [
                [
                    _e(e.id),
                    _e(e.agent),
                    _e(e.type),
                    _badge(e.status),
                    f"<code>{_e(e.resource)}</code>",
                    _e(e.message)
                    + (
                        f"<details><summary>trace</summary><pre>{_e(e.trace)}</pre></details>"
                        if e.trace
                        else ""
                    ),
                    _e(_when(e.created_at)),
                    _e(f"{e.resolved_by}: {e.resolution_note}" if e.resolved_by else ""),
                ]
                for e in ordered
            ],
        )

    body = _groups(lambda s: f"Severity {s}", SEVERITY_ORDER, items, lambda e: e.severity, render)
    return _section("errors", "Errors", body, len(items))


def _review_proof(proof: Mapping[str, Any] | None) -> str:
    """Whether a signature proves the review (allowed signers set): verified by whom, or unverified."""
    if not proof or proof.get("review_verified") is None:
        return ""
    if proof["review_verified"]:
        return " " + _badge(f"verified: {proof['review_signer']}", "impact-low")
    return " " + _badge("UNVERIFIED", "impact-high")


def _decisions_section(items: list[Decision], proof: Mapping[str, Mapping[str, Any]] | None = None) -> str:
    proof = proof or {}

    def render(group: Sequence[Decision]) -> str:
        return _table(
            ["id", "agent", "impact", "category", "title", "rationale", "alternatives", "review"],
            [
                [
                    _e(d.id),
                    _e(d.agent),
                    _badge(d.impact, f"impact-{d.impact}"),
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

    body = _groups(lambda s: s.capitalize(), DECISION_STATUSES, items, lambda d: d.status, render)
    return _section("decisions", "Decisions", body, len(items))


def _tasks_section(items: list[Task]) -> str:
    def render(group: Sequence[Task]) -> str:
        ordered = sorted(group, key=lambda t: (PRIORITY_ORDER.get(t.priority, 9), t.created_at))
        return _table(
            ["id", "priority", "assignee", "title", "resources", "depends on", "note"],
            [
                [
                    _e(t.id),
                    _badge(t.priority),
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
    return _section("tasks", "Tasks", body, len(items))


def _summaries_section(items: list[Summary]) -> str:
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
    return _section("summaries", "Latest summaries", body, len(items))


# -- the page ------------------------------------------------------------------------


def _stats(
    agents: Sequence[Mapping[str, Any]],
    claims: Sequence[Mapping[str, Any]],
    helps: list[HelpRequest],
    errors: list[ErrorRecord],
    decisions: list[Decision],
    tasks: list[Task],
) -> str:
    figures = [
        ("agents", len(agents), False),
        ("stale agents", sum(a["status"] == "stale" for a in agents), True),
        ("live claims", len(claims), False),
        ("open help requests", sum(h.status != "resolved" for h in helps), True),
        ("open errors", sum(e.status == "open" for e in errors), True),
        ("decisions to review", sum(d.status == "proposed" for d in decisions), True),
        ("tasks not done", sum(t.status != "done" for t in tasks), False),
    ]
    cells = "".join(
        f'<div class="stat{" alert" if alert and n else ""}"><b>{n}</b>{_e(label)}</div>'
        for label, n, alert in figures
    )
    return f'<div class="stats">{cells}</div>'


def render_dashboard(coord: Coordinator, *, fetch: bool = False) -> str:
    """The whole dashboard as one HTML document (a str), read from the coord branch."""
    snap = coord.snapshot(fetch=fetch)
    now = coord.store.clock()
    agents = coord.agents(snap, now)
    claims = [coord.claim_view(c, now) for c in coord.live_claims(snap, now)]
    helps, errors = snap.records(HelpRequest), snap.records(ErrorRecord)
    decisions, tasks = snap.records(Decision), snap.records(Task)
    intervals = claim_intervals(coord, snap, now)
    repo = coord.top.name if coord.top is not None else coord.common_dir.name
    rev = snap.rev if snap.exists else "none"
    legend = (
        '<p class="legend"><span><i style="background:#3558d4"></i>live claim</span>'
        '<span><i style="background:#9fb1ea"></i>released or taken over</span>'
        '<span><i style="background:#3558d4;opacity:.55"></i>shared</span>'
        '<span><i style="background:#c53030"></i>now</span></p>'
    )
    timeline = _section(
        "timeline",
        f"Claims per agent, last {TIMELINE_HOURS} hours (UTC)",
        timeline_svg(intervals, [a["name"] for a in agents], now) + legend,
    )
    sections = [
        _agents_section(agents, now),
        timeline,
        _claims_section(claims),
        _help_section(helps),
        _errors_section(errors),
        _decisions_section(decisions, coord.review_status(decisions)),
        _tasks_section(tasks),
        _summaries_section(latest_summaries(snap)),
    ]
    nav = "".join(
        f'<a href="#{a}">{t}</a>'
        for a, t in (
            ("agents", "Agents"),
            ("timeline", "Timeline"),
            ("claims", "Claims"),
            ("help", "Help"),
            ("errors", "Errors"),
            ("decisions", "Decisions"),
            ("tasks", "Tasks"),
            ("summaries", "Summaries"),
        )
    )
    skipped = (
        f'<p class="warn">Skipped malformed records: {_e(", ".join(snap.skipped))}</p>'
        if snap.skipped
        else ""
    )
    return (
        '<!DOCTYPE html>\n<html lang="en"><head><meta charset="utf-8">'
        '<meta http-equiv="Content-Security-Policy" '
        "content=\"default-src 'none'; style-src 'unsafe-inline'\">"
        '<meta name="viewport" content="width=device-width, initial-scale=1">'
        f"<title>gitcoord · {_e(repo)}</title><style>{CSS}</style></head><body>"
        f"<header><h1>gitcoord · {_e(repo)}</h1><p>coord branch {_e(coord.store.branch)} at rev {_e(rev)}"
        f" · generated {_e(_when(now))} UTC</p></header><nav>{nav}</nav><main>"
        + _stats(agents, claims, helps, errors, decisions, tasks)
        + skipped
        + "".join(sections)
        + "</main><footer>Generated by gitcoord from the coord branch; the page changes only when it is "
        "regenerated (gitcoord dashboard --out FILE).</footer></body></html>\n"
    )


def write_dashboard(coord: Coordinator, out: Path, *, fetch: bool = False) -> Path:
    """Write the dashboard to `out` atomically (a reader never sees half a page); the resolved path."""
    _check_out_path(coord, out)
    out = Path(out).resolve()
    page = render_dashboard(coord, fetch=fetch)
    try:
        out.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(prefix=f".{out.name}.", dir=out.parent)
    except OSError as exc:
        raise _unwritable(out, exc) from exc
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as fh:
            fh.write(page)
        os.chmod(tmp, 0o644)
        os.replace(tmp, out)
    except BaseException as exc:
        Path(tmp).unlink(missing_ok=True)
        if isinstance(exc, OSError):
            raise _unwritable(out, exc) from exc
        raise
    return out


def _check_out_path(coord: Coordinator, out: Path) -> None:
    """A page path spelled inside the work tree (the default one is) must not lead out of it
    through a symbolic link: a committed `gitcoord-dashboard.html -> ~/.bashrc` would be
    overwritten. A path the user spells outside the repository is written where they asked."""
    if coord.top is None:
        return
    spelled = Path(os.path.abspath(out))
    top = Path(os.path.abspath(coord.top))
    if spelled.is_relative_to(top):
        from gitcoord.safepath import check_inside

        check_inside(top, spelled)


def _unwritable(out: Path, exc: OSError) -> InvalidInput:
    return InvalidInput(
        f"cannot write the dashboard to {out}: {exc.strerror or exc}.",
        hint="choose another --out FILE, in a directory you can write to.",
    )
