"""CLI commands: agents' interfaces (DESIGN §5, §8): demo, mcp, doctor, integrate.

Every import of real work happens inside the command: every `gitcoord`
invocation imports this module, and `mcp` in particular is heavy.
"""

from __future__ import annotations

from pathlib import Path

import click

from gitcoord import output
from gitcoord.commands.base import agent_option, ctx_agent, json_option, repo_path
from gitcoord.commands.sections import example


@click.command(
    short_help="Watch three agents coordinate in a throwaway repository", epilog=example("gitcoord demo")
)
@click.option(
    "--keep",
    type=click.Path(file_okay=False, path_type=Path),
    default=None,
    metavar="DIR",
    help="Build the world in DIR (new or empty) and leave it there, dashboard included.",
)
@click.option(
    "--out",
    type=click.Path(path_type=Path),
    default="gitcoord-demo.html",
    show_default=True,
    metavar="FILE",
    help="Where to write the demo's dashboard (relative to where you run it).",
)
def demo(keep: Path | None, out: Path) -> None:
    """Three agents coordinate through a throwaway shared repository (about 15 s).

    Builds a bare remote and clones in a temporary directory, runs alpha, beta
    and gamma as concurrent processes through claims, a refused conflict, a
    commit refused by the hook, a help request, errors, a decision approved by
    the human and daily summaries, then shows `status` and writes the HTML
    dashboard to gitcoord-demo.html (or --out FILE), which it prints. Never reads or
    changes your git configuration.
    """
    from gitcoord.demo import run_demo
    from gitcoord.demo_scenario import DemoFailed

    if run_demo(keep, out=out if out.is_absolute() else repo_path() / out):
        raise DemoFailed(
            "the demo did not complete: see the lines above.",
            hint="please report it with the output; --keep DIR leaves the world to inspect.",
        )


@click.command(
    short_help="Serve the coordination operations over MCP (stdio)",
    epilog=example("gitcoord mcp --agent alpha"),
)
@agent_option
def mcp(agent: str | None) -> None:
    """Serve the coordination operations to an agent over MCP (stdio).

    Identity: --agent, GITCOORD_AGENT, or this worktree's `gitcoord start`.
    Example for Claude Code: claude mcp add gitcoord -- gitcoord mcp --agent alpha
    """
    from gitcoord.mcp import serve

    serve(repo_path(), ctx_agent(agent))


@click.command(
    short_help="Check config, hooks, remote, records, clock; say the fix",
    epilog=example("gitcoord doctor", "gitcoord doctor --json"),
)
@json_option
def doctor(as_json: bool) -> None:
    """Check config, coord branch, hooks, remote, records and clock; each problem with its fix.

    Exit 0 when everything is healthy (a warning alone still exits 0), 4 when the remote
    cannot be reached (coordination is unavailable), 3 for any other problem.
    """
    from gitcoord.doctor import diagnose, render
    from gitcoord.errors import Refused, Unavailable

    report = diagnose(repo_path())
    if as_json:
        output.print_json(report)
    else:
        render(report)
    problems = [f for f in report["findings"] if f["level"] == "problem"]
    if problems:
        # An exception, not click's Exit: gitcoord's main maps exit codes from errors only.
        error = Unavailable if report["remote_unreachable"] else Refused
        raise error(
            f"doctor found {len(problems)} problem(s): {', '.join(f['check'] for f in problems)}.",
            hint="apply the fixes above, then run `gitcoord doctor` again.",
        )


@click.command(
    short_help="Write the agents' instructions and the editor guard",
    epilog=example("gitcoord integrate claude", "gitcoord integrate agents-md"),
)
@click.argument("target", type=click.Choice(["agents-md", "claude", "codex"]))
@click.option("--remove", is_flag=True, help="Take the block (and the editor guard) out again.")
@json_option
def integrate(target: str, remove: bool, as_json: bool) -> None:
    """Write the agents' instructions into AGENTS.md or CLAUDE.md (between markers).

    agents-md and codex write AGENTS.md, claude writes CLAUDE.md; the rest of the
    file is kept, and running it twice changes nothing. claude and codex also
    install the editor guard (.claude/settings.json, .codex/hooks.json).
    """
    from gitcoord.integrate import integrate as run

    result = run(repo_path(), target, remove=remove)
    if as_json:
        return output.print_json(result)
    for line in result["done"]:
        output.say(line)


COMMANDS = (demo, mcp, doctor, integrate)
