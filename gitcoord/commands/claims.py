"""CLI commands: claims (DESIGN §4-5): claim, check-in, release, claims.

`claim` is a hot path: nothing here imports more than click and `output` at module level.
"""

from __future__ import annotations

import click

from gitcoord import output
from gitcoord.commands.base import agent_option, coord, fetch_option, json_option
from gitcoord.commands.sections import example
from gitcoord.errors import Refused


@click.command(
    short_help="Claim paths, dirs/, globs or names, all or nothing",
    epilog=example(
        'gitcoord claim modules/power/battery.md --minutes 30 -m "writing it"',
        "gitcoord claim db:migrations --shared --wait 300",
    ),
)
@click.argument("resources", nargs=-1, required=True)
@click.option("--minutes", type=float, default=None, help="Lease length (default from config: 30).")
@click.option("--shared", is_flag=True, help="A shared claim: conflicts only with exclusive ones.")
@click.option("-m", "--message", default="", help="What you are doing with it.")
@click.option("--wait", type=float, default=0, metavar="SECS", help="Keep trying up to SECS seconds.")
@click.option(
    "--until-merged",
    is_flag=True,
    help="Release it when its work lands on the default branch (release --merged).",
)
@agent_option
@json_option
def claim(
    resources: tuple[str, ...],
    minutes: float | None,
    shared: bool,
    message: str,
    wait: float,
    until_merged: bool,
    agent: str | None,
    as_json: bool,
) -> None:
    """Claim RESOURCES (paths, dirs/, globs, scheme:names), all or nothing."""
    with coord(agent) as c:
        granted = c.claim(
            list(resources),
            minutes=minutes,
            shared=shared,
            message=message,
            wait=wait,
            until_merged=until_merged,
        )
        views = [c.claim_view(g, c.store.clock(), c.agent) for g in granted]
    if as_json:
        return output.print_json(views)
    for v in views:
        lands = ", released when its work lands" if v.get("until_merged") else ""
        output.say(
            f"claimed {v['resource']} as {v['id']} (token {v['token']}, {v['mode']}{lands}) "
            f"until {output.when(v['expires_at'])}",
            style="green",
        )


@click.command(
    "check-in",
    short_help="Renew my claims' leases and record progress",
    epilog=example('gitcoord check-in --progress 60 -m "tests written"'),
)
@click.argument("resources", nargs=-1)
@click.option("--progress", type=int, default=None, metavar="P", help="Progress in percent.")
@click.option("-m", "--message", default="", help="What you are doing now.")
@click.option("--minutes", type=float, default=None, help="New lease length.")
@agent_option
@json_option
def check_in(
    resources: tuple[str, ...],
    progress: int | None,
    message: str,
    minutes: float | None,
    agent: str | None,
    as_json: bool,
) -> None:
    """Heartbeat: renew my claims (all, or RESOURCES) and record progress."""
    with coord(agent) as c:
        result = c.check_in(list(resources), progress=progress, message=message, minutes=minutes)
    if as_json:
        output.print_json(result)
    else:
        due = output.when(result["next_check_in"])
        if result["renewed"]:
            output.say(f"checked in ({', '.join(result['renewed'])} renewed); next check-in by {due}.")
        elif result["kept"]:
            held = ", ".join(result["kept"])
            output.say(
                f"checked in ({held} held, renewed when half its lease is gone); next check-in by {due}."
            )
        else:
            output.say("checked in; you hold no claims, so no check-in is due.")
        if result.get("conflicts"):
            from gitcoord.briefing import coming_conflicts

            for line in coming_conflicts(result["conflicts"]):
                output.say(f"coming conflict: {line}", style="yellow")
    if result["lost"]:
        from gitcoord.briefing import removal_proof

        lost = "; ".join(
            f"{x['id']} on {x['resource']}"
            + (f", now {x['now_held_by']}'s" if x["now_held_by"] else "")
            + removal_proof(x)
            for x in result["lost"]
        )
        raise Refused(
            f"you lost claims since your last check-in: {lost}.",
            hint="stop editing them; claim them again (gitcoord claim ... --wait) before you go on.",
        )


@click.command(
    short_help="Release claims: RESOURCES, ids, --all or --merged",
    epilog=example('gitcoord release modules/power/battery.md -m "module done"', "gitcoord release --all"),
)
@click.argument("resources", nargs=-1)
@click.option("--all", "all_", is_flag=True, help="Release every claim I hold.")
@click.option("-m", "--message", default="", help="What was done.")
@click.option("--force", is_flag=True, help="Release someone else's claim (humans; recorded).")
@click.option("--reason", default="", help="Why, for --force (recorded in the commit).")
@click.option(
    "--merged",
    is_flag=True,
    help="Release the until-merged claims whose work landed on REF (default: the default branch).",
)
@agent_option
@json_option
def release(
    resources: tuple[str, ...],
    all_: bool,
    message: str,
    force: bool,
    reason: str,
    merged: bool,
    agent: str | None,
    as_json: bool,
) -> None:
    """Release RESOURCES (or claim ids), or --all; or, with --merged [REF], what landed."""
    if merged:
        return _release_merged(resources, all_=all_, force=force, agent=agent, as_json=as_json)
    with coord(agent) as c:
        released = c.release(list(resources), all=all_, message=message, force=force, reason=reason)
    if as_json:
        return output.print_json([r.model_dump(mode="json") for r in released])
    if not released:
        output.say("nothing to release.")
    for r in released:
        output.say(f"released {r.resource} ({r.id}, {r.agent})")


def _release_merged(
    resources: tuple[str, ...], *, all_: bool, force: bool, agent: str | None, as_json: bool
) -> None:
    """`release --merged [REF]`: release what landed (see `gitcoord.merged`)."""
    from gitcoord.errors import InvalidInput
    from gitcoord.merged import release_merged

    if all_ or force:
        raise InvalidInput(
            "--merged goes alone: it releases the until-merged claims whose work landed.",
            hint="gitcoord release --merged [REF]",
        )
    if len(resources) > 1:
        raise InvalidInput(
            f"--merged takes at most one REF, not {len(resources)} arguments.",
            hint="gitcoord release --merged [REF], e.g. gitcoord release --merged origin/main",
        )
    with coord(agent) as c:
        result = release_merged(c, resources[0] if resources else None)
    if as_json:
        return output.print_json(result)
    if not result["released"]:
        output.say(f"nothing landed on {result['ref']} ({result['commit'][:12]}) to release.")
    for r in result["released"]:
        output.say(f"released {r['resource']} ({r['id']}, {r['agent']}): its work landed on {result['ref']}.")
    for k in result["kept"]:
        output.say(f"kept {k['resource']} ({k['id']}, {k['agent']}): {k['why']}.")


@click.command(
    short_help="List live claims", epilog=example("gitcoord claims", "gitcoord claims --agent alpha --json")
)
@click.option("--all", "all_", is_flag=True, help="Also dead claims still in the tree.")
@fetch_option
@agent_option
@json_option
def claims(all_: bool, fetch: bool, agent: str | None, as_json: bool) -> None:
    """List live claims."""
    with coord(agent) as c:
        found = c.claims(all=all_, fetch=fetch)
    if as_json:
        return output.print_json(found)
    from gitcoord.status_view import CLAIM_COLUMNS, claims_rows

    output.table("claims", CLAIM_COLUMNS, claims_rows(found))


COMMANDS = (claim, check_in, release, claims)
