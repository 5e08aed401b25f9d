"""CLI commands: publishing (see DESIGN §5 and §7): dashboard, notion, ci.

Nothing heavy is imported at module level: every `gitcoord` run imports this
module, and `notion_client` is loaded only by the notion commands.
"""

from __future__ import annotations

from pathlib import Path

import click

from gitcoord import output


def register(cli: click.Group) -> None:
    """Add this area's commands to the `gitcoord` group."""
    cli.add_command(dashboard)


@click.command()
@click.option("--out", "out", default="gitcoord-dashboard.html", show_default=True, metavar="FILE",
              type=click.Path(dir_okay=False, path_type=Path), help="Where to write the HTML page.")
@click.option("--fetch/--no-fetch", default=True, help="Fetch the remote first (remote mode).")
@click.option("--json", "as_json", is_flag=True, help="Print a stable JSON document.")
def dashboard(out: Path, fetch: bool, as_json: bool) -> None:
    """Write a self-contained HTML dashboard (no network needed to view it)."""
    from gitcoord.cli import coord
    from gitcoord.dashboard import write_dashboard

    with coord() as c:
        path = write_dashboard(c, out, fetch=fetch)
    if as_json:
        return output.print_json({"path": str(path), "bytes": path.stat().st_size})
    output.say(f"wrote {path}")
