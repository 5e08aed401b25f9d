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
from collections.abc import Mapping, Sequence
from datetime import datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any

from gitcoord import dashboard_sections as ds
from gitcoord.dashboard_style import CSS
from gitcoord.errors import GitcoordError, InvalidInput
from gitcoord.records import Decision, ErrorRecord, HelpRequest, Summary, Task
from gitcoord.snapshot import ROOT, Snapshot
from gitcoord.timeline import Activity, Mark, activity, escape, fit_window
from gitcoord.timeline_svg import timeline_svg

if TYPE_CHECKING:
    from gitcoord.coordinator import Coordinator

DEFAULT_SINCE = timedelta(hours=24)
_e = escape


def latest_summaries(snap: Snapshot) -> list[Summary]:
    """The newest daily summary of each agent (summaries live in one directory per agent)."""
    out = []
    for name, entry in sorted(snap.entries(f"{ROOT}/{Summary.directory}").items()):
        if entry.is_tree:
            found = snap.records(Summary, name)
            if found:
                out.append(max(found, key=lambda s: (s.day, s.created_at)))
    return sorted(out, key=lambda s: s.day, reverse=True)


def parse_since(text: str) -> timedelta:
    """`90m`, `6h`, `2d` as a span (what `dashboard --since` takes); exit 2 on anything else."""
    units = {"m": 60, "h": 3600, "d": 86400}
    number, unit = text.strip()[:-1], text.strip()[-1:].lower()
    if unit not in units or not number.isdigit() or not 0 < int(number) * units[unit] <= 366 * 86400:
        raise InvalidInput(
            f"--since takes a duration such as 90m, 6h or 2d, not {text!r}.",
            hint="a span up to a year: m for minutes, h for hours, d for days.",
        )
    return timedelta(seconds=int(number) * units[unit])


def repository_name(coord: Coordinator) -> str:
    """What the project is called: the last part of its remote's URL, else its top directory.

    Not the clone's directory: every agent's clone has its own name (`human`, `wt-alpha`).
    """
    res = coord.git.run("config", "--get", f"remote.{coord.store.remote or 'origin'}.url")
    url = res.stdout.decode(errors="replace").strip() if res.returncode == 0 else ""
    name = url.rstrip("/").replace(":", "/").rsplit("/", 1)[-1] if url else ""
    if not name:
        common = coord.common_dir
        name = common.parent.name if common.name == ".git" else common.name
    return name.removesuffix(".git") or "repository"


# -- the timeline ----------------------------------------------------------------------


def _span_text(span: timedelta) -> str:
    hours = span.total_seconds() / 3600
    if hours >= 48 and hours % 24 == 0:
        return f"{int(hours // 24)} days"
    return f"{hours:g} h" if hours >= 1 else f"{int(span.total_seconds() // 60)} min"


_LEGEND = (
    ("held", "held"),
    ("shared", "shared"),
    ("auto", "auto (claimed on first edit)"),
    ("ended", "released or taken over"),
    ("checkin", "check-in"),
    ("help", "help request"),
    ("conflict", "conflict coming"),
    ("now", "now"),
)


def _timeline(found: Activity, agents: list[str], since: timedelta) -> str:
    now = found.now
    views = [("fit", "activity", fit_window(found))]
    if since > timedelta(hours=1):
        views.append(("1h", "last hour", now - timedelta(hours=1)))
    views.append(("window", f"last {_span_text(since)}", found.since))
    zoom = " ".join(f'<a href="#tl-{key}">{_e(label)}</a>' for key, label, _ in views)
    body = "".join(
        f'<div class="tlview{" default" if key == "fit" else ""}" id="tl-{key}">'
        f'<p class="range">{_e(label)}: {_e(_range(start, now))} UTC</p>'
        + timeline_svg(found, agents, start, now)
        + "</div>"
        for key, label, start in views
    )
    legend = "".join(f'<span><i class="sw {k}"></i>{_e(text)}</span>' for k, text in _LEGEND)
    return ds.section(
        "timeline",
        "Timeline: claims per agent (UTC)",
        f'<p class="zoom">zoom: {zoom}</p><div class="tlviews">{body}</div><p class="legend">{legend}</p>',
    )


def _range(start: datetime, now: datetime) -> str:
    if now - start < timedelta(minutes=10):  # a short session: to the second
        return f"{start:%H:%M:%S} to {now:%H:%M:%S}"
    return f"{ds.at(start, now)} to {now:%H:%M}"


def _radar(coord: Coordinator) -> dict[str, Any] | None:
    from gitcoord.conflicts import radar

    try:
        return radar(coord)
    except GitcoordError:
        return None


def _conflict_marks(report: dict[str, Any] | None, now: datetime) -> list[Mark]:
    marks = []
    for p in (report or {}).get("pairs", []):
        if p["conflicts"]:
            text = f"conflict coming: {p['a'] or p['a_branch']} x {p['b']} on {', '.join(p['conflicts'])}"
            marks += [Mark("conflict", agent, now, text) for agent in (p["a"], p["b"]) if agent]
    return marks


# -- the page ------------------------------------------------------------------------


def _stats(
    agents: Sequence[Mapping[str, Any]],
    claims: Sequence[Mapping[str, Any]],
    helps: list[HelpRequest],
    errors: list[ErrorRecord],
    decisions: list[Decision],
    tasks: list[Task],
    conflicts: int,
) -> str:
    figures = [
        ("agents", len(agents), False),
        ("stale agents", sum(a["status"] == "stale" for a in agents), True),
        ("live claims", len(claims), False),
        ("coming conflicts", conflicts, True),
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


def render_dashboard(coord: Coordinator, *, fetch: bool = False, since: timedelta | None = None) -> str:
    """The whole dashboard as one HTML document (a str), read from the coord branch.

    `since`: how far back the timeline's widest view reaches (24 hours by default); the
    default view fits the activity inside it.
    """
    since = since or DEFAULT_SINCE
    snap = coord.snapshot(fetch=fetch)
    now = coord.store.clock()
    agents = coord.agents(snap, now)
    claims = [coord.claim_view(c, now) for c in coord.live_claims(snap, now)]
    helps, errors = snap.records(HelpRequest), snap.records(ErrorRecord)
    decisions, tasks = snap.records(Decision), snap.records(Task)
    report = _radar(coord)
    found = activity(coord, snap, now, now - since)
    found.marks += _conflict_marks(report, now)
    pairs = len((report or {}).get("pairs", []))
    repo = repository_name(coord)
    rev = snap.rev if snap.exists else "none"
    to_review = any(d.status == "proposed" for d in decisions)
    decided = ds.decisions_section(decisions, coord.review_status(decisions))
    conflicts = ds.conflicts_section(report)
    sections = [
        (decided if to_review else ""),
        (conflicts if pairs else ""),
        ds.agents_section(agents, claims, now),
        _timeline(found, [a["name"] for a in agents], since),
        ds.claims_section(claims, now),
        ds.help_section(helps, now),
        ds.errors_section(errors, now),
        ds.tasks_section(tasks),
        ("" if to_review else decided),
        ds.summaries_section(latest_summaries(snap)),
        ("" if pairs else conflicts),
    ]
    nav = "".join(
        f'<a href="#{a}">{t}</a>'
        for a, t in (
            ("agents", "Agents"),
            ("timeline", "Timeline"),
            ("conflicts", "Conflicts"),
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
        f"<title>{_e(repo)} · gitcoord</title><style>{CSS}</style></head><body>"
        f"<header><h1>{_e(repo)} · gitcoord</h1><p>as of {now:%H:%M} UTC, {now:%a %d %b %Y}"
        f" · coord branch {_e(coord.store.branch)} at rev {_e(rev)}</p></header><nav>{nav}</nav><main>"
        + _stats(agents, claims, helps, errors, decisions, tasks, pairs)
        + skipped
        + "".join(sections)
        + f"</main><footer>Generated by gitcoord from the coord branch at {now:%Y-%m-%d %H:%M} UTC; "
        "times are UTC. The page changes only when it is regenerated (gitcoord dashboard --out FILE, "
        "or gitcoord dashboard --serve to regenerate on each load).</footer></body></html>\n"
    )


def write_dashboard(
    coord: Coordinator, out: Path, *, fetch: bool = False, since: timedelta | None = None
) -> Path:
    """Write the dashboard to `out` atomically (a reader never sees half a page); the resolved path."""
    _check_out_path(coord, out)
    out = Path(out).resolve()
    page = render_dashboard(coord, fetch=fetch, since=since)
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
