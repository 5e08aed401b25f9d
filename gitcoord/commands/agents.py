"""CLI commands: agents (see DESIGN §5)."""

from __future__ import annotations

import click


def register(cli: click.Group) -> None:
    """Add this area's commands to the `gitcoord` group."""
