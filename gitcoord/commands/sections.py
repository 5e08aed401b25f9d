"""How `--help` lists the commands: by what a user does, in a fixed order, never cut with "...".

`SECTIONS` is the plain table of which command sits in which section of `gitcoord --help`, in the
order a new user meets them. It names commands and imports none, so any entry point can read it
(a lazy loader included). Light on purpose: click only.
"""

from __future__ import annotations

import click

SECTIONS: tuple[tuple[str, tuple[str, ...]], ...] = (
    ("Getting started", ("demo", "init", "integrate", "start", "status", "mcp")),
    ("Claims", ("claim", "check-in", "release", "claims", "conflicts")),
    (
        "Talking to each other",
        ("send", "inbox", "request-help", "help-requests", "daily-summary", "summaries"),
    ),
    ("Tasks", ("task",)),
    ("Decisions and errors", ("log-decision", "decisions", "log-error", "errors")),
    ("Enforcement", ("hooks", "verify", "guard")),
    ("Publishing", ("dashboard", "notion", "ci")),
    ("Maintenance", ("doctor", "log", "migrate")),
)

# A command's one-line summary in a listing, at most this long: with the longest command name
# (13) it fits one line of an 80-column terminal. A test holds every summary to it, so the
# listing passes click an unbounded limit and never cuts a summary with "...".
SUMMARY_LIMIT = 60
_UNCUT = 10_000


def example(*lines: str) -> str:
    """An `Example:` block for a command's epilog, its lines kept as written (click's `\\b`).

    Example: `@click.command(epilog=example("gitcoord claim src/api.py -m 'the endpoint'"))`.
    """
    return "\b\nExample:\n" + "\n".join(f"  {line}" for line in lines)


def _rows(group: click.Group, ctx: click.Context, names: list[str]) -> list[tuple[str, str]]:
    """(name, whole summary) of the visible commands among `names`, names padded to the widest
    of the group's, so that every section's summaries start in the same column."""
    visible = {name: cmd for name, cmd in group.commands.items() if not cmd.hidden}
    width = max(map(len, visible), default=0)
    return [
        (name.ljust(width), visible[name].get_short_help_str(_UNCUT)) for name in names if name in visible
    ]


class Group(click.Group):
    """A group that lists its commands in the order they were added, with whole summaries."""

    def list_commands(self, ctx: click.Context) -> list[str]:
        return list(self.commands)

    def format_commands(self, ctx: click.Context, formatter: click.HelpFormatter) -> None:
        rows = _rows(self, ctx, self.list_commands(ctx))
        if rows:
            with formatter.section("Commands"):
                formatter.write_dl(rows)


class SectionedGroup(Group):
    """The top-level group: commands under the headings of `SECTIONS`, in the table's order.

    A command the table does not name still shows, under "Other commands" (a test keeps that
    section empty).
    """

    def list_commands(self, ctx: click.Context) -> list[str]:
        placed = [name for _, names in SECTIONS for name in names if name in self.commands]
        return placed + sorted(set(self.commands) - set(placed))

    def format_commands(self, ctx: click.Context, formatter: click.HelpFormatter) -> None:
        placed: set[str] = set()
        for title, names in SECTIONS:
            placed.update(names)
            rows = _rows(self, ctx, list(names))
            if rows:
                with formatter.section(title):
                    formatter.write_dl(rows)
        rest = _rows(self, ctx, sorted(set(self.commands) - placed))
        if rest:
            with formatter.section("Other commands"):
                formatter.write_dl(rest)
