"""CLI commands: publishing (see DESIGN §5 and §7): dashboard, notion, ci.

Nothing heavy is imported at module level: every `gitcoord` run imports this
module, and `notion_client` is loaded only by the notion commands.
"""

from __future__ import annotations

from pathlib import Path

import click

from gitcoord import output
from gitcoord.commands.base import coord, json_option
from gitcoord.commands.sections import Group, example


@click.command(
    short_help="Write a self-contained HTML dashboard", epilog=example("gitcoord dashboard --out status.html")
)
@click.option(
    "--out",
    "out",
    default="gitcoord-dashboard.html",
    show_default=True,
    metavar="FILE",
    type=click.Path(dir_okay=False, path_type=Path),
    help="Where to write the HTML page.",
)
@click.option("--fetch/--no-fetch", default=True, help="Fetch the remote first (remote mode).")
@json_option
def dashboard(out: Path, fetch: bool, as_json: bool) -> None:
    """Write a self-contained HTML dashboard (no network needed to view it)."""
    from gitcoord.dashboard import write_dashboard

    with coord() as c:
        path = write_dashboard(c, out, fetch=fetch)
    if as_json:
        return output.print_json({"path": str(path), "bytes": path.stat().st_size})
    output.say(f"wrote {path}")


@click.group(
    cls=Group,
    short_help="Publish to Notion and bring reviews back",
    epilog=example(
        "NOTION_TOKEN=secret_... gitcoord notion setup --parent PAGE_ID",
        "NOTION_TOKEN=secret_... gitcoord notion sync",
    ),
)
def notion() -> None:
    """Publish the coord state to Notion and bring reviews back (NOTION_TOKEN)."""


@notion.command(
    "setup",
    short_help="Create the Notion databases and record their ids",
    epilog=example("NOTION_TOKEN=secret_... gitcoord notion setup --parent PAGE_ID"),
)
@click.option(
    "--parent", required=True, metavar="PAGE_ID", help="The Notion page to create the databases under."
)
@json_option
def notion_setup(parent: str, as_json: bool) -> None:
    """Create the databases (or add missing properties) and record their ids in .coord/config.toml."""
    from gitcoord.notion import sync as notion_sync
    from gitcoord.validate import check_text

    check_text(parent, "parent page id", 200)
    with coord() as c:
        api = notion_sync.connect(c)
        api.command = "setup"
        result = notion_sync.setup(c, api, parent)
    if as_json:
        return output.print_json(result)
    output.say(
        f"created: {', '.join(result['created']) or 'none'}; "
        f"completed: {', '.join(result['extended']) or 'none'}."
    )
    output.say("database ids recorded in .coord/config.toml: commit it on your code branch.")


@notion.command(
    "sync",
    short_help="Upsert every record into Notion, pull reviews back",
    epilog=example("NOTION_TOKEN=secret_... gitcoord notion sync --dry-run"),
)
@click.option("--dry-run", is_flag=True, help="Count what would change; write nothing anywhere.")
@click.option("--json", "as_json", is_flag=True, help="Print the counts as JSON.")
def notion_sync_cmd(dry_run: bool, as_json: bool) -> None:
    """Upsert every record into Notion, append the activity, pull reviews back."""
    from gitcoord.notion import sync as notion_sync
    from gitcoord.notion.progress import for_output

    with coord() as c, for_output(as_json) as progress:
        counts = notion_sync.sync(c, notion_sync.connect(c), dry_run=dry_run, progress=progress)
    if as_json:
        return output.print_json(counts)
    verb = "would be" if dry_run else "were"
    output.say(
        f"{counts['created']} created, {counts['updated']} updated, {counts['unchanged']} unchanged, "
        f"{counts['activity_appended']} activity rows, {counts['pulled_back']} pulled back ({verb}); "
        f"{counts['requests']} requests."
    )
    for line in counts["refused"]:
        output.say(f"not applied from Notion: {line}", style="yellow")
    for line in counts.get("notes", []):
        output.say(line, style="yellow")


@click.group(cls=Group, short_help="Continuous integration workflows", epilog=example("gitcoord ci github"))
def ci() -> None:
    """Continuous integration workflows."""


@ci.command(
    "github",
    short_help="Write the GitHub workflow that syncs to Notion",
    epilog=example("gitcoord ci github", "gitcoord ci github --no-coord"),
)
@click.option(
    "--install",
    default="gitcoord",
    show_default=True,
    metavar="SPEC",
    help="What the workflow installs with pip (a name, a path or a git URL).",
)
@click.option(
    "--coord/--no-coord",
    "on_coord",
    default=True,
    show_default=True,
    help="Also commit the workflow on the coord branch, where pushes to it are read from.",
)
@json_option
def ci_github(install: str, on_coord: bool, as_json: bool) -> None:
    """Write .github/workflows/gitcoord-notion.yml (sync on push to coord, every 15 min, by hand;
    release --merged on push to the default branch).

    The file is written in the working tree, to commit on the default branch (scheduled and
    manual runs read it there), and committed on the coord branch (a push runs the workflow
    found in the pushed commit).
    """
    from gitcoord.ci import WORKFLOW_NAME, default_branch_name, write_workflow
    from gitcoord.errors import InvalidInput

    with coord() as c:
        if c.top is None:
            raise InvalidInput("ci github needs a working tree to write the workflow in.")
        path = write_workflow(
            c.top, branch=c.store.branch, install=install, default_branch=default_branch_name(c)
        )
        coord_state = "skipped"
        if on_coord:
            coord_state = (
                "updated" if c.put_workflow(WORKFLOW_NAME, path.read_text(encoding="utf-8")) else "unchanged"
            )
    if as_json:
        return output.print_json({"path": str(path), "coord": coord_state})
    output.say(f"wrote {path}: commit it on the default branch, and add the repository secret NOTION_TOKEN.")
    if coord_state != "skipped":
        where = f"the {c.store.branch} branch" + (f" (pushed to {c.store.remote})" if c.store.remote else "")
        output.say(
            f"{'committed it on' if coord_state == 'updated' else 'already on'} {where}, "
            "so pushes there run it."
        )


COMMANDS = (dashboard, notion, ci)
