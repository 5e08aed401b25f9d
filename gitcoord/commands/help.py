"""CLI commands: help requests (DESIGN §5): request-help, help-requests list|ack|resolve."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import click

from gitcoord.commands.base import (
    PRIORITIES,
    agent_option,
    clip,
    coord,
    done,
    fetch_option,
    json_option,
    show,
    wait_option,
    words,
)
from gitcoord.commands.sections import Group, example

if TYPE_CHECKING:
    from gitcoord.records import HelpRequest


@click.command(
    "request-help",
    short_help="Ask another agent, or any agent, for help",
    epilog=example('gitcoord request-help --to gamma --priority high "need the cohort data"'),
)
@click.option("--to", "to", required=True, metavar="AGENT|any", help="Who should help (any: whoever can).")
@click.option("--priority", type=click.Choice(PRIORITIES), default="normal", show_default=True)
@click.option("--resource", default="", metavar="R", help="The resource it is about.")
@click.argument("message", nargs=-1, required=True)
@agent_option
@json_option
def request_help(
    to: str, priority: str, resource: str, message: tuple[str, ...], agent: str | None, as_json: bool
) -> None:
    """Ask another agent (or any agent) for help with MESSAGE."""
    with coord(agent) as c:
        record = c.request_help(to, words(message, "message"), priority=priority, resource=resource)
    done(
        record,
        as_json,
        f"asked {to} for help as {record.id} ({priority}); "
        f"it shows in their `gitcoord start` until resolved.",
    )


@click.group(
    "help-requests",
    cls=Group,
    short_help="List, acknowledge and resolve help requests",
    epilog=example(
        "gitcoord help-requests list --open", 'gitcoord help-requests resolve H-12 --note "data loaded"'
    ),
)
def help_requests() -> None:
    """List, acknowledge and resolve help requests."""


def _row(h: HelpRequest) -> list[Any]:
    return [h.id, h.priority, h.status, h.from_agent, h.to, h.resource, clip(h.message)]


@help_requests.command(
    "list",
    short_help="Help requests, open ones first, by priority",
    epilog=example("gitcoord help-requests list --open"),
)
@click.option("--open", "open_only", is_flag=True, help="Only requests not yet resolved.")
@wait_option
@fetch_option
@agent_option
@json_option
def help_list(open_only: bool, wait: float, fetch: bool, agent: str | None, as_json: bool) -> None:
    """Help requests, open ones first, by priority."""
    with coord(agent) as c:
        if wait:
            from gitcoord import waiting

            found = waiting.help_requests(c, wait, open_only=open_only)
        else:
            found = c.help_requests(open_only=open_only, fetch=fetch)
    show(
        found,
        as_json,
        "help requests",
        ["id", "priority", "status", "from", "to", "resource", "message"],
        _row,
    )


@help_requests.command(
    "ack",
    short_help="Say you are on it: the request becomes acknowledged",
    epilog=example("gitcoord help-requests ack H-12"),
)
@click.argument("help_id", metavar="ID")
@agent_option
@json_option
def help_ack(help_id: str, agent: str | None, as_json: bool) -> None:
    """Say you are on it: ID becomes acknowledged."""
    with coord(agent) as c:
        record = c.ack_help(help_id)
    done(
        record,
        as_json,
        f"acknowledged {record.id} from {record.from_agent}; "
        f'when done: gitcoord help-requests resolve {record.id} --note "..."',
    )


@help_requests.command(
    "resolve",
    short_help="Close a help request with a note",
    epilog=example('gitcoord help-requests resolve H-12 --note "data loaded"'),
)
@click.argument("help_id", metavar="ID")
@click.option("--note", required=True, help="What was done about it.")
@agent_option
@json_option
def help_resolve(help_id: str, note: str, agent: str | None, as_json: bool) -> None:
    """Close help request ID with a note."""
    with coord(agent) as c:
        record = c.resolve_help(help_id, note)
    done(record, as_json, f"resolved {record.id}.")


COMMANDS = (request_help, help_requests)
