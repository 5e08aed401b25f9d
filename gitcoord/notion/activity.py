"""The Activity database: one row per coord revision, whatever Notion's queries answer.

Rows are keyed by their `Rev`. A sync reads every row (paged), keeps the first row of each
revision (the oldest, as far as Notion's created times tell) and moves the others to the trash
(older versions appended the whole history again after a wrong answer, and nothing removed those
rows). A revision is appended only when two reads both miss it: the full read, and a second
query for the revisions about to be appended. One answer that lags behind the writes, repeats a
page or follows a wrong cursor therefore appends nothing twice; should two in a row lag, the
duplicate left is trashed by the next sync.

A row without a Rev is one a person added: never ours to trash, never a revision.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import TYPE_CHECKING, Any

from gitcoord.notion.rows import activity_rev, activity_row
from gitcoord.notion.schema import plain_number

if TYPE_CHECKING:
    from gitcoord.notion.sync import Syncer

ACTIVITY_BATCH = 500  # commits appended per sync at most: a long backlog is finished by the next runs
# Oldest first within a revision: the row a person may have linked to is the one kept when
# Notion's created times (rounded) can tell.
_ORDER = [
    {"property": "Rev", "direction": "ascending"},
    {"timestamp": "created_time", "direction": "ascending"},
]


def _revisions(pages: Iterator[dict[str, Any]]) -> Iterator[tuple[int, dict[str, Any]]]:
    """(rev, page) for the rows that carry a Rev, each page once even when an answer repeats it."""
    seen: set[str] = set()
    for page in pages:
        rev = plain_number(page, "Rev")
        if rev is None or page["id"] in seen:
            continue
        seen.add(page["id"])
        yield int(rev), page


def present(syncer: Syncer) -> set[int]:
    """The revisions Activity holds; every further row of a revision goes to the trash."""
    kept: dict[int, str] = {}
    for rev, page in _revisions(syncer.query("activity", sorts=_ORDER)):
        if rev in kept:
            syncer.trash(page)
        else:
            kept[rev] = page["id"]
    return set(kept)


def confirm(syncer: Syncer, pending: list[int]) -> set[int]:
    """Which of `pending` a second read finds already in Activity."""
    flt = {"property": "Rev", "number": {"greater_than_or_equal_to": min(pending)}}
    wanted = set(pending)
    return {rev for rev, _ in _revisions(syncer.query("activity", filter=flt)) if rev in wanted}


def append(syncer: Syncer) -> None:
    """Append the revisions Activity lacks, oldest first (at most ACTIVITY_BATCH a run)."""
    have = present(syncer)
    entries = {activity_rev(e): e for e in syncer.history() if activity_rev(e) >= 0}
    pending = sorted(rev for rev in entries if rev not in have)[:ACTIVITY_BATCH]
    if pending:
        found = confirm(syncer, pending)
        pending = [rev for rev in pending if rev not in found]
    syncer.progress.stage("Activity", len(pending))
    for rev in pending:
        syncer.counts.activity_appended += 1
        if not syncer.dry_run:
            entry = entries[rev]
            syncer.create("activity", entry["commit"][:12], activity_row(entry))
        syncer.progress.step()
