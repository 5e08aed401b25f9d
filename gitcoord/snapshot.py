"""What one write attempt reads and says: a `Snapshot` of the coord tree and the `Txn` built on it.

A snapshot reads records at one commit, tolerantly (a malformed record is skipped with one
warning, never a crash); a transaction collects the records and files one attempt writes and
serialises them with that attempt's revision. Neither moves a ref: `gitcoord.store` does that,
by compare-and-swap, and re-runs the caller's function on a fresh snapshot when it loses a race.
"""

from __future__ import annotations

import logging
import re
import tomllib
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime
from functools import cache
from typing import TYPE_CHECKING, Any, TypeVar

from gitcoord import agent_refs
from gitcoord.cache import ParsedTrees, is_file, records_unreadable
from gitcoord.constants import COORD_WORKFLOW_NAME, COORD_WORKFLOWS_DIR, STORE_FORMAT
from gitcoord.constants import ROOT as ROOT  # the records' directory, read from here by many modules
from gitcoord.errors import GitcoordError, InvalidInput, Unavailable
from gitcoord.git import Git, ObjectUnreadable, TreeEntry, parse_tree

if TYPE_CHECKING:
    from pydantic import TypeAdapter

    from gitcoord.records import Agent, Meta, Record

# pydantic and the models are imported where a record is validated or written, not here: the lean
# reads (gitcoord.lean_reads) read the records' parsed tables through this module without them.

log = logging.getLogger("gitcoord")

AGENTS_DIR = f"{ROOT}/agents"
R = TypeVar("R", bound="Record")


@dataclass
class Snapshot:
    """A read-only view of the store at one commit (or of an empty store).

    An object the tree names that git cannot produce (a partial clone whose promisor
    remote is down) raises `RecordsUnreadable` (exit 4): never read as an absent record.
    """

    git: Git
    commit: str | None
    tree: str | None
    _trees: dict[str, dict[str, TreeEntry]] = field(default_factory=dict)
    cache: ParsedTrees = field(default_factory=lambda: ParsedTrees(None))
    _meta: Meta | None = None
    _parsed: dict[str, tuple[dict[str, dict[str, Any]], list[str]]] = field(default_factory=dict)
    skipped: list[str] = field(default_factory=list)
    tip_rev: int = 0  # the Coord-Rev trailer of the commit itself (0 for a commit made by hand)
    # Files read by path, by object id: a write reads the agent's record twice, git's answer once.
    _blobs: dict[str, bytes] = field(default_factory=dict)
    # Where the agents' own refs are read (`gitcoord.agent_refs`), in a store of format 2 or later;
    # None: only the shared tree.
    agent_prefix: str | None = None
    # Each agent's own ref as read: {agent: (commit, its record's bytes)}, (None, None) when absent.
    _own: dict[str, tuple[str | None, bytes | None]] = field(default_factory=dict)
    _format: int | None = None

    @property
    def exists(self) -> bool:
        return self.commit is not None

    @property
    def meta(self) -> Meta:
        if self._meta is None:
            from gitcoord.records import Meta

            raw = self.read(f"{ROOT}/meta.toml")
            try:
                if self.commit is not None and not raw:
                    raise ValueError("it is missing or empty")
                self._meta = Meta.model_validate(tomllib.loads(raw.decode())) if raw else Meta()
            except (ValueError, UnicodeDecodeError) as exc:
                # The next write rewrites it; until then the history says where the count stood,
                # and Txn.new_id steps over any id that is taken anyway.
                self._skip(f"{ROOT}/meta.toml", exc)
                self._meta = Meta(rev=self._last_rev_in_history())
            # A count below the one the tip's own trailer records was rewound by hand: ids and
            # fencing tokens must never be handed out twice.
            self._meta.rev = max(self._meta.rev, self.tip_rev)
        return self._meta

    @property
    def format(self) -> int:
        """The layout `meta.toml` names. Read without the model (the lean reads cannot pay for
        pydantic); a missing or damaged meta.toml, or no store yet, is this gitcoord's format."""
        if self._format is None:
            raw = self.read(f"{ROOT}/meta.toml")
            try:
                found = tomllib.loads(raw.decode()).get("format", STORE_FORMAT) if raw else STORE_FORMAT
            except (ValueError, UnicodeDecodeError):
                found = STORE_FORMAT
            self._format = found if type(found) is int and found > 0 else STORE_FORMAT
        return self._format

    def require_current_format(self, branch: str) -> None:
        """Unavailable (exit 4) for a write to a store of an older format: `gitcoord migrate` first.
        A write would otherwise land beside a gitcoord that reads the old layout only."""
        found = self.format
        if self.commit is not None and found < STORE_FORMAT:
            raise Unavailable(
                f"the coord store on {branch!r} is format {found}; this gitcoord writes format "
                f"{STORE_FORMAT} only, so it reads this store but writes nothing to it.",
                hint="run `gitcoord migrate` once (one write, for the whole team); every clone then needs "
                f"a gitcoord that knows format {STORE_FORMAT} (0.2 or later).",
            )

    def require_known_format(self, branch: str) -> None:
        """Unavailable (exit 4) for a store of a newer format than this gitcoord's: its view would
        miss what that format keeps elsewhere, and a write would stamp meta.toml back to ours."""
        found = self.format
        if found > STORE_FORMAT:
            raise Unavailable(
                f"the coord store on {branch!r} is format {found}, newer than this gitcoord knows "
                f"(format {STORE_FORMAT}); nothing was read or written.",
                hint="install the newer gitcoord on this machine, as it was installed (pip install --upgrade "
                "/path/to/gitcoord): every clone of a team needs a gitcoord that knows the store's format.",
            )

    def _last_rev_in_history(self) -> int:
        if self.commit is None:
            return 0
        out = (
            self.git.run(
                "log",
                "-1",
                "--format=%(trailers:key=Coord-Rev,valueonly)",
                "--grep=^Coord-Rev: ",
                self.commit,
            )
            .stdout.decode()
            .strip()
        )
        return int(out) if out.isdigit() else 0

    @property
    def rev(self) -> int:
        return self.meta.rev

    def entries(self, directory: str) -> dict[str, TreeEntry]:
        """Entries of a directory of the snapshot ('' is the root); empty when absent."""
        if directory in self._trees:
            return self._trees[directory]
        entries: dict[str, TreeEntry] = {}
        if self.tree is not None:
            if directory == "":
                entries = parse_tree(
                    self._objects([self.tree], [directory or "the coord tree"], "tree")[0], self.tree
                )
            else:
                parent, _, name = directory.rpartition("/")
                entry = self.entries(parent).get(name)
                if entry is not None and entry.is_tree:
                    entries = parse_tree(self._objects([entry.sha], [directory], "tree")[0], entry.sha)
        self._trees[directory] = entries
        return entries

    def read(self, path: str) -> bytes | None:
        """The file at `path`; None when the tree has no such file (unreadable: RecordsUnreadable).

        An agent's record is the later of its two copies (`gitcoord.agent_refs`)."""
        shared = self._shared_file(path)
        parent, _, name = path.rpartition("/")
        if parent != AGENTS_DIR or not self.own_refs:
            return shared
        own = self.own(name.removesuffix(".toml"))[1]
        table = self._own_table(name, own) if own is not None else None
        if table is None or not agent_refs.own_is_later(agent_refs.table_of(shared), table):
            return shared
        return own

    def _own_table(self, name: str, raw: bytes) -> dict[str, Any] | None:
        """An agent's own copy (file `name`), parsed; None, skipped with a warning, unless it is
        plainly what gitcoord writes there: the shared copy then stands, whatever it counts."""
        from gitcoord import plain

        assert self.agent_prefix is not None
        where = f"{self.agent_prefix}{agent_refs.component(name.removesuffix('.toml'))}:{AGENTS_DIR}/{name}"
        try:
            table = tomllib.loads(raw.decode())
        except (ValueError, UnicodeDecodeError) as exc:
            self._skip(where, exc)
            return None
        if not plain.well_formed(table, plain.AGENT, "", name):
            self._skip(where, ValueError("not an agent record as gitcoord writes it on its own ref"))
            return None
        return table

    def _shared_file(self, path: str) -> bytes | None:
        parent, _, name = path.rpartition("/")
        entry = self.entries(parent).get(name)
        if entry is None or not is_file(entry.mode):
            return None
        if entry.sha not in self._blobs:
            self._blobs[entry.sha] = self._objects([entry.sha], [path], "blob")[0]
        return self._blobs[entry.sha]

    @property
    def own_refs(self) -> bool:
        """Are agents' own refs part of this store's view? (format 2 or later)"""
        return self.agent_prefix is not None and self.commit is not None and self.format >= 2

    def own(self, agent: str) -> tuple[str | None, bytes | None]:
        """The agent's own ref as this snapshot reads it: (its commit, its record's bytes)."""
        if agent not in self._own:
            assert self.agent_prefix is not None
            ref = self.agent_prefix + agent_refs.component(agent)
            path = agent_refs.record_path(agent)
            tip, blob = self.git.read_objects([ref, f"{ref}:{path}"])
            commit = tip[0] if tip is not None and tip[1] == "commit" else None
            raw = blob[2] if commit and blob is not None and blob[1] == "blob" else None
            self._own[agent] = (commit, raw)
        return self._own[agent]

    def _own_records(self) -> dict[str, bytes]:
        """Every agent's own record: {file name: bytes} (one `for-each-ref`, one batch read)."""
        assert self.agent_prefix is not None
        tips = agent_refs.list_tips(self.git, self.agent_prefix)
        names = sorted(tips)
        found = self.git.read_objects([f"{tips[n]}:{agent_refs.record_path(n)}" for n in names])
        out: dict[str, bytes] = {}
        for name, item in zip(names, found, strict=True):
            raw = item[2] if item is not None and item[1] == "blob" else None
            self._own.setdefault(name, (tips[name], raw))
            if raw is not None:
                out[f"{name}.toml"] = raw
        return out

    def _objects(self, shas: Sequence[str], paths: Sequence[str], kind: str) -> list[bytes]:
        """The contents of objects the tree names; any that git cannot produce is RecordsUnreadable."""
        try:
            found = self.git.read_objects(list(shas))
        except ObjectUnreadable as exc:
            at = shas.index(exc.name) if exc.name in shas else 0
            raise records_unreadable(self.git.cwd, paths[at], shas[at]) from exc
        for sha, path, item in zip(shas, paths, found, strict=True):
            if item is None or item[1] != kind:
                raise records_unreadable(self.git.cwd, path, sha)
        return [item[2] for item in found if item is not None]

    def parsed_dir(self, directory: str) -> tuple[dict[str, dict[str, Any]], list[str]]:
        """The TOML files of one directory, parsed (through the cache): ({name: data}, [bad names]).

        Kept for the snapshot's life: one write reads the claims more than once (to validate,
        then to book what the agent holds), and the data never changes under a snapshot."""
        if directory not in self._parsed:
            self._parsed[directory] = self._parse_dir(directory)
            if directory == AGENTS_DIR and self.own_refs:
                self._parsed[directory] = self._with_own(*self._parsed[directory])
        return self._parsed[directory]

    def _with_own(
        self, shared: dict[str, dict[str, Any]], bad: list[str]
    ) -> tuple[dict[str, dict[str, Any]], list[str]]:
        """The agents' directory with each agent's own copy where it was written later."""
        merged = dict(shared)
        for name, raw in self._own_records().items():
            table = self._own_table(name, raw)
            if table is not None and agent_refs.own_is_later(shared.get(name), table):
                merged[name] = table
        return dict(sorted(merged.items())), [b for b in bad if b not in merged]

    def _parse_dir(self, directory: str) -> tuple[dict[str, dict[str, Any]], list[str]]:
        parent, _, name = directory.rpartition("/")
        entry = self.entries(parent).get(name)
        if entry is None or not entry.is_tree:
            return {}, []

        def list_blobs() -> dict[str, str]:
            return {n: e.sha for n, e in self.entries(directory).items() if is_file(e.mode)}

        def read_blobs(shas: Sequence[str]) -> list[bytes]:
            names = {e.sha: n for n, e in self.entries(directory).items()}
            return self._objects(shas, [f"{directory}/{names.get(sha, sha)}" for sha in shas], "blob")

        return self.cache.read(directory, entry.sha, list_blobs, read_blobs)

    def records(self, model: type[R], subdir: str = "") -> list[R]:
        """Every record of a kind; a malformed file is skipped with a warning."""
        from pydantic import ValidationError

        directory = f"{ROOT}/{model.directory}" + (f"/{subdir}" if subdir else "")
        parsed, bad = self.parsed_dir(directory)
        for name in bad:
            self._skip(f"{directory}/{name}", ValueError("not valid TOML"))
        try:
            # One validation call for the whole directory: fast, and right in the usual case.
            found = _list_adapter(model).validate_python(list(parsed.values()))
            named = dict(zip(parsed, found, strict=True))
        except ValidationError:
            named = {}
            for name, data in parsed.items():
                try:
                    named[name] = model.model_validate(data)
                except ValidationError as exc:
                    self._skip(f"{directory}/{name}", exc)
        return [record for name, record in named.items() if self._named_right(directory, name, record)]

    def _named_right(self, directory: str, name: str, record: Record) -> bool:
        """A record is where its key says it is; one pushed under another name is skipped."""
        if f"{directory}/{name}" == f"{ROOT}/{record.directory}/{record.key}.toml":
            return True
        self._skip(f"{directory}/{name}", ValueError(f"its key {record.key!r} does not match its file name"))
        return False

    def record(self, model: type[R], key: str) -> R | None:
        from gitcoord.records import parse_record

        path = f"{ROOT}/{model.directory}/{key}.toml"
        raw = self.read(path)
        if raw is None:
            return None
        try:
            record = parse_record(model, raw)
        except (ValueError, UnicodeDecodeError) as exc:
            self._skip(path, exc)
            return None
        return record if self._named_right(path.rpartition("/")[0], path.rpartition("/")[2], record) else None

    def _skip(self, path: str, exc: Exception) -> None:
        if path in self.skipped:
            return  # one warning per record, however often this snapshot reads it
        log.warning("skipping malformed record %s: %s", path, _why(exc))
        self.skipped.append(path)


def _why(exc: Exception) -> str:
    """One line on what is wrong with a record: the first field pydantic refused and why."""
    from pydantic import ValidationError

    if isinstance(exc, ValidationError) and exc.errors():
        first = exc.errors()[0]
        where = ".".join(str(part) for part in first["loc"])
        return f"{where}: {first['msg'].removeprefix('Value error, ')}"[:300]
    return str(exc).splitlines()[0] if str(exc) else type(exc).__name__


@dataclass
class Txn:
    """What one attempt of a write sees and says: the state, the time, the changes."""

    snap: Snapshot
    now: datetime
    action: str = ""
    what: str = ""
    trailers: dict[str, str] = field(default_factory=dict)
    _writes: dict[str, Record | None] = field(default_factory=dict)
    _files: dict[str, bytes] = field(default_factory=dict)
    _allocated: int = 0
    _touched: list[str] = field(default_factory=list)
    # `gitcoord migrate`: this write lands the store's new format, whatever else it writes.
    migrating: bool = False

    @property
    def rev(self) -> int:
        """The revision this write will have once it lands."""
        return self.snap.rev + max(1, self._allocated)

    def new_id(self, kind: str) -> str:
        """A fresh record id: the kind letter and a revision no one else can get.

        Ids follow the revision count; should a damaged meta.toml have lost the
        count, an id already in the tree is stepped over, never reused.
        """
        from gitcoord.records import KINDS

        existing = self.snap.entries(f"{ROOT}/{KINDS[kind].directory}")
        while True:
            self._allocated += 1
            candidate = f"{kind}-{self.snap.rev + self._allocated}"
            if f"{candidate}.toml" not in existing:
                return candidate

    def put(self, record: Record) -> None:
        self._writes[_record_path(record)] = record
        self._note(record.key)

    def delete(self, record: Record) -> None:
        self._writes[_record_path(record)] = None
        self._note(record.key)

    def put_workflow(self, name: str, text: str) -> None:
        """Write one of gitcoord's GitHub workflow files next to `.coord/` (see COORD_WORKFLOWS_DIR)."""
        if not COORD_WORKFLOW_NAME.fullmatch(name):
            raise InvalidInput(f"{name!r} is not a gitcoord workflow file name (gitcoord-NAME.yml).")
        self._files[f"{COORD_WORKFLOWS_DIR}/{name}"] = text.encode()
        self._note(f"{COORD_WORKFLOWS_DIR}/{name}")

    def _note(self, key: str) -> None:
        if key not in self._touched:
            self._touched.append(key)

    def pending(self, model: type[R]) -> list[R]:
        """The records of a kind as they will be once this transaction lands."""
        prefix = f"{ROOT}/{model.directory}/"
        found = {f"{prefix}{r.key}.toml": r for r in self.snap.records(model)}
        for path, record in self._writes.items():
            if not path.startswith(prefix):
                continue
            if record is None:
                found.pop(path, None)
            elif isinstance(record, model):
                found[path] = record
        return list(found.values())

    def deleted(self, model: type[Record]) -> set[str]:
        """Keys of the records of a kind this transaction deletes."""
        prefix = f"{ROOT}/{model.directory}/"
        return {
            path[len(prefix) : -len(".toml")]
            for path, record in self._writes.items()
            if record is None and path.startswith(prefix)
        }

    @property
    def has_writes(self) -> bool:
        return bool(self._writes or self._files or self.migrating)

    def own_write(self) -> Agent | None:
        """The agent record, when it is all this write changes: then, in a store with agents' own
        refs, it lands on its agent's ref, not the shared one (`gitcoord.agent_refs`)."""
        from gitcoord.records import Agent

        if self._files or self.migrating or self._allocated or len(self._writes) != 1:
            return None
        (record,) = self._writes.values()
        return record if isinstance(record, Agent) else None

    def own_blob(self, record: Agent) -> bytes:
        """The agent record as its own ref gets it: counted, at the shared revision this write read."""
        record.created_rev = record.created_rev or self.snap.rev
        record.updated_rev = self.snap.rev
        record.seq += 1
        return record.to_toml()

    def blobs(self) -> dict[str, bytes | None]:
        """Serialise the changes, stamping every written record with this write's rev."""
        from gitcoord.records import Agent, Meta

        rev = self.rev
        out: dict[str, bytes | None] = {}
        for path, record in self._writes.items():
            if record is None:
                out[path] = None
                continue
            if not record.created_rev:
                record.created_rev = rev
            record.updated_rev = rev
            if isinstance(record, Agent):
                record.seq += 1  # later than either copy it was read from (gitcoord.agent_refs)
            out[path] = record.to_toml()
        out[f"{ROOT}/meta.toml"] = Meta(format=STORE_FORMAT, rev=rev).to_toml()
        out.update(self._files)
        return out

    def message(self, agent: str, *, rev: int | None = None) -> str:
        """The commit message; `rev` for a write that does not count the shared revision up."""
        subject = f"{agent}: {self.action} {self.what}".rstrip()
        lines = [
            subject,
            "",
            f"Coord-Agent: {agent}",
            f"Coord-Action: {self.action}",
            f"Coord-Rev: {self.rev if rev is None else rev}",
            f"Coord-Records: {', '.join(self._touched or (['meta'] if self.migrating else []))}",
        ]
        lines += [f"{key}: {value}" for key, value in self.trailers.items()]
        return "\n".join(lines) + "\n"


_SAFE_KEY = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]*(/[A-Za-z0-9][A-Za-z0-9._-]*)?")


def _record_path(record: Record) -> str:
    """Where a record lives. The models validate keys; this is the last line of defence."""
    if not _SAFE_KEY.fullmatch(record.key) or ".." in record.key:
        raise GitcoordError(f"refusing to write a record under the unsafe key {record.key[:60]!r}.")
    return f"{ROOT}/{record.directory}/{record.key}.toml"


@cache
def _list_adapter(model: type[R]) -> TypeAdapter[list[R]]:
    from pydantic import TypeAdapter

    return TypeAdapter(list[model])  # type: ignore[valid-type]
