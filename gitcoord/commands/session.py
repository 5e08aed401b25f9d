"""CLI commands: a session and the view of the whole (DESIGN §5): init, start, status, log."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import click

from gitcoord import output
from gitcoord.commands.base import agent_option, coord, fetch_option, json_option
from gitcoord.commands.sections import example


@click.command(
    short_help="Create the coord branch and .coord/config.toml",
    epilog=example("gitcoord init", "gitcoord init --remote origin --branch coord"),
)
@click.option("--remote", default=None, metavar="R", help="Use this remote (default: origin if it exists).")
@click.option("--branch", default=None, metavar="B", help="Name of the coord branch (default: coord).")
@json_option
def init(remote: str | None, branch: str | None, as_json: bool) -> None:
    """Create the coord branch (and push it), and .coord/config.toml if absent."""
    with coord() as c:
        result = c.init(remote=remote, branch=branch)
    if as_json:
        return output.print_json(result)
    where = f"on {result['remote']}" if result["remote"] else "locally (no remote)"
    verb = "created" if result["created"] else "already exists"
    output.say(f"coord branch {result['branch']!r} {verb} {where}.")
    if result["config_written"]:
        output.say("wrote .coord/config.toml (defaults): commit it on your code branch.")


@click.command(
    short_help="Open a session: guard this clone, print my context",
    epilog=example('gitcoord start --agent alpha --role "writes the power modules"'),
)
@click.option("--role", default="", metavar="TEXT", help="What this agent does, shown to the others.")
@agent_option
@json_option
def start(role: str, agent: str | None, as_json: bool) -> None:
    """Startup protocol: open a session and print this agent's context."""
    with coord(agent) as c:
        context = c.start(role=role)
    if as_json:
        return output.print_json(context)
    from gitcoord.briefing import render_context

    output.say(render_context(context))
    _say_hooks(context.get("hooks"))


def _say_hooks(hooks: Mapping[str, Any] | None) -> None:
    """What `start` did to this clone's hooks, when it did or could not do something."""
    if not hooks:
        return
    how = f" through {hooks['manager']}" if hooks["manager"] not in ("none", "tracked") else ""
    if hooks["installed"]:
        output.say(f"hooks: installed gitcoord's {', '.join(hooks['installed'])} hook(s) in this clone{how}.")
    if hooks["files"]:
        output.say(f"hooks: changed {', '.join(hooks['files'])}: commit them.")
    if hooks["problem"]:
        output.say(f"hooks: this clone is NOT guarded: {hooks['problem']}", style="red")


@click.command(
    short_help="The team at a glance: agents, claims, open items",
    epilog=example("gitcoord status", "gitcoord status --json"),
)
@fetch_option
@agent_option
@json_option
def status(fetch: bool, agent: str | None, as_json: bool) -> None:
    """Agents, claims, help requests, errors, decisions and tasks at a glance."""
    with coord(agent) as c:
        report = c.status(fetch=fetch)
    if as_json:
        return output.print_json(report)
    from gitcoord.status_view import render_status

    render_status(report)


@click.command(
    short_help="The audit trail, read from the coord history",
    epilog=example("gitcoord log --agent alpha -n 20"),
)
@click.option("--since", default=None, metavar="WHEN", help="Only commits after WHEN (git date syntax).")
@click.option("--agent", "who", default=None, metavar="A", help="Only this agent's actions.")
@click.option("-n", "limit", type=click.IntRange(min=1), default=None, help="At most this many entries.")
@fetch_option
@json_option
def log(since: str | None, who: str | None, limit: int | None, fetch: bool, as_json: bool) -> None:
    """The audit trail, read from the coord history."""
    with coord() as c:
        entries = c.log(since=since, agent=who, limit=limit, fetch=fetch)
    if as_json:
        return output.print_json(entries)
    rows = [
        [
            output.when(e["time"]),
            e.get("rev", ""),
            _who(e.get("agent", "")),
            e.get("action", ""),
            _what(e) + (f" [{e['signature']}]" if e.get("signature") else ""),
            ", ".join(e.get("records", [])),
        ]
        for e in entries
    ]
    output.table("coord log", ["time", "rev", "agent", "action", "what", "records"], rows)


def _who(agent: str) -> str:
    """The log's agent column, compact: a human act's `human:lead@example.com` as `human:lead`."""
    kind, colon, whom = agent.partition(":")
    return f"{kind}:{whom.partition('@')[0]}" if colon and kind == "human" else agent


def _what(entry: Mapping[str, Any]) -> str:
    """The object of a log subject `<agent>: <action> <what>`."""
    rest = str(entry["subject"]).partition(": ")[2]
    action = entry.get("action", "")
    return rest[len(action) :].strip() if action and rest.startswith(action) else rest


@click.command(
    short_help="Move the coord store to this gitcoord's format, once",
    epilog=example("gitcoord migrate"),
)
@json_option
def migrate(as_json: bool) -> None:
    """Move the coord store to this gitcoord's format in one write (DESIGN §2).

    Until then this gitcoord reads an older store but writes nothing to it; after it, every
    clone of the team needs a gitcoord that knows the new format."""
    from gitcoord.migrate import migrate as migrate_store

    with coord() as c:
        result = migrate_store(c)
    if as_json:
        return output.print_json(result)
    if result["migrated"]:
        output.say(
            f"coord store {result['branch']!r} migrated from format {result['from']} to {result['to']}; "
            "every clone now needs a gitcoord that knows it."
        )
    else:
        output.say(f"coord store {result['branch']!r} is already format {result['from']}: nothing to do.")


COMMANDS = (init, start, status, log, migrate)
