"""`gitcoord status` for a lead: what needs a human first, then the agents and what each holds,
then the rest. Rich on a terminal, plain through a pipe (`output.table`); `--json` is elsewhere."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from gitcoord import output
from gitcoord.output import Cell

# A claim this close to the end of its lease is marked: its holder should check in now.
EXPIRING_SECONDS = 5 * 60
_SEVERE = {"critical": "bold white on red", "high": "bold red", "urgent": "bold red"}
_MINE = "bold cyan"

Row = list[Any]


def render_status(report: Mapping[str, Any]) -> None:
    """The whole report, grouped: needs a human, agents, the rest."""
    rev = report["rev"] or "none yet"
    output.say(f"coord store at rev {rev}, as of {output.when(report['now'])}", style="bold")
    needs, rest = _split(report)
    output.table(
        "Needs a human",
        ["kind", "id", "urgency", "from", "about", "next step"],
        needs,
        empty="Needs a human: nothing.",
    )
    output.table(
        "Agents and what they hold",
        ["agent", "status", "holds", "progress", "until", "last check-in", "last words"],
        _agent_rows(report),
        empty="Agents: none has started yet.",
    )
    for title, columns, rows in rest:
        output.table(title, columns, rows)
    if report.get("skipped"):
        output.say(f"warning: skipped malformed records: {', '.join(report['skipped'])}", style="yellow")


def _split(report: Mapping[str, Any]) -> tuple[list[Row], list[tuple[str, list[str], list[Row]]]]:
    """The rows a person must act on, and the other sections (title, columns, rows)."""
    needs: list[Row] = []
    decisions = report.get("decisions", [])
    needs += [_decision_need(d) for d in decisions if d["status"] == "proposed"]
    helps = report.get("help_requests", [])
    urgent = [h for h in helps if h["priority"] == "urgent" and h["status"] == "open"]
    needs += [_help_need(h) for h in urgent]
    errors = report.get("errors", [])
    severe = [e for e in errors if e["severity"] in ("high", "critical")]
    needs += [_error_need(e) for e in severe]
    needs += [_conflict_need(c) for c in report.get("conflicts", [])]
    rest = [
        (
            # "other": the urgent ones are already above, under "Needs a human".
            ("other " if urgent else "") + "open help requests",
            ["id", "priority", "from", "to", "status", "resource", "message"],
            [_help_row(h) for h in helps if h not in urgent],
        ),
        (
            ("other " if severe else "") + "open errors",
            ["id", "severity", "type", "agent", "resource", "message"],
            [
                [e["id"], e["severity"], e["type"], e["agent"], e.get("resource", ""), e["message"]]
                for e in errors
                if e not in severe
            ],
        ),
        (
            "approved decisions to implement",
            ["id", "impact", "agent", "reviewed by", "review", "title"],
            [_approved_row(d) for d in decisions if d["status"] == "approved"],
        ),
        (
            "tasks",
            ["id", "priority", "status", "assignee", "resources", "title"],
            [_task_row(t) for t in report.get("tasks", [])],
        ),
    ]
    return needs, rest


def _decision_need(d: Mapping[str, Any]) -> Row:
    about = f"{d['title']} ({d['category']})" if d.get("category") else d["title"]
    return [
        "decision to review",
        d["id"],
        Cell(f"{d['impact']} impact", _SEVERE.get(d["impact"], "")),
        d["agent"],
        about,
        f"gitcoord decisions approve {d['id']} (or reject)",
    ]


def _help_need(h: Mapping[str, Any]) -> Row:
    on = f" [{h['resource']}]" if h.get("resource") else ""
    return [
        "urgent help, unanswered",
        h["id"],
        Cell(h["priority"], _SEVERE["urgent"]),
        h["from_agent"],
        f"to {h['to']}{on}: {h['message']}",
        f"gitcoord help-requests ack {h['id']}",
    ]


def _error_need(e: Mapping[str, Any]) -> Row:
    on = f" [{e['resource']}]" if e.get("resource") else ""
    return [
        "error",
        e["id"],
        Cell(e["severity"], _SEVERE[e["severity"]]),
        e["agent"],
        f"{e['type']}{on}: {e['message']}",
        f'gitcoord errors resolve {e["id"]} --note "..."',
    ]


def _conflict_need(c: Mapping[str, Any]) -> Row:
    overlap = f" (also touched by both: {c['overlap']})" if c.get("overlap") else ""
    return ["coming conflicts", "", "", c["between"], f"{c['conflicts']}{overlap}", c["next"]]


def _help_row(h: Mapping[str, Any]) -> Row:
    return [
        h["id"],
        h["priority"],
        h["from_agent"],
        h["to"],
        h["status"],
        h.get("resource", ""),
        h["message"],
    ]


def _approved_row(d: Mapping[str, Any]) -> Row:
    review = {True: Cell("verified", "green"), False: Cell("UNVERIFIED", "bold red")}
    return [
        d["id"],
        d["impact"],
        d["agent"],
        d.get("reviewed_by", ""),
        "" if d.get("review_verified") is None else review[bool(d["review_verified"])],
        d["title"],
    ]


def _task_row(t: Mapping[str, Any]) -> Row:
    return [
        t["id"],
        t["priority"],
        t["status"],
        t.get("assignee", ""),
        ", ".join(t.get("resources", [])),
        t["title"],
    ]


# -- agents and their claims ---------------------------------------------------------------------


def _agent_rows(report: Mapping[str, Any]) -> list[Row]:
    """One row per claim, under its holder; an agent that holds nothing gets one row saying so."""
    claims: dict[str, list[Mapping[str, Any]]] = {}
    for c in report["claims"]:
        claims.setdefault(c["agent"], []).append(c)
    agents = {a["name"]: a for a in report["agents"]}
    names = list(agents) + [name for name in claims if name not in agents]
    rows: list[Row] = []
    for name in names:
        agent = agents.get(name, {"name": name, "status": "unknown"})
        held = claims.get(name, [])
        if not held:
            rows.append(_idle_row(agent))
        rows += [_claim_row(agent, c, first=i == 0) for i, c in enumerate(held)]
    return rows


def _idle_row(agent: Mapping[str, Any]) -> Row:
    return [
        agent["name"],
        agent["status"],
        Cell("nothing", "dim"),
        "",
        "",
        output.when(agent.get("last_check_in")),
        agent.get("message", ""),
    ]


def mine(claim: Mapping[str, Any], text: str) -> Cell:
    """`text` marked when the claim is the caller's own."""
    return Cell(text, _MINE if claim.get("mine") else "")


def _claim_row(agent: Mapping[str, Any], claim: Mapping[str, Any], *, first: bool) -> Row:
    progress = claim.get("progress")
    return [
        mine(claim, agent["name"]) if first else "",
        agent["status"] if first else "",
        mine(claim, _held(claim)),
        f"{progress}%" if progress is not None else "",
        until(claim),
        output.when(agent.get("last_check_in")) if first else "",
        claim.get("message") or "",
    ]


def _held(claim: Mapping[str, Any]) -> str:
    """The resource, with its mode when it is not the plain exclusive claim: `docs/ (shared)`."""
    mode = output.claim_mode(claim)
    return claim["resource"] if mode == "exclusive" else f"{claim['resource']} ({mode})"


def until(claim: Mapping[str, Any]) -> Cell:
    """When the claim's lease ends: red once it ran out (grace period), yellow when it soon will."""
    until = output.when(claim["expires_at"])
    if claim.get("state") == "expired":
        return Cell(f"{until} (lease ran out)", "bold red")
    if claim.get("seconds_left", EXPIRING_SECONDS) < EXPIRING_SECONDS:
        return Cell(until, "yellow")
    return Cell(until)


def needs_a_human(report: Mapping[str, Any]) -> Sequence[Row]:
    """The rows of the first section (for tests and the screenshot)."""
    return _split(report)[0]


# The `claims` table, of the full and the lean path (gitcoord.lean_reads) alike.
CLAIM_COLUMNS = ["id", "agent", "resource", "mode", "state", "until", "progress", "message"]


def claims_rows(claims: Sequence[Mapping[str, Any]]) -> list[list[Any]]:
    """Claim views (`plain.claim_view`) as the rows of the `claims` table."""
    return [
        [
            c["id"],
            mine(c, c["agent"]),
            mine(c, c["resource"]),
            output.claim_mode(c),
            c["state"],
            until(c),
            f"{c['progress']}%" if c.get("progress") is not None else "",
            c.get("message", ""),
        ]
        for c in claims
    ]
