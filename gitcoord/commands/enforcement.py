"""CLI commands: enforcement (DESIGN §5-6): hooks install|uninstall, verify, guard.

The work lives in `gitcoord.hooks`; these commands parse, call it, and render. Imports happen
inside the commands: every `gitcoord` invocation imports this module.
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

import click

from gitcoord import output
from gitcoord.commands.base import json_option, repo_path
from gitcoord.commands.sections import Group, example
from gitcoord.constants import HOOK_MODES
from gitcoord.errors import Refused

MODE_CHOICE = click.Choice(HOOK_MODES)


@click.group(
    "hooks",
    cls=Group,
    short_help="Install or remove the git hooks that enforce claims",
    epilog=example("gitcoord hooks install", "gitcoord hooks uninstall"),
)
def hooks_group() -> None:
    """Install or remove the git hooks that enforce claims."""


@hooks_group.command(
    "install",
    short_help="Install the hooks that refuse commits on others' claims",
    epilog=example(
        "gitcoord hooks install",
        "gitcoord hooks install --mode strict",
        "gitcoord hooks install --server      # in the bare remote",
    ),
)
@click.option(
    "--mode",
    type=MODE_CHOICE,
    default=None,
    help="Enforcement mode for these hooks (default: hooks.mode in .coord/config.toml, else others).",
)
@click.option("--server", is_flag=True, help="In a bare repository: install the pre-receive fence.")
@json_option
def hooks_install(mode: str | None, server: bool, as_json: bool) -> None:
    """Install pre-commit, prepare-commit-msg and pre-push (or pre-receive with --server).

    A hook that was already there is kept as HOOK.legacy and runs first. With a hook manager
    (husky, lefthook, the pre-commit framework) gitcoord runs inside it instead.
    """
    from gitcoord.hooks.install import install

    report = install(repo_path(), mode=mode, server=server).as_dict()
    if as_json:
        return output.print_json(report)
    how = f" through {report['manager']}" if report["manager"] not in ("none", "tracked") else ""
    output.say(
        f"installed {', '.join(report['installed'])} in {report['hooks_dir']}{how} ({_mode_said(mode)})."
    )
    for name in report["kept_legacy"]:
        output.say(f"kept the existing {name} hook as {name}.legacy; it runs first.")
    _say_files(report)


def _mode_said(given: str | None) -> str:
    """The mode the hooks enforce, said as it is: fixed by --mode, or the config's hooks.mode now."""
    if given:
        return f"mode: {given}, fixed by --mode"
    from gitcoord.constants import CONFIG_PATH
    from gitcoord.errors import GitcoordError
    from gitcoord.hooks.lean import LeanRepo

    try:
        now = LeanRepo(repo_path()).mode(None)
    except GitcoordError:
        return f"mode: hooks.mode of {CONFIG_PATH}"
    return f"mode: {now}, from hooks.mode in {CONFIG_PATH}; they follow it when it changes"


def _say_files(report: dict[str, Any]) -> None:
    for note in report["notes"]:
        output.say(note)
    if report["files"]:
        output.say(f"changed {', '.join(report['files'])}: commit them, so every clone runs the same hooks.")


@hooks_group.command(
    "uninstall",
    short_help="Remove gitcoord's hooks, put back the ones they replaced",
    epilog=example("gitcoord hooks uninstall"),
)
@json_option
def hooks_uninstall(as_json: bool) -> None:
    """Remove gitcoord's hooks and put back the ones they replaced."""
    from gitcoord.hooks.install import uninstall

    report = uninstall(repo_path()).as_dict()
    if as_json:
        return output.print_json(report)
    output.say(f"removed {', '.join(report['removed']) or 'nothing'} from {report['hooks_dir']}.")
    for name in report["restored"]:
        output.say(f"restored the previous {name} hook.")
    _say_files(report)


@click.command(
    "verify",
    short_help="Check commits against the claims (what CI runs)",
    epilog=example("gitcoord verify origin/main..HEAD"),
)
@click.argument("revrange", nargs=-1, required=True)
@click.option("--fetch/--no-fetch", default=True, help="Fetch the coord branch first (remote mode).")
@json_option
def verify(revrange: tuple[str, ...], fetch: bool, as_json: bool) -> None:
    """Check every commit of REVRANGE (e.g. origin/main..HEAD) against the claims.

    Exit 3 when a commit touches a path under another agent's live exclusive
    claim or carries a Coord-Claim token a takeover superseded; exit 0 when clean.
    """
    from gitcoord.hooks.lean import LeanRepo, scrub_hook_env
    from gitcoord.hooks.verify import verify_range

    scrub_hook_env()
    path = repo_path()
    if fetch:
        from gitcoord.coordinator import Coordinator

        with Coordinator(path) as coordinator:
            if coordinator.store.remote:
                coordinator.store.fetch()
    report = verify_range(LeanRepo(path), list(revrange))
    unsigned = _unsigned_human_acts(path, list(revrange))
    if as_json:
        output.print_json(
            report.as_dict() | ({"unsigned_human_acts": unsigned} if unsigned is not None else {})
        )
    else:
        output.say(report.render())
        for act in unsigned or []:
            output.say(
                f"commit {act['commit'][:12]}: {act['action']} by {act['actor']} is {act['signature']}."
            )
    if unsigned:
        raise Refused(
            f"verify found {len(unsigned)} human act(s) no allowed signer signed in {' '.join(revrange)}.",
            hint="review.allowed_signers lists who may approve, reject and force a release; "
            "an unsigned one was not made through a signed gitcoord act.",
        )
    if not report.clean:
        raise Refused(
            f"verify found {len(report.violations)} violation(s) in {' '.join(revrange)}.",
            hint=report.hint(),
        )


def _unsigned_human_acts(path: Path, revrange: list[str]) -> list[dict[str, str]] | None:
    """With allowed signers at HEAD: the range's human acts no listed key signed (None: not configured)."""
    from gitcoord.signing import Authority

    authority = Authority.load(path)
    return authority.unsigned_acts(revrange) if authority.configured else None


@click.command(
    "guard",
    short_help="The editor's pre-edit hook: deny edits of others' claims",
    epilog=example("gitcoord guard --format claude < tool-call.json"),
)
@click.option(
    "--format",
    "fmt",
    type=click.Choice(["claude", "codex"]),
    required=True,
    help="The editor whose PreToolUse hook JSON arrives on stdin.",
)
def guard(fmt: str) -> None:
    """Read an editor's tool call on stdin; deny an edit of a path another agent claims."""
    from gitcoord.hooks.guard import run_guard

    code, answer = run_guard("claude" if fmt == "claude" else "codex", sys.stdin.read())
    if answer:
        click.echo(answer)
    if code:
        raise click.exceptions.Exit(code)


@click.command("hook-run", hidden=True, context_settings={"ignore_unknown_options": True})
@click.argument("args", nargs=-1, type=click.UNPROCESSED)
def hook_run(args: tuple[str, ...]) -> None:
    """Internal: what installed hook scripts run (HOOK SCRIPT MODE ARGS...)."""
    from gitcoord.hooks.run import main

    code = main(list(args))
    if code:
        raise click.exceptions.Exit(code)


COMMANDS = (hooks_group, verify, guard, hook_run)
