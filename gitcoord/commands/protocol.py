"""CLI commands: the coordination protocol (DESIGN §5).

request-help, help-requests list|ack|resolve, send, inbox, task add|list|next|done|block|unblock,
log-error, errors list|resolve, log-decision, decisions list|approve|reject|implement,
daily-summary, summaries list. Each command builds the Coordinator, calls one method and
renders the result; `--json` prints the records as stored.
"""

from __future__ import annotations

import sys
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import click

# From constants (light), not the records, so `gitcoord claim` does not pay for pydantic.
from gitcoord.constants import DECISION_STATUSES, ERROR_TYPES, IMPACTS, PRIORITIES, SEVERITIES

TRACE_LIMIT = 64 * 1024
CLIP = 90


def _clip(text: str, limit: int = CLIP) -> str:
    flat = " ".join(str(text).split())
    return flat if len(flat) <= limit else flat[: limit - 3] + "..."


def _words(words: Sequence[str], what: str) -> str:
    """A free-text argument given as one quoted string or as several words."""
    text = " ".join(words)
    if not text.strip():
        raise click.UsageError(f"give the {what}.")
    return text


def _dump(record: Any) -> dict[str, Any]:
    return record.model_dump(mode="json")  # type: ignore[no-any-return]


def _proof(proof: dict[str, Any]) -> str:
    """A review's proof for people: verified (by whom), unverified, or "" without allowed signers."""
    if proof["review_verified"] is None:
        return ""
    return f"verified: {proof['review_signer']}" if proof["review_verified"] else "UNVERIFIED"


def register(cli: click.Group) -> None:
    """Add the protocol commands to the `gitcoord` group."""
    from gitcoord import output
    from gitcoord.cli import agent_option, coord, fetch_option, json_option

    def show(records: Sequence[Any], as_json: bool, title: str, columns: list[str],
             row: Callable[[Any], list[Any]]) -> None:
        if as_json:
            output.print_json([_dump(r) for r in records])
        else:
            output.table(title, columns, [row(r) for r in records])

    def done(record: Any, as_json: bool, text: str) -> None:
        if as_json:
            output.print_json(_dump(record))
        else:
            output.say(text)

    # -- help requests ----------------------------------------------------------------

    @cli.command("request-help")
    @click.option("--to", "to", required=True, metavar="AGENT|any", help="Who should help (any: whoever can).")
    @click.option("--priority", type=click.Choice(PRIORITIES), default="normal", show_default=True)
    @click.option("--resource", default="", metavar="R", help="The resource it is about.")
    @click.argument("message", nargs=-1, required=True)
    @agent_option
    @json_option
    def request_help(to: str, priority: str, resource: str, message: tuple[str, ...], agent: str | None,
                     as_json: bool) -> None:
        """Ask another agent (or any agent) for help with MESSAGE."""
        with coord(agent) as c:
            record = c.request_help(to, _words(message, "message"), priority=priority, resource=resource)
        done(record, as_json, f"asked {to} for help as {record.id} ({priority}); "
                              f"it shows in their `gitcoord start` until resolved.")

    @cli.group("help-requests")
    def help_requests() -> None:
        """List, acknowledge and resolve help requests."""

    def help_row(h: Any) -> list[Any]:
        return [h.id, h.priority, h.status, h.from_agent, h.to, h.resource, _clip(h.message)]

    @help_requests.command("list")
    @click.option("--open", "open_only", is_flag=True, help="Only requests not yet resolved.")
    @fetch_option
    @agent_option
    @json_option
    def help_list(open_only: bool, fetch: bool, agent: str | None, as_json: bool) -> None:
        """Help requests, open ones first, by priority."""
        with coord(agent) as c:
            found = c.help_requests(open_only=open_only, fetch=fetch)
        show(found, as_json, "help requests", ["id", "priority", "status", "from", "to", "resource", "message"],
             help_row)

    @help_requests.command("ack")
    @click.argument("help_id", metavar="ID")
    @agent_option
    @json_option
    def help_ack(help_id: str, agent: str | None, as_json: bool) -> None:
        """Say you are on it: ID becomes acknowledged."""
        with coord(agent) as c:
            record = c.ack_help(help_id)
        done(record, as_json, f"acknowledged {record.id} from {record.from_agent}; "
                              f"when done: gitcoord help-requests resolve {record.id} --note \"...\"")

    @help_requests.command("resolve")
    @click.argument("help_id", metavar="ID")
    @click.option("--note", required=True, help="What was done about it.")
    @agent_option
    @json_option
    def help_resolve(help_id: str, note: str, agent: str | None, as_json: bool) -> None:
        """Close help request ID with a note."""
        with coord(agent) as c:
            record = c.resolve_help(help_id, note)
        done(record, as_json, f"resolved {record.id}.")

    # -- messages -----------------------------------------------------------------------

    @cli.command()
    @click.option("--to", "to", required=True, metavar="AGENT|any", help="The recipient (any: every agent).")
    @click.option("--reply-to", default="", metavar="ID", help="The message this answers.")
    @click.argument("message", nargs=-1, required=True)
    @agent_option
    @json_option
    def send(to: str, reply_to: str, message: tuple[str, ...], agent: str | None, as_json: bool) -> None:
        """Leave MESSAGE for an agent, or for every agent."""
        with coord(agent) as c:
            record = c.send(to, _words(message, "message"), reply_to=reply_to)
        done(record, as_json, f"sent {record.id} to {to}.")

    @cli.command()
    @click.argument("ids", nargs=-1, metavar="[ID]...")
    @click.option("--all", "all_", is_flag=True, help="Also messages already read.")
    @click.option("--mark-read", is_flag=True, help="Mark the unread messages (or IDs) as read.")
    @fetch_option
    @agent_option
    @json_option
    def inbox(ids: tuple[str, ...], all_: bool, mark_read: bool, fetch: bool, agent: str | None,
              as_json: bool) -> None:
        """Messages to me or to everyone: unread ones (read-only unless --mark-read)."""
        if ids and not mark_read:
            raise click.UsageError("IDs go with --mark-read.")
        with coord(agent) as c:
            found = c.mark_read(list(ids) if ids else None) if mark_read else c.inbox(all=all_, fetch=fetch)
        if mark_read and not as_json:
            output.say(f"marked {len(found)} message(s) read: {', '.join(m.id for m in found) or 'none'}.")
            return
        show(found, as_json, "inbox", ["id", "from", "to", "reply to", "message"],
             lambda m: [m.id, m.from_agent, m.to, m.reply_to, m.body])

    # -- tasks ----------------------------------------------------------------------------

    @cli.group()
    def task() -> None:
        """The task queue: add, list, take the next, finish, block, unblock."""

    def task_row(t: Any) -> list[Any]:
        return [t.id, t.priority, t.status, t.assignee, ", ".join(t.resources), ", ".join(t.depends_on),
                _clip(t.title, 60)]

    task_columns = ["id", "priority", "status", "assignee", "resources", "depends on", "title"]

    @task.command("add")
    @click.argument("title", nargs=-1, required=True)
    @click.option("--resource", "resources", multiple=True, metavar="R", help="A resource it needs (repeatable).")
    @click.option("--assign", default="", metavar="A", help="Reserve it for this agent.")
    @click.option("--priority", type=click.Choice(PRIORITIES), default="normal", show_default=True)
    @click.option("--depends-on", "depends_on", multiple=True, metavar="ID", help="A task to finish first.")
    @click.option("-m", "--message", "description", default="", help="A longer description.")
    @agent_option
    @json_option
    def task_add(title: tuple[str, ...], resources: tuple[str, ...], assign: str, priority: str,
                 depends_on: tuple[str, ...], description: str, agent: str | None, as_json: bool) -> None:
        """Queue a task called TITLE."""
        with coord(agent) as c:
            record = c.add_task(_words(title, "title"), resources=resources, assign=assign, priority=priority,
                                depends_on=depends_on, description=description)
        done(record, as_json, f"added {record.id} ({priority})" + (f" for {assign}" if assign else "") + ".")

    @task.command("list")
    @click.option("--mine", is_flag=True, help="Only tasks assigned to me.")
    @click.option("--ready", is_flag=True, help="Only tasks I could take now.")
    @fetch_option
    @agent_option
    @json_option
    def task_list(mine: bool, ready: bool, fetch: bool, agent: str | None, as_json: bool) -> None:
        """Tasks, in progress first, by priority."""
        with coord(agent) as c:
            found = c.tasks(mine=mine, ready=ready, fetch=fetch)
        show(found, as_json, "tasks", task_columns, task_row)

    @task.command("next")
    @click.option("--wait", type=float, default=0, metavar="SECS", help="Keep trying up to SECS seconds.")
    @agent_option
    @json_option
    def task_next(wait: float, agent: str | None, as_json: bool) -> None:
        """Take the most urgent ready task (exit 3: none).

        Atomically: claims the task's resources, all or nothing, and marks it
        in progress. Tasks assigned to me come first, then by priority; a task
        whose resources others hold is skipped for the next one.
        """
        with coord(agent) as c:
            record = c.next_task(wait=wait)
        claims = f", claimed {', '.join(record.claim_ids)}" if record.claim_ids else ""
        done(record, as_json, f"took {record.id}: {record.title}{claims}. "
                              f"When done: gitcoord task done {record.id} -m \"...\"")

    @task.command("done")
    @click.argument("task_id", metavar="ID")
    @click.option("-m", "--message", "note", default="", help="What was done.")
    @agent_option
    @json_option
    def task_done(task_id: str, note: str, agent: str | None, as_json: bool) -> None:
        """Finish task ID and release the claims it took."""
        with coord(agent) as c:
            record = c.done_task(task_id, note=note)
        done(record, as_json, f"{record.id} done; its claims are released.")

    @task.command("block")
    @click.argument("task_id", metavar="ID")
    @click.option("--reason", required=True, help="What it waits for.")
    @agent_option
    @json_option
    def task_block(task_id: str, reason: str, agent: str | None, as_json: bool) -> None:
        """Park task ID (its claims are released) until `task unblock`."""
        with coord(agent) as c:
            record = c.block_task(task_id, reason=reason)
        done(record, as_json, f"{record.id} blocked; requeue it with: gitcoord task unblock {record.id}")

    @task.command("unblock")
    @click.argument("task_id", metavar="ID")
    @agent_option
    @json_option
    def task_unblock(task_id: str, agent: str | None, as_json: bool) -> None:
        """Put blocked task ID back in the queue."""
        with coord(agent) as c:
            record = c.unblock_task(task_id)
        done(record, as_json, f"{record.id} is back in the queue.")

    # -- errors ----------------------------------------------------------------------------

    @cli.command("log-error")
    @click.option("--type", "type_", type=click.Choice(ERROR_TYPES), required=True, help="What kind of error.")
    @click.option("--severity", type=click.Choice(SEVERITIES), required=True, help="How bad.")
    @click.option("--resource", default="", metavar="R", help="The resource it concerns.")
    @click.option("--trace-file", type=click.Path(dir_okay=False, allow_dash=True), default=None, metavar="F",
                  help="A stack trace to attach (up to 64 KiB; - reads stdin).")
    @click.argument("message", nargs=-1, required=True)
    @agent_option
    @json_option
    def log_error(type_: str, severity: str, resource: str, trace_file: str | None, message: tuple[str, ...],
                  agent: str | None, as_json: bool) -> None:
        """Record an error (MESSAGE) for the team and the humans."""
        trace = _read_trace(trace_file) if trace_file else ""
        with coord(agent) as c:
            record = c.log_error(type_, _words(message, "message"), severity=severity, resource=resource,
                                 trace=trace)
        done(record, as_json, f"logged {record.id} ({type_}, {severity}).")

    @cli.group()
    def errors() -> None:
        """List and resolve logged errors."""

    @errors.command("list")
    @click.option("--open", "open_only", is_flag=True, help="Only unresolved errors.")
    @click.option("--severity", type=click.Choice(SEVERITIES), default=None)
    @agent_option
    @json_option
    @fetch_option
    def errors_list(open_only: bool, severity: str | None, fetch: bool, agent: str | None, as_json: bool) -> None:
        """Errors, open ones first, most severe first."""
        with coord(agent) as c:
            found = c.errors(open_only=open_only, severity=severity, fetch=fetch)
        show(found, as_json, "errors", ["id", "severity", "type", "status", "agent", "resource", "message"],
             lambda e: [e.id, e.severity, e.type, e.status, e.agent, e.resource, _clip(e.message)])

    @errors.command("resolve")
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

    @cli.command("log-decision")
    @click.option("--category", required=True, metavar="C", help="e.g. api_design, data_model.")
    @click.option("--impact", type=click.Choice(IMPACTS), required=True, help="How much it changes.")
    @click.option("--rationale", required=True, metavar="TEXT", help="Why.")
    @click.option("--alternative", "alternatives", multiple=True, metavar="A", help="An option not taken.")
    @click.argument("title", nargs=-1, required=True)
    @agent_option
    @json_option
    def log_decision(category: str, impact: str, rationale: str, alternatives: tuple[str, ...],
                     title: tuple[str, ...], agent: str | None, as_json: bool) -> None:
        """Propose a decision called TITLE; a human approves or rejects it."""
        with coord(agent) as c:
            record = c.log_decision(category, _words(title, "title"), rationale, impact=impact,
                                    alternatives=alternatives)
        done(record, as_json, f"proposed {record.id}; once a human approves it: "
                              f"gitcoord decisions implement {record.id}")

    @cli.group()
    def decisions() -> None:
        """List, approve, reject and implement decisions (approval is for humans)."""

    @decisions.command("list")
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
            return output.print_json([_dump(d) | proof[d.id] for d in found])
        output.table("decisions", ["id", "status", "impact", "category", "agent", "reviewed by", "review", "title"],
                     [[d.id, d.status, d.impact, d.category, d.agent, d.reviewed_by, _proof(proof[d.id]),
                       _clip(d.title, 60)] for d in found])

    def review(verb: str) -> Callable[..., None]:
        @click.argument("decision_id", metavar="ID")
        @click.option("--note", default="", help="Said to the proposer.")
        @agent_option
        @json_option
        def command(decision_id: str, note: str, agent: str | None, as_json: bool) -> None:
            with coord(agent) as c:
                act = c.approve_decision if verb == "approve" else c.reject_decision
                record = act(decision_id, note=note)
                proof = c.review_status([record])[record.id]
            if as_json:
                return output.print_json(_dump(record) | proof)
            said = f" ({_proof(proof)})" if proof["review_verified"] is not None else ""
            output.say(f"{record.id} {record.status} by {record.reviewed_by}{said}.")

        command.__doc__ = f"{verb.capitalize()} proposed decision ID (humans only: refused for agents)."
        return command

    decisions.command("approve")(review("approve"))
    decisions.command("reject")(review("reject"))

    @decisions.command("implement")
    @click.argument("decision_id", metavar="ID")
    @agent_option
    @json_option
    def decisions_implement(decision_id: str, agent: str | None, as_json: bool) -> None:
        """Mark approved decision ID implemented."""
        with coord(agent) as c:
            record = c.implement_decision(decision_id)
        done(record, as_json, f"{record.id} implemented.")

    # -- daily summaries -------------------------------------------------------------------

    @cli.command("daily-summary")
    @click.option("--day", "day_number", type=int, default=None, metavar="N", help="Day number of the project.")
    @click.option("--completed", required=True, metavar="TEXT", help="What got done today.")
    @click.option("--next", "next_", required=True, metavar="TEXT", help="What comes next.")
    @click.option("--blockers", default="", metavar="TEXT")
    @click.option("--messages", default="", metavar="TEXT", help="Notes for the others.")
    @click.option("--metric", "metrics", multiple=True, metavar="K=V", help="A metric (repeatable).")
    @agent_option
    @json_option
    def daily_summary(day_number: int | None, completed: str, next_: str, blockers: str, messages: str,
                      metrics: tuple[str, ...], agent: str | None, as_json: bool) -> None:
        """Write today's summary (a second one the same day replaces it)."""
        from gitcoord.protocol import parse_metrics

        with coord(agent) as c:
            record = c.daily_summary(completed=completed, next=next_, blockers=blockers, messages=messages,
                                     metrics=parse_metrics(metrics), day_number=day_number)
        done(record, as_json, f"wrote the summary of {record.day.isoformat()} for {record.agent}.")

    @cli.group()
    def summaries() -> None:
        """Read the daily summaries."""

    @summaries.command("list")
    @click.option("--agent", "who", default=None, metavar="A", help="Only this agent's summaries.")
    @fetch_option
    @json_option
    def summaries_list(who: str | None, fetch: bool, as_json: bool) -> None:
        """Daily summaries, newest first."""
        with coord() as c:
            found = c.summaries(agent=who, fetch=fetch)
        show(found, as_json, "daily summaries", ["day", "agent", "#", "completed", "next", "blockers"],
             lambda s: [s.day.isoformat(), s.agent, s.day_number if s.day_number is not None else "",
                        _clip(s.completed, 50), _clip(s.next, 50), _clip(s.blockers, 40)])


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
        raise InvalidInput(f"the trace file {path} is over 64 KiB.", hint="attach its last part: tail -c 60000 F")
    return data.decode("utf-8", errors="replace")
