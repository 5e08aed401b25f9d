"""`notion setup` and `notion sync`: the coord state in Notion, and reviews back.

Sync, per database: read every row (paged queries), index them by Record ID,
add back any property a person deleted or renamed (as `setup` does),
move to the trash any duplicate a lost answer left behind, then create the
missing rows and update the changed ones (a row whose values already match
costs nothing). Activity rows are appended in revision order after the
highest Rev already in Notion, so a sync that died halfway is completed by the
next one. Creates are made safe against lost answers: after a 5xx, the row is
looked up by Record ID before trying again.

An error's trace goes into its page body as code blocks (see `body`): sent
with the page when it is created, and checked only when the row changed (a new
Rev), so an unchanged error costs nothing. The Rev is written after the body,
so a sync that died between the two finds the row changed and completes it.

Claims keep their row once gone from the tree: `taken over` when the commit
that removed the claim names it in its `Coord-Takeover` trailer, `released`
otherwise. A claim still in the tree is `live`, `expired` (in its grace) or
`dead` (past its grace: anyone may take it over).

Human edits come back first (`gitcoord.notion.pullback`): a decision's Status
(approved, rejected) with its Review note, a help request's or an error's Status
(resolved) with its Resolution, committed through the Coordinator as
`notion:<user>` with the same validation as the CLI; a status it refuses, or one
not set from Notion, is reported in `refused`. Everything else in Notion is
overwritten from git, with the rows `gitcoord.notion.rows` maps the records to.
"""

from __future__ import annotations

import os
import tomllib
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Protocol

import tomli_w

from gitcoord.config import CONFIG_PATH
from gitcoord.errors import InvalidInput
from gitcoord.notion import activity
from gitcoord.notion.api import DEFAULT_BASE_URL, MAX_ATTEMPTS, RATE_PER_SECOND, Api, Transient, unavailable
from gitcoord.notion.body import BLOCKS_PER_REQUEST, batches, is_ours, shape, trace_blocks
from gitcoord.notion.pullback import PullBack
from gitcoord.notion.rows import conflict_rows, desired_rows, desired_traces
from gitcoord.notion.schema import (
    ADDED_LATER,
    DATABASES,
    Plain,
    plain_select,
    plain_text,
    properties_of,
    same,
    to_notion,
)
from gitcoord.notion.trash import in_trash, trashed_message

if TYPE_CHECKING:
    from pathlib import Path

    from gitcoord.coordinator import Coordinator


def base_url(coord: Coordinator) -> str:
    return os.environ.get("NOTION_BASE_URL") or coord.config.notion.base_url or DEFAULT_BASE_URL


def connect(coord: Coordinator) -> Api:
    """The API client: token from NOTION_TOKEN; GITCOORD_NOTION_RATE overrides the 3 requests/s limit."""
    rate = float(os.environ.get("GITCOORD_NOTION_RATE") or RATE_PER_SECOND)
    return Api.connect(os.environ.get("NOTION_TOKEN", ""), base_url(coord), rate=rate)


# -- setup ------------------------------------------------------------------------------


def setup(coord: Coordinator, api: Api, parent: str) -> dict[str, Any]:
    """Create the databases under `parent` (or complete the ones already recorded)."""
    _config_path(coord)  # before any request: a config that cannot be written loses no database id
    cfg = coord.config.notion
    databases, sources = dict(cfg.databases), dict(cfg.data_sources)
    created, extended, replaced = [], [], []
    for kind, (title, _) in DATABASES.items():
        wanted = properties_of(kind)
        if kind in sources:
            found = api.call(api.client.data_sources.retrieve, sources[kind])
            if not in_trash(api, found, databases.get(kind)):
                if complete_schema(api, kind, sources[kind], have=found["properties"]):
                    extended.append(kind)
                continue
            replaced.append(kind)  # in Notion's trash: a new one takes its place
        # Not idempotent: a lost answer could leave an orphan database, never a wrong id.
        db = api.call(
            api.client.databases.create,
            idempotent=False,
            parent={"type": "page_id", "page_id": parent},
            title=[{"type": "text", "text": {"content": f"gitcoord · {title}"}}],
            initial_data_source={"properties": wanted},
        )
        databases[kind], sources[kind] = db["id"], db["data_sources"][0]["id"]
        created.append(kind)
        _save_ids(coord, parent, databases, sources)  # after each one: a crash loses nothing
    _save_ids(coord, parent, databases, sources)
    return {
        "created": created,
        "extended": extended,
        "replaced_trashed": replaced,
        "databases": databases,
        "data_sources": sources,
        "requests": api.requests,
    }


def complete_schema(
    api: Api, kind: str, source: str, *, dry_run: bool = False, have: dict[str, Any] | None = None
) -> list[str]:
    """Add back the properties a person deleted or renamed in Notion; their names.

    `have`: the data source's properties when already retrieved.
    """
    if have is None:
        have = api.call(api.client.data_sources.retrieve, source)["properties"]
    missing = {name: conf for name, conf in properties_of(kind).items() if name not in have}
    if missing and not dry_run:
        api.call(api.client.data_sources.update, source, properties=missing)
    return list(missing)


def _config_path(coord: Coordinator) -> tuple[Path, Path]:
    """The work tree and its config file, which `setup` records the ids in; exit 2 without a work
    tree, or when the file is a link out of the repository (gitcoord never writes through one)."""
    from gitcoord.safepath import check_inside

    if coord.top is None:
        raise InvalidInput("notion setup needs a working tree to record the database ids in.")
    return coord.top, check_inside(coord.top, coord.top / CONFIG_PATH)


def _save_ids(coord: Coordinator, parent: str, databases: dict[str, str], sources: dict[str, str]) -> None:
    """Record the ids in the [notion] table of .coord/config.toml, keeping every other table."""
    from gitcoord.safepath import write_inside

    top, path = _config_path(coord)
    # Without a work-tree file (sparse checkout) start from HEAD's: a file holding only
    # [notion] would replace every other setting of the team's config.
    data: dict[str, Any] = (
        tomllib.loads(path.read_text(encoding="utf-8"))
        if path.exists()
        else {
            name: dict(value) if isinstance(value, dict) else value
            for name, value in coord.workspace.table.items()
        }
    )
    section = data.setdefault("notion", {})
    section.update({"parent_page": parent, "databases": databases, "data_sources": sources})
    write_inside(top, path, tomli_w.dumps(data))
    coord.config.notion.parent_page = parent
    coord.config.notion.databases = dict(databases)
    coord.config.notion.data_sources = dict(sources)


# -- the sync ---------------------------------------------------------------------------------


class Progress(Protocol):
    """Where the sync reports how far it got (a bar on a terminal, lines in a log)."""

    def stage(self, label: str, total: int) -> None:
        """A new stage of `total` steps."""

    def step(self) -> None:
        """One step of the current stage done."""


class Silent:
    """No progress reports (`--json`, the Python API)."""

    def stage(self, label: str, total: int) -> None:
        pass

    def step(self) -> None:
        pass


@dataclass
class Counts:
    created: int = 0
    updated: int = 0
    unchanged: int = 0
    bodies_written: int = 0
    trashed_duplicates: int = 0
    activity_appended: int = 0
    pulled_back: int = 0
    properties_restored: int = 0
    refused: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    requests: int = 0

    def as_dict(self) -> dict[str, Any]:
        return dict(self.__dict__)


@dataclass
class Syncer:
    coord: Coordinator
    api: Api
    dry_run: bool = False
    counts: Counts = field(default_factory=Counts)
    progress: Progress = field(default_factory=Silent)
    traces: dict[str, str] = field(default_factory=dict)
    _history: list[dict[str, Any]] | None = None

    def source(self, kind: str) -> str:
        found = self.coord.config.notion.data_sources.get(kind)
        if not found:
            raise InvalidInput(
                f"the Notion database for {kind} is not set up.",
                hint="run `gitcoord notion setup --parent PAGE_ID` first.",
            )
        return found

    def run(self) -> Counts:
        if self.coord.store.remote:
            self.coord.snapshot(fetch=True)
        here = self.kinds()
        schemas = self.check_databases(here)
        kinds = [kind for kind in here if kind != "activity"]
        self.progress.stage("reading Notion", len(kinds))
        pages = {}
        for kind in kinds:
            pages[kind] = self.rows(kind)
            self.progress.step()
        for kind in here:  # a property a person deleted or renamed would make every write fail
            self.counts.properties_restored += len(
                complete_schema(self.api, kind, self.source(kind), dry_run=self.dry_run, have=schemas[kind])
            )
        back = PullBack(self.coord, self.api, dry_run=self.dry_run)
        back.run(pages)
        self.counts.pulled_back += back.pulled_back
        self.counts.refused += back.refused
        self._history = None  # a pulled-back edit is a new commit: it belongs in Activity
        self.traces = desired_traces(self.coord)
        for kind, want in desired_rows(self.coord).items():
            self.progress.stage(DATABASES[kind][0], len(want))
            self.push(kind, want, pages[kind])
        if "conflicts" in here:
            self.push_conflicts(pages["conflicts"])
        activity.append(self)
        self.counts.requests = self.api.requests
        return self.counts

    def kinds(self) -> list[str]:
        """The databases this workspace has: a view added since its setup waits for the next setup."""
        sources = self.coord.config.notion.data_sources
        missing = [kind for kind in ADDED_LATER if kind not in sources]
        for kind in missing:
            self.counts.notes.append(
                f"the {DATABASES[kind][0]} database is not set up yet: run `gitcoord notion setup "
                f"--parent {self.coord.config.notion.parent_page or 'PAGE_ID'}` again to add it "
                "(then commit .coord/config.toml)."
            )
        return [kind for kind in DATABASES if kind not in missing]

    def check_databases(self, kinds: list[str]) -> dict[str, dict[str, Any]]:
        """Each data source's properties; Unavailable, before anything is written, when one is trashed."""
        cfg = self.coord.config.notion
        schemas, gone = {}, []
        for kind in kinds:
            source = self.api.call(self.api.client.data_sources.retrieve, self.source(kind))
            schemas[kind] = source["properties"]
            if in_trash(self.api, source, cfg.databases.get(kind)):
                gone.append(kind)
        if gone:
            raise trashed_message(gone, cfg.parent_page)
        return schemas

    # -- reading Notion --------------------------------------------------------------

    def query(self, kind: str, **body: Any) -> Iterator[dict[str, Any]]:
        cursor: str | None = None
        while True:
            extra: dict[str, Any] = {"start_cursor": cursor} if cursor else {}
            answer = self.api.call(
                self.api.client.data_sources.query, self.source(kind), page_size=100, **body, **extra
            )
            yield from answer["results"]
            if not answer.get("has_more"):
                return
            cursor = answer["next_cursor"]

    def rows(self, kind: str) -> dict[str, dict[str, Any]]:
        """Rows by Record ID; duplicates (left by a lost answer) go to the trash.

        A row without a Record ID is one a person added: never ours to trash or mark.
        """
        found: dict[str, dict[str, Any]] = {}
        for page in self.query(kind):
            rid = plain_text(page, "Record ID")
            if not rid or found.get(rid, {}).get("id") == page["id"]:  # a person's row, or a page repeated
                continue
            if rid in found:
                self.trash(page)
                continue
            found[rid] = page
        return found

    def trash(self, page: dict[str, Any]) -> None:
        self.counts.trashed_duplicates += 1
        if not self.dry_run:
            self.api.call(self.api.client.pages.update, page["id"], in_trash=True)

    # -- pushing ---------------------------------------------------------------------

    def push(self, kind: str, want: dict[str, dict[str, Plain]], have: dict[str, dict[str, Any]]) -> None:
        for rid, values in want.items():
            page = have.get(rid)
            if page is not None and same(kind, values, page):
                self.counts.unchanged += 1
            elif page is not None:
                self.counts.updated += 1
                if not self.dry_run:
                    self.update(kind, rid, page, values)
            else:
                self.counts.created += 1
                if not self.dry_run:
                    self.create(kind, rid, values)
            self.progress.step()
        if kind == "claims":
            self.retire_claims(want, have)

    def update(self, kind: str, rid: str, page: dict[str, Any], values: dict[str, Plain]) -> None:
        """Update a changed row; an error's body first, so that a new Rev in Notion means a complete page."""
        if kind == "errors":
            self.write_body(page["id"], self.traces.get(rid, ""))
        self.api.call(self.api.client.pages.update, page["id"], properties=to_notion(kind, values))

    def retire_claims(self, want: dict[str, dict[str, Plain]], have: dict[str, dict[str, Any]]) -> None:
        """A claim gone from the tree keeps its row, marked `taken over` or `released`."""
        gone = {rid: page for rid, page in have.items() if rid not in want}
        taken = self.taken_over() if gone else set()
        for rid, page in gone.items():
            state = "taken over" if rid in taken else "released"
            if plain_select(page, "State") != state:
                self.counts.updated += 1
                if not self.dry_run:
                    self.api.call(
                        self.api.client.pages.update,
                        page["id"],
                        properties=to_notion("claims", {"State": state}),
                    )

    def push_conflicts(self, have: dict[str, dict[str, Any]]) -> None:
        """The radar's pairs as rows; a pair it no longer names keeps its row, marked resolved."""
        want = conflict_rows(self.coord)
        if want is None:  # git could not tell: leave the rows as they are
            return
        self.progress.stage(DATABASES["conflicts"][0], len(want))
        self.push("conflicts", want, have)
        for page in (page for rid, page in have.items() if rid not in want):
            if plain_select(page, "State") != "resolved":
                self.counts.updated += 1
                if not self.dry_run:
                    self.api.call(
                        self.api.client.pages.update,
                        page["id"],
                        properties=to_notion("conflicts", {"State": "resolved"}),
                    )

    def taken_over(self) -> set[str]:
        """Ids of the claims some commit removed by taking them over (`Coord-Takeover: C-3 (beta), ...`)."""
        return {
            item.split()[0]
            for entry in self.history()
            for item in str(entry.get("takeover", "")).split(",")
            if item.strip()
        }

    def create(self, kind: str, rid: str, values: dict[str, Plain]) -> None:
        """Create a row exactly once, even when an answer is lost (5xx after the write).

        An error's trace blocks go in the same request, so the page never exists
        without them. A body over one request (not reachable with 64 KiB traces)
        is written after, with the Rev held back until it is complete.
        """
        blocks = trace_blocks(self.traces.get(rid, "")) if kind == "errors" else []
        fits = len(blocks) <= BLOCKS_PER_REQUEST
        first = values if fits else {**values, "Rev": None}
        page = self._create_once(kind, rid, first, blocks if fits else [])
        if not fits:
            self.write_body(page["id"], self.traces[rid])
            self.api.call(self.api.client.pages.update, page["id"], properties=to_notion(kind, values))

    def _create_once(
        self, kind: str, rid: str, values: dict[str, Plain], children: list[dict[str, Any]]
    ) -> dict[str, Any]:
        for attempt in range(MAX_ATTEMPTS):
            try:
                page: dict[str, Any] = self.api.call(
                    self.api.client.pages.create,
                    idempotent=False,
                    parent={"type": "data_source_id", "data_source_id": self.source(kind)},
                    properties=to_notion(kind, values),
                    **({"children": children} if children else {}),
                )
                return page
            except Transient:
                found = self.lookup(kind, rid)
                if found is not None:
                    return found
                self.api.pause(attempt)
        raise unavailable()

    # -- page bodies -------------------------------------------------------------------

    def children(self, page_id: str) -> Iterator[dict[str, Any]]:
        cursor: str | None = None
        while True:
            extra: dict[str, Any] = {"start_cursor": cursor} if cursor else {}
            answer = self.api.call(self.api.client.blocks.children.list, page_id, page_size=100, **extra)
            yield from answer["results"]
            if not answer.get("has_more"):
                return
            cursor = answer["next_cursor"]

    def write_body(self, page_id: str, trace: str) -> None:
        """Make the page's trace blocks show `trace`, replacing ours and leaving a person's blocks alone.

        Nothing is written when they already match. Deletes and appends are not
        retried blindly (a lost answer would make a retried append duplicate the
        blocks, a retried delete fail on an archived block): after one, the body
        is read again and what is still missing is redone.
        """
        want = trace_blocks(trace)
        for attempt in range(MAX_ATTEMPTS):
            ours = [block for block in self.children(page_id) if is_ours(block)]
            if [shape(b) for b in ours] == [shape(b) for b in want]:
                return
            try:
                for block in ours:
                    self.api.call(self.api.client.blocks.delete, block["id"], idempotent=False)
                for batch in batches(want):
                    self.api.call(
                        self.api.client.blocks.children.append, page_id, children=batch, idempotent=False
                    )
            except Transient:
                self.api.pause(attempt)
                continue
            self.counts.bodies_written += 1
            return
        raise unavailable()

    def lookup(self, kind: str, rid: str) -> dict[str, Any] | None:
        flt = {"property": "Record ID", "rich_text": {"equals": rid}}
        return next(self.query(kind, filter=flt), None)

    # -- activity ----------------------------------------------------------------------

    def history(self) -> list[dict[str, Any]]:
        """The coord history, read once a run (and again after a pulled-back edit made a commit)."""
        if self._history is None:
            self._history = list(self.coord.store.history(own=False))
        return self._history


def sync(
    coord: Coordinator, api: Api, *, dry_run: bool = False, progress: Progress | None = None
) -> dict[str, Any]:
    """One sync run; the counts (created, updated, unchanged, pulled back, requests, ...).

    >>> sync(coord, connect(coord))["created"]  # doctest: +SKIP
    12
    """
    syncer = Syncer(coord, api, dry_run=dry_run, progress=progress or Silent())
    return syncer.run().as_dict()


__all__ = ["Progress", "Silent", "connect", "setup", "sync"]
