"""CLI commands: the team's journal (DESIGN §5): errors, decisions and daily summaries.

log-error, errors list|resolve, log-decision, decisions list|approve|reject|implement,
daily-summary, summaries list. `--json` prints the records as stored.
"""

from __future__ import annotations

import sys
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import click

from gitcoord import output
from gitcoord.commands.base import (
    DECISION_STATUSES,
    ERROR_TYPES,
    IMPACTS,
    SEVERITIES,
    agent_option,
    clip,
    coord,
    done,
    dump,
    fetch_option,
    json_option,
    show,
    words,
)
from gitcoord.commands.sections import Group, example

TRACE_LIMIT = 64 * 1024


# -- errors ----------------------------------------------------------------------------


@click.command(
    "log-error",
    short_help="Record an error for the team and the humans",
    epilog=example('gitcoord log-error --type code_error --severity high "API returns 500"'),
)
@click.option("--type", "type_", type=click.Choice(ERROR_TYPES), required=True, help="What kind of error.")
@click.option("--severity", type=click.Choice(SEVERITIES), required=True, help="How bad.")
@click.option("--resource", default="", metavar="R", help="The resource it concerns.")
@click.option(
    "--trace-file",
    type=click.Path(dir_okay=False, allow_dash=True),
    default=None,
    metavar="F",
    help="A stack trace to attach (up to 64 KiB; - reads stdin).",
)
@click.argument("message", nargs=-1, required=True)
@agent_option
@json_option
def log_error(
    type_: str,
    severity: str,
    resource: str,
    trace_file: str | None,
    message: tuple[str, ...],
    agent: str | None,
    as_json: bool,
) -> None:
    """Record an error (MESSAGE) for the team and the humans."""
    trace = _read_trace(trace_file) if trace_file else ""
    with coord(agent) as c:
        record = c.log_error(
            type_, words(message, "message"), severity=severity, resource=resource, trace=trace
        )
    done(record, as_json, f"logged {record.id} ({type_}, {severity}).")


def _read_trace(path: str) -> str:
    """The trace file's text; over 64 KiB is refused (exit 2) before anything is written."""
    from gitcoord.errors import InvalidInput

    data: bytes
    if path == "-":
        data = sys.stdin.buffer.read(TRACE_LIMIT + 1)
    else:
        try:
            with Path(path).open("rb") as handle:
                data = handle.read(TRACE_LIMIT + 1)
        except OSError as exc:
            raise InvalidInput(f"cannot read the trace file {path}: {exc.strerror}.") from exc
    if len(data) > TRACE_LIMIT:
        raise InvalidInput(
            f"the trace file {path} is over 64 KiB.", hint="attach its last part: tail -c 60000 F"
        )
    return data.decode("utf-8", errors="replace")


@click.group(
    cls=Group,
    short_help="List and resolve logged errors",
    epilog=example(
        "gitcoord errors list --open", 'gitcoord errors resolve E-9 --note "added the missing await"'
    ),
)
def errors() -> None:
    """List and resolve logged errors."""


@errors.command(
    "list",
    short_help="Errors, open ones first, most severe first",
    epilog=example("gitcoord errors list --open --severity high"),
)
@click.option("--open", "open_only", is_flag=True, help="Only unresolved errors.")
@click.option("--severity", type=click.Choice(SEVERITIES), default=None)
@agent_option
@json_option
@fetch_option
def errors_list(open_only: bool, severity: str | None, fetch: bool, agent: str | None, as_json: bool) -> None:
    """Errors, open ones first, most severe first."""
    with coord(agent) as c:
        found = c.errors(open_only=open_only, severity=severity, fetch=fetch)
    show(
        found,
        as_json,
        "errors",
        ["id", "severity", "type", "status", "agent", "resource", "message"],
        lambda e: [e.id, e.severity, e.type, e.status, e.agent, e.resource, clip(e.message)],
    )


@errors.command(
    "resolve",
    short_help="Close an error with a note",
    epilog=example('gitcoord errors resolve E-9 --note "added the missing await"'),
)
@click.argument("error_id", metavar="ID")
@click.option("--note", required=True, help="What fixed it.")
@agent_option
@json_option
def errors_resolve(error_id: str, note: str, agent: str | None, as_json: bool) -> None:
    """Close error ID with a note."""
    with coord(agent) as c:
        record = c.resolve_error(error_id, note)
    done(record, as_json, f"resolved {record.id}.")


# -- decisions -------------------------------------------------------------------------


@click.command(
    "log-decision",
    short_help="Propose a decision; a human approves or rejects it",
    epilog=example(
        'gitcoord log-decision "Use JWT tokens" --category api_design --impact high \\',
        '    --rationale "stateless, better for the SPA" --alternative sessions',
    ),
)
@click.option("--category", required=True, metavar="C", help="e.g. api_design, data_model.")
@click.option("--impact", type=click.Choice(IMPACTS), required=True, help="How much it changes.")
@click.option("--rationale", required=True, metavar="TEXT", help="Why.")
@click.option("--alternative", "alternatives", multiple=True, metavar="A", help="An option not taken.")
@click.argument("title", nargs=-1, required=True)
@agent_option
@json_option
def log_decision(
    category: str,
    impact: str,
    rationale: str,
    alternatives: tuple[str, ...],
    title: tuple[str, ...],
    agent: str | None,
    as_json: bool,
) -> None:
    """Propose a decision called TITLE; a human approves or rejects it."""
    with coord(agent) as c:
        record = c.log_decision(
            category, words(title, "title"), rationale, impact=impact, alternatives=alternatives
        )
    done(
        record,
        as_json,
        f"proposed {record.id}; once a human approves it: gitcoord decisions implement {record.id}",
    )


@click.group(
    cls=Group,
    short_help="List, approve, reject and implement decisions",
    epilog=example(
        "gitcoord decisions list --status proposed", 'gitcoord decisions approve D-10 --note "go"'
    ),
)
def decisions() -> None:
    """List, approve, reject and implement decisions (approval is for humans)."""


def _proof(proof: Mapping[str, Any]) -> str:
    """A review's proof for people: verified (by whom), unverified, or "" without allowed signers."""
    if proof["review_verified"] is None:
        return ""
    return f"verified: {proof['review_signer']}" if proof["review_verified"] else "UNVERIFIED"


@decisions.command(
    "list",
    short_help="Decisions, proposed ones first, high impact first",
    epilog=example("gitcoord decisions list --status proposed"),
)
@click.option("--status", type=click.Choice(DECISION_STATUSES), default=None)
@agent_option
@json_option
@fetch_option
def decisions_list(status: str | None, fetch: bool, agent: str | None, as_json: bool) -> None:
    """Decisions, proposed ones first, high impact first."""
    with coord(agent) as c:
        found = c.decisions(status=status, fetch=fetch)
        proof = c.review_status(found)
    if as_json:
        return output.print_json([dump(d) | proof[d.id] for d in found])
    output.table(
        "decisions",
        ["id", "status", "impact", "category", "agent", "reviewed by", "review", "title"],
        [
            [
                d.id,
                d.status,
                d.impact,
                d.category,
                d.agent,
                d.reviewed_by,
                _proof(proof[d.id]),
                clip(d.title, 60),
            ]
            for d in found
        ],
    )


@decisions.command(
    "approve",
    short_help="Approve a proposed decision (humans only)",
    epilog=example('gitcoord decisions approve D-10 --note "go"'),
)
@click.argument("decision_id", metavar="ID")
@click.option("--note", default="", help="Said to the proposer.")
@agent_option
@json_option
def decisions_approve(decision_id: str, note: str, agent: str | None, as_json: bool) -> None:
    """Approve proposed decision ID (humans only: refused for agents)."""
    _review("approve", decision_id, note, agent, as_json)


@decisions.command(
    "reject",
    short_help="Reject a proposed decision (humans only)",
    epilog=example('gitcoord decisions reject D-10 --note "not before the release"'),
)
@click.argument("decision_id", metavar="ID")
@click.option("--note", default="", help="Said to the proposer.")
@agent_option
@json_option
def decisions_reject(decision_id: str, note: str, agent: str | None, as_json: bool) -> None:
    """Reject proposed decision ID (humans only: refused for agents)."""
    _review("reject", decision_id, note, agent, as_json)


def _review(verb: str, decision_id: str, note: str, agent: str | None, as_json: bool) -> None:
    """A human's approval or rejection, printed with its proof (the signature allowed signers verify)."""
    with coord(agent) as c:
        act = c.approve_decision if verb == "approve" else c.reject_decision
        record = act(decision_id, note=note)
        proof = c.review_status([record])[record.id]
    if as_json:
        return output.print_json(dump(record) | proof)
    said = f" ({_proof(proof)})" if proof["review_verified"] is not None else ""
    output.say(f"{record.id} {record.status} by {record.reviewed_by}{said}.")


@decisions.command(
    "implement",
    short_help="Mark an approved decision implemented",
    epilog=example("gitcoord decisions implement D-10"),
)
@click.argument("decision_id", metavar="ID")
@agent_option
@json_option
def decisions_implement(decision_id: str, agent: str | None, as_json: bool) -> None:
    """Mark approved decision ID implemented."""
    with coord(agent) as c:
        record = c.implement_decision(decision_id)
    done(record, as_json, f"{record.id} implemented.")


# -- daily summaries -------------------------------------------------------------------


@click.command(
    "daily-summary",
    short_help="Write today's summary (replaces today's earlier one)",
    epilog=example('gitcoord daily-summary --day 4 --completed "battery" --next "solar"'),
)
@click.option("--day", "day_number", type=int, default=None, metavar="N", help="Day number of the project.")
@click.option("--completed", required=True, metavar="TEXT", help="What got done today.")
@click.option("--next", "next_", required=True, metavar="TEXT", help="What comes next.")
@click.option("--blockers", default="", metavar="TEXT")
@click.option("--messages", default="", metavar="TEXT", help="Notes for the others.")
@click.option("--metric", "metrics", multiple=True, metavar="K=V", help="A metric (repeatable).")
@agent_option
@json_option
def daily_summary(
    day_number: int | None,
    completed: str,
    next_: str,
    blockers: str,
    messages: str,
    metrics: tuple[str, ...],
    agent: str | None,
    as_json: bool,
) -> None:
    """Write today's summary (a second one the same day replaces it)."""
    from gitcoord.journal import parse_metrics

    with coord(agent) as c:
        record = c.daily_summary(
            completed=completed,
            next=next_,
            blockers=blockers,
            messages=messages,
            metrics=parse_metrics(metrics),
            day_number=day_number,
        )
    done(record, as_json, f"wrote the summary of {record.day.isoformat()} for {record.agent}.")


@click.group(
    cls=Group, short_help="Read the daily summaries", epilog=example("gitcoord summaries list --agent alpha")
)
def summaries() -> None:
    """Read the daily summaries."""


@summaries.command(
    "list",
    short_help="Daily summaries, newest first",
    epilog=example("gitcoord summaries list --agent alpha"),
)
@click.option("--agent", "who", default=None, metavar="A", help="Only this agent's summaries.")
@fetch_option
@json_option
def summaries_list(who: str | None, fetch: bool, as_json: bool) -> None:
    """Daily summaries, newest first."""
    with coord() as c:
        found = c.summaries(agent=who, fetch=fetch)
    show(
        found,
        as_json,
        "daily summaries",
        ["day", "agent", "#", "completed", "next", "blockers"],
        lambda s: [
            s.day.isoformat(),
            s.agent,
            s.day_number if s.day_number is not None else "",
            clip(s.completed, 50),
            clip(s.next, 50),
            clip(s.blockers, 40),
        ],
    )


COMMANDS = (log_error, errors, log_decision, decisions, daily_summary, summaries)
