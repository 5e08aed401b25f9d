"""A click group that imports a command's module only when that command runs.

`gitcoord claim` should not pay for importing the modules of `notion`, `dashboard`, `demo`...
The group holds a plain table, command name -> "area:attribute" (an area is a module of
`gitcoord.commands`), and imports the one area a command needs. Listing the commands (`--help`),
a name the table does not know, and reading `.commands` import every area, in the order given,
each adding its `COMMANDS`, so the group then holds what an eager one would, in the same order.
It overrides only how commands are found, never how they are shown, so it combines with a group
that formats the listing (`class Group(LazyGroup, SectionedGroup)`). Example::

    @click.group(cls=LazyGroup, package="gitcoord.commands", areas=("claims",),
                 table={"claim": "claims:claim"})
    def cli() -> None: ...
"""

from __future__ import annotations

import importlib
from collections.abc import Mapping, MutableMapping, Sequence
from typing import Any

import click


class LazyGroup(click.Group):
    """A group whose commands are imported on first use; see the module's docstring."""

    def __init__(
        self,
        *args: Any,
        package: str,
        areas: Sequence[str],
        table: Mapping[str, str],
        **kwargs: Any,
    ) -> None:
        self._package, self._areas, self._table = package, tuple(areas), dict(table)
        self._complete = False
        super().__init__(*args, **kwargs)

    @property
    def commands(self) -> MutableMapping[str, click.Command]:
        """Every command, every area imported (what code that walks the group expects)."""
        self._load_all()
        return self._commands

    @commands.setter
    def commands(self, value: MutableMapping[str, click.Command]) -> None:
        self._commands = value

    def get_command(self, ctx: click.Context, cmd_name: str) -> click.Command | None:
        found = self._commands.get(cmd_name)
        if found is None and cmd_name in self._table and not self._complete:
            area, _, attr = self._table[cmd_name].partition(":")
            command = getattr(self._area(area), attr)
            if isinstance(command, click.Command):
                self._commands[cmd_name] = found = command
        if found is None and not self._complete:
            self._load_all()  # a command the table does not know yet: look through every area
            found = self._commands.get(cmd_name)
        return found

    def list_commands(self, ctx: click.Context) -> list[str]:
        self._load_all()
        return super().list_commands(ctx)

    def _area(self, area: str) -> Any:
        return importlib.import_module(f"{self._package}.{area}")

    def _load_all(self) -> None:
        if self._complete:
            return
        self._complete = True
        loaded, self._commands = self._commands, {}
        for area in self._areas:
            for command in self._area(area).COMMANDS:
                assert command.name is not None
                self._commands[command.name] = loaded.get(command.name, command)
        for name, command in loaded.items():  # added by hand (add_command), not by an area
            self._commands.setdefault(name, command)
