"""CLI commands: messages between agents (DESIGN §5): send, inbox."""

from __future__ import annotations

import click

from gitcoord import output
from gitcoord.commands.base import (
    agent_option,
    coord,
    done,
    dump,
    fetch_option,
    json_option,
    show,
    wait_option,
    words,
)
from gitcoord.commands.sections import example
from gitcoord.plain import inbox_row


@click.command(
    short_help="Leave a message for an agent, or for every agent",
    epilog=example(
        'gitcoord send --to beta "the schema is ready"', 'gitcoord send --to any "main is frozen until 16:00"'
    ),
)
@click.option("--to", "to", required=True, metavar="AGENT|any", help="The recipient (any: every agent).")
@click.option("--reply-to", default="", metavar="ID", help="The message this answers.")
@click.argument("message", nargs=-1, required=True)
@agent_option
@json_option
def send(to: str, reply_to: str, message: tuple[str, ...], agent: str | None, as_json: bool) -> None:
    """Leave MESSAGE for an agent, or for every agent."""
    with coord(agent) as c:
        record = c.send(to, words(message, "message"), reply_to=reply_to)
    done(record, as_json, f"sent {record.id} to {to}.")


@click.command(
    short_help="My messages: the unread ones, or --all",
    epilog=example("gitcoord inbox", "gitcoord inbox --mark-read"),
)
@click.argument("ids", nargs=-1, metavar="[ID]...")
@click.option("--all", "all_", is_flag=True, help="Also messages already read.")
@click.option("--mark-read", is_flag=True, help="Mark the unread messages (or IDs) as read.")
@wait_option
@fetch_option
@agent_option
@json_option
def inbox(
    ids: tuple[str, ...],
    all_: bool,
    mark_read: bool,
    wait: float,
    fetch: bool,
    agent: str | None,
    as_json: bool,
) -> None:
    """Messages to me or to everyone: unread ones (read-only unless --mark-read)."""
    if ids and not mark_read:
        raise click.UsageError("IDs go with --mark-read.")
    if wait and mark_read:
        raise click.UsageError("--wait goes with reading the inbox, not with --mark-read.")
    with coord(agent) as c:
        if wait:
            from gitcoord import waiting

            found = waiting.inbox(c, wait, all=all_)
        else:
            found = c.mark_read(list(ids) if ids else None) if mark_read else c.inbox(all=all_, fetch=fetch)
    if mark_read and not as_json:
        output.say(f"marked {len(found)} message(s) read: {', '.join(m.id for m in found) or 'none'}.")
        return
    show(
        found,
        as_json,
        "inbox",
        ["id", "from", "to", "reply to", "message"],
        lambda m: inbox_row(dump(m)),
    )


COMMANDS = (send, inbox)
