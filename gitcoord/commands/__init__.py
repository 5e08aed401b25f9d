"""Command groups beyond the core, one module per area, each with `register(cli)`.

The core commands (init, start, claim, check-in, release, claims, status, log)
live in `gitcoord.cli`. Modules here must not import heavy libraries at module
level: every `gitcoord` invocation imports them.
"""

from __future__ import annotations

import click

from gitcoord.commands import agents, automatic, enforcement, protocol, publishing


def register_all(cli: click.Group) -> None:
    for module in (protocol, enforcement, publishing, agents, automatic):
        module.register(cli)
