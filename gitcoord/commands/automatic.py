"""CLI commands of automatic coordination: `conflicts` (the radar before the merge).

`release --merged [REF]` is an option of `release` (gitcoord.commands.claims); `--wait` on
`inbox` and `help-requests list` is `base.wait_option`.
"""

from __future__ import annotations

from typing import Any

import click

from gitcoord import output
from gitcoord.commands.base import agent_option, coord, fetch_option, json_option
from gitcoord.commands.sections import example


@click.command(
    short_help="Coming merge conflicts between agents' branches",
    epilog=example("gitcoord conflicts", "gitcoord conflicts --json"),
)
@fetch_option
@agent_option
@json_option
def conflicts(fetch: bool, agent: str | None, as_json: bool) -> None:
    """Coming merge conflicts between agents' branches and with the default branch."""
    from gitcoord.conflicts import radar

    with coord(agent) as c:
        report = radar(c, fetch=fetch)
    if as_json:
        return output.print_json(report)
    _render(report)


def _render(report: dict[str, Any]) -> None:
    if report["default"] is None:
        output.say("no default branch (main or master) to compare with.")
        return
    branches = ", ".join(f"{b['agent']} on {b['ref']}" for b in report["branches"]) or "none"
    output.say(f"agents' branches: {branches}; default branch {report['default']}.")
    if not report["pairs"]:
        output.say("no coming conflicts.", style="green")
    for pair in report["pairs"]:
        output.say(_describe(pair), style="red" if pair["conflicts"] else "yellow")
        output.say(f"  next: {pair['next']}")


def _describe(pair: dict[str, Any]) -> str:
    one = f"{pair['a']} ({pair['a_branch']})" if pair["a"] else f"the default branch {pair['a_branch']}"
    two = f"{pair['b']} ({pair['b_branch']})"
    parts = []
    if pair["conflicts"]:
        parts.append(f"conflict in {', '.join(pair['conflicts'])}")
    if pair["overlap"]:
        parts.append(f"both change {', '.join(pair['overlap'])}")
    return f"{one} x {two}: " + "; ".join(parts)


COMMANDS = (conflicts,)
