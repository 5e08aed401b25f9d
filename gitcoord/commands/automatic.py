"""CLI commands of automatic coordination: `conflicts`, `release --merged`, and the `--wait` option.

`release --merged [REF]` is an option of the core `release` command, which hands over here.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, TypeVar

import click

F = TypeVar("F", bound=Callable[..., Any])


def wait_option(func: F) -> F:
    """`--wait SECS` on reads: return as soon as something new for the agent is there."""
    return click.option("--wait", type=float, default=0, metavar="SECS",
                        help="Wait up to SECS seconds for something new for you (returns as soon as it is "
                             "there).")(func)


def release_merged_command(resources: tuple[str, ...], *, all_: bool, force: bool, agent: str | None,
                           as_json: bool) -> None:
    """`release --merged [REF]`: release what landed (see `gitcoord.merged`)."""
    from gitcoord import output
    from gitcoord.cli import coord
    from gitcoord.errors import InvalidInput
    from gitcoord.merged import release_merged

    if all_ or force:
        raise InvalidInput("--merged goes alone: it releases the until-merged claims whose work landed.",
                           hint="gitcoord release --merged [REF]")
    if len(resources) > 1:
        raise InvalidInput(f"--merged takes at most one REF, not {len(resources)} arguments.",
                           hint="gitcoord release --merged [REF], e.g. gitcoord release --merged origin/main")
    with coord(agent) as c:
        result = release_merged(c, resources[0] if resources else None)
    if as_json:
        return output.print_json(result)
    short = result["commit"][:12]
    if not result["released"]:
        output.say(f"nothing landed on {result['ref']} ({short}) to release.")
    for r in result["released"]:
        output.say(f"released {r['resource']} ({r['id']}, {r['agent']}): its work landed on {result['ref']}.")
    for k in result["kept"]:
        output.say(f"kept {k['resource']} ({k['id']}, {k['agent']}): {k['why']}.")


def register(cli: click.Group) -> None:
    """Add `conflicts` to the `gitcoord` group."""
    from gitcoord import output
    from gitcoord.cli import agent_option, coord, fetch_option, json_option

    @cli.command()
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
        render(report)

    def render(report: dict[str, Any]) -> None:
        if report["default"] is None:
            output.say("no default branch (main or master) to compare with.")
            return
        branches = ", ".join(f"{b['agent']} on {b['ref']}" for b in report["branches"]) or "none"
        output.say(f"agents' branches: {branches}; default branch {report['default']}.")
        if not report["pairs"]:
            output.say("no coming conflicts.", style="green")
        for pair in report["pairs"]:
            output.say(describe(pair), style="red" if pair["conflicts"] else "yellow")
            output.say(f"  next: {pair['next']}")

    def describe(pair: dict[str, Any]) -> str:
        one = f"{pair['a']} ({pair['a_branch']})" if pair["a"] else f"the default branch {pair['a_branch']}"
        two = f"{pair['b']} ({pair['b_branch']})"
        parts = []
        if pair["conflicts"]:
            parts.append(f"conflict in {', '.join(pair['conflicts'])}")
        if pair["overlap"]:
            parts.append(f"both change {', '.join(pair['overlap'])}")
        return f"{one} x {two}: " + "; ".join(parts)
