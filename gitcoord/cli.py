"""The `gitcoord` command line: the group, its commands gathered from `gitcoord.commands`, and `main`.

Each command lives in the module of its area under `gitcoord/commands/` and imports downward only
(`commands.base` and the library); this module names them (`TABLE`) and the group imports only the
area of the command that runs (`commands.lazy`), never the reverse. Errors are mapped
to exit codes in exactly one place (`main`): every `GitcoordError` carries its own code (DESIGN §5).
"""

from __future__ import annotations

import sys
import traceback
from collections.abc import Sequence

import click

from gitcoord.commands.base import Ctx, agent_option
from gitcoord.commands.lazy import LazyGroup
from gitcoord.commands.sections import SectionedGroup, example
from gitcoord.errors import GitcoordError
from gitcoord.stderr import say_error, show_warnings


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
        raise InvalidInput(
            f"{where}: cannot use it as a directory ({getattr(exc, 'strerror', None) or exc})."
        ) from None
    if not stat.S_ISDIR(mode):
        raise InvalidInput(
            f"{where}: not a directory.", hint="-C takes the directory to run in, as git's -C."
        )
    if not os.access(value, os.X_OK):
        raise InvalidInput(f"{where}: cannot enter the directory (permission denied).")
    return value


# The areas of `gitcoord.commands`, in the order of DESIGN §5 (`--help` lists the commands sorted).
AREAS = (
    "session",
    "claims",
    "help",
    "messages",
    "tasks",
    "journal",
    "enforcement",
    "publishing",
    "agents",
    "automatic",
)
# Which area's attribute each command is: a command imports only its own area's module
# (tests/test_fast_paths.py holds this table to the areas' COMMANDS).
TABLE = {
    "init": "session:init",
    "start": "session:start",
    "status": "session:status",
    "log": "session:log",
    "migrate": "session:migrate",
    "claim": "claims:claim",
    "check-in": "claims:check_in",
    "release": "claims:release",
    "claims": "claims:claims",
    "request-help": "help:request_help",
    "help-requests": "help:help_requests",
    "send": "messages:send",
    "inbox": "messages:inbox",
    "task": "tasks:task",
    "log-error": "journal:log_error",
    "errors": "journal:errors",
    "log-decision": "journal:log_decision",
    "decisions": "journal:decisions",
    "daily-summary": "journal:daily_summary",
    "summaries": "journal:summaries",
    "hooks": "enforcement:hooks_group",
    "verify": "enforcement:verify",
    "guard": "enforcement:guard",
    "hook-run": "enforcement:hook_run",
    "dashboard": "publishing:dashboard",
    "notion": "publishing:notion",
    "ci": "publishing:ci",
    "demo": "agents:demo",
    "mcp": "agents:mcp",
    "doctor": "agents:doctor",
    "integrate": "agents:integrate",
    "conflicts": "automatic:conflicts",
}


class Group(LazyGroup, SectionedGroup):
    """The `gitcoord` group: commands imported on first use (`LazyGroup`), listed in sections."""


@click.group(
    cls=Group,
    package="gitcoord.commands",
    areas=AREAS,
    table=TABLE,
    context_settings={"help_option_names": ["-h", "--help"], "max_content_width": 100},
    epilog=example(
        "gitcoord demo                      # watch three agents, in a throwaway repo",
        'gitcoord start --agent alpha --role "writes the API"',
        'gitcoord claim src/api.py -m "adding the endpoint"',
    ),
)
@click.option(
    "-C", "repo", default=".", metavar="PATH", callback=_directory, help="Run as if started in PATH."
)
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


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point: run the CLI and turn every failure into its exit code."""
    show_warnings()
    stdout, stderr = sys.stdout, sys.stderr
    try:
        # Without standalone mode click returns the code of a `ctx.exit(code)` instead of exiting.
        code = cli.main(
            args=list(argv) if argv is not None else None, prog_name="gitcoord", standalone_mode=False
        )
    except GitcoordError as exc:
        return say_error(exc)
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
    except SystemExit:
        # click meets a closed pipe (EPIPE) by wrapping both streams to quiet them and exiting 1;
        # a reader that went away (`gitcoord claims | head -1`) is a success here, as above.
        if getattr(sys.stdout, "wrapped", None) is not stdout:
            raise
        sys.stdout, sys.stderr = stdout, stderr
        return 0
    except Exception:
        click.echo("gitcoord: internal error (please report it with what follows):", err=True)
        traceback.print_exc(file=sys.stderr)
        return 1
    return code if isinstance(code, int) else 0
