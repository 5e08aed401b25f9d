"""A database moved to Notion's trash: found before a sync writes anything, replaced by `setup`.

A person deletes a database in the Notion app; the API then shows `in_trash` (and its
deprecated alias `archived`) on the database, and on its data sources. Both are checked: the
data source answer comes with the schema the sync reads anyway, the database one is asked for.
"""

from __future__ import annotations

from typing import Any

from gitcoord.errors import Unavailable
from gitcoord.notion.api import Api
from gitcoord.notion.schema import DATABASES


def _trashed(obj: dict[str, Any]) -> bool:
    return bool(obj.get("in_trash") or obj.get("archived"))


def in_trash(api: Api, source: dict[str, Any], database: str | None) -> bool:
    """Is this data source, or the database `database` holding it, in the trash?"""
    if _trashed(source):
        return True
    if not database:
        return False
    return _trashed(api.call(api.client.databases.retrieve, database))


def trashed_message(kinds: list[str], parent: str) -> Unavailable:
    """The error a sync stops with (exit 4), naming the databases and the fix."""
    names = ", ".join(DATABASES[kind][0] for kind in kinds)
    what = "database " + names + " is" if len(kinds) == 1 else "databases " + names + " are"
    return Unavailable(
        f"the Notion {what} in the trash; nothing was written.",
        hint=f"run `gitcoord notion setup --parent {parent or 'PAGE_ID'}` again to make "
        "a new one (then commit .coord/config.toml), or restore it from Notion's trash.",
    )
