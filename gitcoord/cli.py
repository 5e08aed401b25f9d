"""The `gitcoord` command line: parse, call one Coordinator method, render.

Errors are mapped to exit codes in exactly one place (`main`): every
`GitcoordError` carries its own code (DESIGN §5).
"""

from __future__ import annotations

import logging
import sys
import traceback
from collections.abc import Callable, Sequence
from typing import Any, TypeVar

import click

from gitcoord import output
from gitcoord.errors import GitcoordError, Refused

F = TypeVar("F", bound=Callable[..., Any])


class Ctx:
    """What the group options decided, shared with every command."""

    def __init__(self, repo: str, agent: str | None) -> None:
        self.repo = repo
        self.agent = agent

    def coordinator(self, agent: str | None = None) -> Any:
        from gitcoord.coordinator import Coordinator

        return Coordinator(self.repo, agent=agent or self.agent)


def _given_agent(ctx: click.Context, param: click.Parameter, value: str | None) -> str | None:
    """An `--agent` that is given is an identity: empty or blank is bad input, never "no agent"
    (which would make an agent a human, free to review decisions and force releases)."""
    if value is not None and not value.strip():
        from gitcoord.errors import InvalidInput
        from gitcoord.validate import quoted

        raise InvalidInput(f"--agent is given but empty ({quoted(value)}).",
                           hint="pass the agent's name; a person acting as a human leaves --agent out.")
    return value


def agent_option(func: F) -> F:
    """`--agent NAME` on every command as well as on the group."""
    return click.option("--agent", "agent", metavar="NAME", default=None, callback=_given_agent,
                        help="Act as this agent (else GITCOORD_AGENT, `start`, git config coord.agent).")(func)


def fetch_option(func: F) -> F:
    """`--fetch/--no-fetch` on reads: in remote mode, fetch the coord branch first (default)."""
    return click.option("--fetch/--no-fetch", default=True,
                        help="Fetch the remote first (remote mode; --no-fetch reads the local copy).")(func)


def json_option(func: F) -> F:
    return click.option("--json", "as_json", is_flag=True, help="Print a stable JSON document.")(func)


def coord(agent: str | None = None) -> Any:
    ctx = click.get_current_context().find_object(Ctx)
    assert ctx is not None
    return ctx.coordinator(agent)


def _directory(ctx: click.Context, param: click.Parameter, value: str) -> str:
    """`-C PATH` must name a directory this process can enter; else one line, exit 2."""
    import os
    import stat

    from gitcoord.errors import InvalidInput
    from gitcoord.validate import quoted

    where = f"-C {quoted(value)}"
    try:
        mode = os.stat(value).st_mode
    except FileNotFoundError:
        raise InvalidInput(f"{where}: the directory does not exist.") from None
    except (OSError, ValueError) as exc:  # too long, a file on the way, a NUL...
        raise InvalidInput(f"{where}: cannot use it as a directory ({getattr(exc, 'strerror', None) or exc}).") \
            from None
    if not stat.S_ISDIR(mode):
        raise InvalidInput(f"{where}: not a directory.", hint="-C takes the directory to run in, as git's -C.")
    if not os.access(value, os.X_OK):
        raise InvalidInput(f"{where}: cannot enter the directory (permission denied).")
    return value


@click.group(context_settings={"help_option_names": ["-h", "--help"], "max_content_width": 100})
@click.option("-C", "repo", default=".", metavar="PATH", callback=_directory, help="Run as if started in PATH.")
@agent_option
@click.version_option(package_name="gitcoord")
@click.pass_context
def cli(ctx: click.Context, repo: str, agent: str | None) -> None:
    """Coordinate several coding agents in one git repository, through git itself.

    Every record lives as TOML under .coord/ on the `coord` branch; every
    write is one commit landed by compare-and-swap. Exit codes: 0 done,
    1 internal error, 2 bad input, 3 refused, 4 coordination unavailable.
    """
    ctx.obj = Ctx(repo, agent)


def _claims_rows(claims: Sequence[dict[str, Any]]) -> list[list[Any]]:
    return [[c["id"], c["agent"], c["resource"], output.claim_mode(c), c["state"],
             output.short_time(c["expires_at"]), c.get("progress") if c.get("progress") is not None else "",
             c.get("message", "")] for c in claims]


CLAIM_COLUMNS = ["id", "agent", "resource", "mode", "state", "until", "%", "message"]


@cli.command()
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


@cli.command()
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


def _say_hooks(hooks: dict[str, Any] | None) -> None:
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


@cli.command()
@click.argument("resources", nargs=-1, required=True)
@click.option("--minutes", type=float, default=None, help="Lease length (default from config: 30).")
@click.option("--shared", is_flag=True, help="A shared claim: conflicts only with exclusive ones.")
@click.option("-m", "--message", default="", help="What you are doing with it.")
@click.option("--wait", type=float, default=0, metavar="SECS", help="Keep trying up to SECS seconds.")
@agent_option
@json_option
def claim(resources: tuple[str, ...], minutes: float | None, shared: bool, message: str, wait: float,
          agent: str | None, as_json: bool) -> None:
    """Claim RESOURCES (paths, dirs/, globs, scheme:names), all or nothing."""
    with coord(agent) as c:
        granted = c.claim(list(resources), minutes=minutes, shared=shared, message=message, wait=wait)
        views = [c.claim_view(g, c.store.clock(), c.agent) for g in granted]
    if as_json:
        return output.print_json(views)
    for v in views:
        output.say(f"claimed {v['resource']} as {v['id']} (token {v['token']}, {v['mode']}) "
                   f"until {v['expires_at']}", style="green")


@cli.command("check-in")
@click.argument("resources", nargs=-1)
@click.option("--progress", type=int, default=None, metavar="P", help="Progress in percent.")
@click.option("-m", "--message", default="", help="What you are doing now.")
@click.option("--minutes", type=float, default=None, help="New lease length.")
@agent_option
@json_option
def check_in(resources: tuple[str, ...], progress: int | None, message: str, minutes: float | None,
             agent: str | None, as_json: bool) -> None:
    """Heartbeat: renew my claims (all, or RESOURCES) and record progress."""
    with coord(agent) as c:
        result = c.check_in(list(resources), progress=progress, message=message, minutes=minutes)
    if as_json:
        output.print_json(result)
    else:
        renewed = ", ".join(result["renewed"]) or "no claims"
        output.say(f"checked in ({renewed} renewed); next check-in by {result['next_check_in']:%H:%M}Z.")
    if result["lost"]:
        from gitcoord.briefing import removal_proof

        lost = "; ".join(f"{x['id']} on {x['resource']}" + (f", now {x['now_held_by']}'s" if x["now_held_by"] else "")
                         + removal_proof(x) for x in result["lost"])
        raise Refused(f"you lost claims since your last check-in: {lost}.",
                      hint="stop editing them; claim them again (gitcoord claim ... --wait) before you go on.")


@cli.command()
@click.argument("resources", nargs=-1)
@click.option("--all", "all_", is_flag=True, help="Release every claim I hold.")
@click.option("-m", "--message", default="", help="What was done.")
@click.option("--force", is_flag=True, help="Release someone else's claim (humans; recorded).")
@click.option("--reason", default="", help="Why, for --force (recorded in the commit).")
@agent_option
@json_option
def release(resources: tuple[str, ...], all_: bool, message: str, force: bool, reason: str,
            agent: str | None, as_json: bool) -> None:
    """Release RESOURCES (or claim ids), or --all."""
    with coord(agent) as c:
        released = c.release(list(resources), all=all_, message=message, force=force, reason=reason)
    if as_json:
        return output.print_json([r.model_dump(mode="json") for r in released])
    if not released:
        output.say("nothing to release.")
    for r in released:
        output.say(f"released {r.resource} ({r.id}, {r.agent})")


@cli.command()
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
    output.table("claims", CLAIM_COLUMNS, _claims_rows(found))


@cli.command()
@fetch_option
@agent_option
@json_option
def status(fetch: bool, agent: str | None, as_json: bool) -> None:
    """Agents, claims, help requests, errors, decisions and tasks at a glance."""
    with coord(agent) as c:
        report = c.status(fetch=fetch)
    if as_json:
        return output.print_json(report)
    from gitcoord.briefing import render_status

    render_status(report)


@cli.command()
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
    rows = [[e["time"][:19].replace("T", " "), e.get("rev", ""), e.get("agent", ""), e.get("action", ""),
             _what(e) + (f" [{e['signature']}]" if e.get("signature") else ""), ", ".join(e.get("records", []))]
            for e in entries]
    output.table("coord log", ["time", "rev", "agent", "action", "what", "records"], rows)


from gitcoord.commands import register_all  # noqa: E402 - the group must exist first

register_all(cli)


class _StderrWarnings(logging.Handler):
    """Library warnings (a skipped malformed record, ...) as `gitcoord: warning:` lines."""

    def emit(self, record: logging.LogRecord) -> None:
        click.echo(output.clean(f"gitcoord: warning: {record.getMessage()}"), err=True)


def _setup_logging() -> None:
    logger = logging.getLogger("gitcoord")
    if not any(isinstance(h, _StderrWarnings) for h in logger.handlers):
        logger.addHandler(_StderrWarnings(logging.WARNING))
        logger.propagate = False


def _what(entry: dict[str, Any]) -> str:
    """The object of a log subject `<agent>: <action> <what>`."""
    rest = str(entry["subject"]).partition(": ")[2]
    action = entry.get("action", "")
    return rest[len(action):].strip() if action and rest.startswith(action) else rest


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point: run the CLI and turn every failure into its exit code."""
    _setup_logging()
    try:
        # Without standalone mode click returns the code of a `ctx.exit(code)` instead of exiting.
        code = cli.main(args=list(argv) if argv is not None else None, prog_name="gitcoord", standalone_mode=False)
    except GitcoordError as exc:
        click.echo(output.clean(f"gitcoord: {exc.render()}"), err=True)
        return exc.exit_code
    except click.exceptions.Exit as exc:
        return int(exc.exit_code)
    except click.ClickException as exc:
        exc.show()
        return 2
    except click.exceptions.Abort:
        click.echo("gitcoord: aborted.", err=True)
        return 1
    except BrokenPipeError:
        return 0
    except Exception:
        click.echo("gitcoord: internal error (please report it with what follows):", err=True)
        traceback.print_exc(file=sys.stderr)
        return 1
    return code if isinstance(code, int) else 0


def entry() -> None:
    sys.exit(main())
