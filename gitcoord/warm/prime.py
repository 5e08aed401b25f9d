"""Priming the warm server: what the first call of a process pays once, paid before the first fork.

After its imports the server still lacks what a process builds on its first call: pydantic's
validators and serializers (the records and the config use `defer_build`), the per-kind list
adapters of `snapshot`, the commands of the lazy click group. Built here, once, every forked child
starts with them. Priming uses synthetic, in-memory data only: it reads no repository, no
configuration file and no environment of a caller, and keeps no coordination state (DESIGN §9).

`PRIMERS` is the list of steps, in order; a new path that builds something on first use (a
lighter read path, another adapter) adds one step. A step that fails is skipped: the child then
builds that thing itself, as an in-process call would.
"""

from __future__ import annotations

import contextlib
import os
import sys
from collections.abc import Callable, Iterator
from typing import TypeVar

from pydantic import BaseModel

# Modules whose models are not on the agent-facing paths and stay unbuilt (see server.COLD_MODULES).
COLD_PREFIXES = ("gitcoord.mcp", "gitcoord.notion", "gitcoord.demo")
T = TypeVar("T")


def _commands() -> None:
    """Every area of the lazy group imported and its commands registered (`cli.commands` loads all)."""
    from gitcoord.cli import cli

    _ = cli.commands


def _models() -> None:
    """Every pydantic model of gitcoord's warm modules built (validator and serializer)."""
    for model in gitcoord_models():
        if not model.__pydantic_complete__:
            model.model_rebuild()


def _adapters() -> None:
    """The list adapter `Snapshot.records` validates a directory with, for every record kind."""
    from gitcoord.records import Record
    from gitcoord.snapshot import _list_adapter

    for model in _subclasses(Record):
        if model.directory:
            _list_adapter(model).validate_python([])


def _config() -> None:
    """The configuration model run once over an empty table (its defaults), as `load_config` does."""
    from gitcoord.config import load_config

    load_config({}, "<prime>")


PRIMERS: list[tuple[str, Callable[[], None]]] = [
    ("commands", _commands),
    ("models", _models),
    ("adapters", _adapters),
    ("config", _config),
]


def prime() -> list[str]:
    """Run every step; the names of the steps that failed (each is then built by the child)."""
    failed = []
    with _plugins_as_entry():
        for name, step in PRIMERS:
            try:
                step()
            except Exception:
                failed.append(name)
    return failed


def gitcoord_models() -> list[type[BaseModel]]:
    """The pydantic models defined in gitcoord's imported, warm modules."""
    return [
        model
        for model in _subclasses(BaseModel)
        if model.__module__.startswith("gitcoord.")
        and not model.__module__.startswith(COLD_PREFIXES)
        and model.__module__ in sys.modules
    ]


def _subclasses(root: type[T]) -> Iterator[type[T]]:
    seen: set[type[T]] = set()
    stack = list(root.__subclasses__())
    while stack:
        cls = stack.pop()
        if cls not in seen:
            seen.add(cls)
            stack.extend(cls.__subclasses__())
            yield cls


@contextlib.contextmanager
def _plugins_as_entry() -> Iterator[None]:
    """Build under the plugin setting `console.entry` gives a call (plugins off unless the variable is
    set); the server's environment is left as it was, for the children."""
    before = os.environ.get("PYDANTIC_DISABLE_PLUGINS")
    os.environ.setdefault("PYDANTIC_DISABLE_PLUGINS", "__all__")
    try:
        yield
    finally:
        if before is None:
            del os.environ["PYDANTIC_DISABLE_PLUGINS"]
