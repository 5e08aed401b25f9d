"""The coord store: TOML records on the coord ref, written by compare-and-swap.

This is the only module that writes git objects or refs for coordination
data. A write is a transaction (DESIGN §3):

1. read the tip the store believes authoritative (in remote mode the local
   copy of the remote branch, fetched when missing),
2. run the caller's function on that state; it validates and says what
   to write (or raises),
3. build only the changed trees, commit them with the tip as parent,
4. compare-and-swap: `update-ref REF NEW OLD` locally, or a push whose lease
   is OLD in remote mode, so the remote accepts it only if its tip is still OLD.

A lost race re-reads the new tip and re-runs step 2 from scratch, so a claim
that now conflicts is refused, never merged. A crash at any point leaves the
ref at the old or the new commit: objects are written before the ref moves,
and the ref moves in one atomic step.
"""

from __future__ import annotations

import logging
import random
import re
import time
import tomllib
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from functools import cache
from pathlib import Path
from typing import Any, TypeVar

from pydantic import TypeAdapter, ValidationError

from gitcoord.cache import ParsedTrees, is_file, records_unreadable
from gitcoord.clock import wall_clock
from gitcoord.constants import COORD_WORKFLOW_NAME, COORD_WORKFLOWS_DIR, DEFAULT_BRANCH
from gitcoord.errors import GitcoordError, InvalidInput, Refused, Unavailable
from gitcoord.git import (
    BLOB_MODE,
    TREE_MODE,
    Git,
    GitFailed,
    ObjectUnreadable,
    RefWatch,
    TreeEntry,
    parse_trailers,
    parse_tree,
)
from gitcoord.records import KINDS, Meta, Record, parse_record
from gitcoord.workspace import view_ref

log = logging.getLogger("gitcoord")

ROOT = ".coord"
R = TypeVar("R", bound=Record)
T = TypeVar("T")

# Flags of a `git push --porcelain` line whose ref the remote updated (or already had).
_ACCEPTED = (" ", "+", "*", "=")
# Failures that prove a push never reached the remote, so nothing can have landed.
_NEVER_CONNECTED = (
    "does not appear to be a git repository", "Could not read from remote repository", "unable to access",
    "Could not resolve host", "Connection refused", "No such file or directory",
)
# Push and update-ref failures that mean "someone else moved the ref first".
_LOST_RACE_MARKERS = (
    "stale info", "fetch first", "non-fast-forward", "failed to lock", "cannot lock ref",
    "incorrect old value", "but expected", "File exists", "unable to update local ref",
)
# How git names a ref lock it found taken: another git process is moving the ref, or one died doing so.
_LOCK_TAKEN = re.compile(r"Unable to create '([^']+\.lock)': File exists")
# A lock file that stays the same file this long while we retry was left by a git that died:
# a live git holds a ref lock for milliseconds, and contending writers each make a new one.
STALE_LOCK_SECONDS = 3.0


def stale_lock_message(name: str) -> str:
    """The sentence for a ref lock that stays put, shared by writes and `doctor`."""
    return f"{name} exists: another git process is writing, or one died; remove it if no git is running."


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

    @property
    def exists(self) -> bool:
        return self.commit is not None

    @property
    def meta(self) -> Meta:
        if self._meta is None:
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

    def _last_rev_in_history(self) -> int:
        if self.commit is None:
            return 0
        out = self.git.run("log", "-1", "--format=%(trailers:key=Coord-Rev,valueonly)", "--grep=^Coord-Rev: ",
                           self.commit).stdout.decode().strip()
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
                entries = parse_tree(self._objects([self.tree], [directory or "the coord tree"], "tree")[0], self.tree)
            else:
                parent, _, name = directory.rpartition("/")
                entry = self.entries(parent).get(name)
                if entry is not None and entry.is_tree:
                    entries = parse_tree(self._objects([entry.sha], [directory], "tree")[0], entry.sha)
        self._trees[directory] = entries
        return entries

    def read(self, path: str) -> bytes | None:
        """The file at `path`; None when the tree has no such file (unreadable: RecordsUnreadable)."""
        parent, _, name = path.rpartition("/")
        entry = self.entries(parent).get(name)
        if entry is None or not is_file(entry.mode):
            return None
        return self._objects([entry.sha], [path], "blob")[0]

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
        return self._parsed[directory]

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
    if isinstance(exc, ValidationError) and exc.errors():
        first = exc.errors()[0]
        where = ".".join(str(part) for part in first["loc"])
        return f"{where}: {first['msg'].removeprefix('Value error, ')}"[:300]
    return str(exc).splitlines()[0] if str(exc) else type(exc).__name__


def _only_coord_workflows(snap: Snapshot) -> bool:
    """Does the tree's `.github/` hold nothing but gitcoord's own workflow files?"""
    top, _, sub = COORD_WORKFLOWS_DIR.partition("/")
    if set(snap.entries(top)) != {sub}:
        return False
    found = snap.entries(COORD_WORKFLOWS_DIR)
    return bool(found) and all(COORD_WORKFLOW_NAME.fullmatch(name) and entry.mode == BLOB_MODE
                               for name, entry in found.items())


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

    @property
    def rev(self) -> int:
        """The revision this write will have once it lands."""
        return self.snap.rev + max(1, self._allocated)

    def new_id(self, kind: str) -> str:
        """A fresh record id: the kind letter and a revision no one else can get.

        Ids follow the revision count; should a damaged meta.toml have lost the
        count, an id already in the tree is stepped over, never reused.
        """
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
        return {path[len(prefix):-len(".toml")] for path, record in self._writes.items()
                if record is None and path.startswith(prefix)}

    @property
    def has_writes(self) -> bool:
        return bool(self._writes or self._files)

    def blobs(self) -> dict[str, bytes | None]:
        """Serialise the changes, stamping every written record with this write's rev."""
        rev = self.rev
        out: dict[str, bytes | None] = {}
        for path, record in self._writes.items():
            if record is None:
                out[path] = None
                continue
            if not record.created_rev:
                record.created_rev = rev
            record.updated_rev = rev
            out[path] = record.to_toml()
        out[f"{ROOT}/meta.toml"] = Meta(format=1, rev=rev).to_toml()
        out.update(self._files)
        return out

    def message(self, agent: str) -> str:
        subject = f"{agent}: {self.action} {self.what}".rstrip()
        lines = [subject, "", f"Coord-Agent: {agent}", f"Coord-Action: {self.action}",
                 f"Coord-Rev: {self.rev}", f"Coord-Records: {', '.join(self._touched)}"]
        lines += [f"{key}: {value}" for key, value in self.trailers.items()]
        return "\n".join(lines) + "\n"


@dataclass
class Outcome:
    """A landed write: its commit and revision, and what the caller's function returned."""

    commit: str | None
    rev: int
    value: Any
    attempts: int


@dataclass
class Store:
    """Records on `refs/heads/<branch>` of a repository, optionally mirrored by a remote."""

    git: Git
    branch: str = DEFAULT_BRANCH
    remote: str | None = None
    retry_seconds: float = 30.0
    remote_timeout: float = 20.0
    clock: Callable[[], datetime] = wall_clock
    cache_dir: Path | None = None
    common_dir: Path | None = None
    _lock_seen: tuple[str, int, int] | None = field(default=None, init=False, repr=False)
    _lock_since: float = field(default=0.0, init=False, repr=False)
    # Is the remote a partial clone's promisor? None: ask git on the first fetch (the Coordinator
    # knows it from the config Workspace read already, and says so: no process for it).
    promisor: bool | None = field(default=None, repr=False)

    @property
    def ref(self) -> str:
        return f"refs/heads/{self.branch}"

    @property
    def tracking_ref(self) -> str:
        return f"refs/remotes/{self.remote}/{self.branch}"

    @property
    def view_ref(self) -> str:
        """The ref reads look at: the local copy of the authoritative branch."""
        return view_ref(self.branch, self.remote)

    def ref_watch(self) -> RefWatch | None:
        """A watch on the authoritative ref, in local mode (with a remote, only a fetch can tell)."""
        if self.remote or self.common_dir is None:
            return None
        return RefWatch(self.common_dir, self.ref)

    # -- reading ------------------------------------------------------------

    def local_tip(self) -> str | None:
        found = self.git.read_object(self.view_ref)
        if found is None and self.remote:
            found = self.git.read_object(self.ref)
        return found[0] if found else None

    def snapshot(self, *, fetch: bool = False) -> Snapshot:
        """The state at the local tip, after a fetch when asked (remote mode only)."""
        tip = self.fetch() if fetch and self.remote else self.local_tip()
        return self.snapshot_at(tip)

    def snapshot_at(self, commit: str | None) -> Snapshot:
        if commit is None:
            return Snapshot(self.git, None, None, cache=ParsedTrees(self.cache_dir))
        found = self.git.read_object(commit)
        if found is None or found[1] != "commit":
            raise GitcoordError(f"{commit} is not a commit.")
        tree = found[2].split(b"\n", 1)[0].split(b" ")[1].decode()
        trailer = re.search(rb"^Coord-Rev: ([0-9]+)$", found[2], re.MULTILINE)
        snap = Snapshot(self.git, found[0], tree, cache=ParsedTrees(self.cache_dir),
                        tip_rev=int(trailer.group(1)) if trailer else 0)
        strangers = sorted(set(snap.entries("")) - {ROOT})
        if strangers == [".github"] and _only_coord_workflows(snap):
            strangers = []
        if strangers:
            # Writing records on a code branch would wreck its history: refuse to touch it.
            raise InvalidInput(f"the branch {self.branch!r} is not a coord store: it holds {', '.join(strangers[:3])}.",
                               hint="use a dedicated branch (coord.branch in .coord/config.toml, default coord).")
        return snap

    def fetch(self) -> str | None:
        """Bring the remote branch into the tracking ref; the remote tip, or None if absent."""
        assert self.remote
        before = self._ref_value(self.tracking_ref)
        refspec = f"+{self.ref}:{self.tracking_ref}"
        deadline = time.monotonic() + self.remote_timeout
        attempt = 0
        while True:
            attempt += 1
            res = self.git.run("fetch", "--no-tags", "--no-write-fetch-head", "--quiet",
                               self.remote, refspec, timeout=self.remote_timeout,
                               env={"GIT_TERMINAL_PROMPT": "0"})
            if res.returncode == 0:
                after = self._ref_value(self.tracking_ref)
                if after:
                    self._mirror_heads(after, known_behind=before)
                    self._fill_partial_clone(after)
                return after
            if "couldn't find remote ref" in res.stderr:
                return None
            # Another process of this clone is updating the tracking ref: let it finish,
            # unless its lock stays put (a git that died holding it).
            locked = self._check_lock(res.stderr)
            if not _is_lost_race(res.stderr) or (attempt >= 20 and not locked) or time.monotonic() > deadline:
                raise _unreachable(self.remote, res.stderr)
            time.sleep(random.uniform(0.005, 0.05))

    def _fill_partial_clone(self, tip: str) -> None:
        """In a partial clone, bring every record of the coord tip in while the remote answers.

        A `--filter` clone leaves the coord branch's files behind too, and git would fetch each
        one separately when first read (one connection per record), and not at all while the
        remote is down. One fetch of exactly what is missing, right after the fetch of the
        branch, costs a `rev-list` in a partial clone and nothing in any other.
        A failure here is not an error: the readers fetch lazily, or say that they cannot.
        """
        assert self.remote
        if self.promisor is None:
            said = self.git.run("config", "--bool", "--get", f"remote.{self.remote}.promisor").stdout
            self.promisor = said.strip() == b"true"
        for _ in range(3):  # trees first when a tree:0 filter left them out, then their files
            if not self.promisor:
                return
            listed = self.git.run("rev-list", "--objects", "--no-walk", "--missing=print", tip).stdout
            missing = [line[1:] for line in listed.decode(errors="replace").splitlines() if line.startswith("?")]
            if not missing:
                return
            res = self.git.run("-c", "fetch.negotiationAlgorithm=noop", "fetch", "--no-tags", "--no-write-fetch-head",
                               "--recurse-submodules=no", "--quiet", "--stdin", self.remote,
                               input="".join(f"{sha}\n" for sha in missing).encode(), timeout=self.remote_timeout,
                               env={"GIT_TERMINAL_PROMPT": "0"})
            if res.returncode != 0:
                log.debug("could not fetch the coord records of the partial clone: %s", res.stderr.strip())
                return

    def _ref_value(self, ref: str) -> str | None:
        found = self.git.read_object(ref)
        return found[0] if found else None

    def _mirror_heads(self, tip: str, *, known_behind: str | None = None) -> None:
        """Fast-forward refs/heads/<branch> to the remote tip, so `git log coord` shows the trail.

        Never moves it anywhere else: a local branch that has diverged (history
        written in local mode before the remote existed) is left as it is.
        """
        heads = self._ref_value(self.ref)
        if heads == tip:
            return
        # The remote only moves forward, so a value it had before is behind its tip now.
        if heads not in (None, known_behind) and not self._is_ancestor(heads, tip):
            log.warning("the local %s branch has diverged from %s's; it was left as it is", self.branch,
                        self.remote)
            return
        self.git.run("update-ref", "-m", "gitcoord: mirror remote", self.ref, tip, heads or "")

    def _is_ancestor(self, older: str | None, newer: str) -> bool:
        return older is not None and self.git.run("merge-base", "--is-ancestor", older, newer).returncode == 0

    # -- writing ----------------------------------------------------------------

    def transact(self, agent: str, work: Callable[[Txn], T], *, sign: bool = False) -> Outcome:
        """Run `work` on the tip and land what it wrote, retrying lost races.

        `work` validates against `txn.snap` and records changes with `txn.put` /
        `txn.delete`; it may raise to refuse. It is re-run from scratch after a
        lost race, so it must not have effects outside the transaction.
        `sign` signs the commit (a human act; see `gitcoord.signing`).
        """
        deadline = time.monotonic() + self.retry_seconds
        fresh = not self.remote
        tip = self.local_tip()
        if tip is None and self.remote:
            tip, fresh = self.fetch(), True
        attempt = 0
        while True:
            attempt += 1
            if tip is None:
                raise InvalidInput("the coord branch does not exist yet.", hint="run `gitcoord init` first.")
            snap = self.snapshot_at(tip)
            txn = Txn(snap, self.clock())
            try:
                value = work(txn)
            except GitcoordError:
                if fresh:
                    raise
                # Judged on a possibly stale copy: judge again on the remote's tip.
                tip, fresh = self.fetch(), True
                continue
            if not txn.has_writes:
                if not fresh:
                    # "Nothing to do" on a possibly stale copy is a verdict too (`release --all`
                    # after a write whose landing the client never heard): the remote's tip decides.
                    tip, fresh = self.fetch(), True
                    continue
                return Outcome(None, snap.rev, value, attempt)
            new = self._commit(snap, txn, agent, sign=sign)
            if self._swap(tip, new):
                return Outcome(new, txn.rev, value, attempt)
            if time.monotonic() > deadline:
                raise Unavailable(
                    f"gave up after {attempt} attempts in {self.retry_seconds:.0f}s: the coord "
                    "branch kept moving under contention.",
                    hint="try again; raise store.retry_seconds in .coord/config.toml if this persists.")
            time.sleep(random.uniform(0, min(0.5, 0.01 * 2 ** min(attempt, 6))))
            tip = self.fetch() if self.remote else self.local_tip()
            fresh = True

    def _commit(self, snap: Snapshot, txn: Txn, agent: str, *, sign: bool = False) -> str:
        tree = self._build_tree(snap, txn.blobs())
        parents = [snap.commit] if snap.commit else []
        return self.git.commit_tree(tree, parents, txn.message(agent), sign=sign)

    def _build_tree(self, snap: Snapshot, changes: dict[str, bytes | None]) -> str:
        """Write new trees for the directories that changed; reuse every other tree."""
        by_dir: dict[str, dict[str, bytes | None]] = {}
        for path, data in changes.items():
            parent, _, name = path.rpartition("/")
            by_dir.setdefault(parent, {})[name] = data
            # Make sure every ancestor is visited, so new directories get linked in.
            while parent:
                parent, _, name = parent.rpartition("/")
                by_dir.setdefault(parent, {})
        return self._write_dir(snap, "", by_dir) or self.git.write_tree({})

    def _write_dir(self, snap: Snapshot, directory: str, by_dir: dict[str, dict[str, bytes | None]]) -> str | None:
        entries = dict(snap.entries(directory))
        for name, data in by_dir.get(directory, {}).items():
            if data is None:
                entries.pop(name, None)
            else:
                entries[name] = TreeEntry(BLOB_MODE, self.git.write_blob(data))
        prefix = f"{directory}/" if directory else ""
        for sub in [d for d in by_dir if d and d.rpartition("/")[0] == directory]:
            name = sub[len(prefix):]
            sha = self._write_dir(snap, sub, by_dir)
            if sha is None:
                entries.pop(name, None)
            else:
                entries[name] = TreeEntry(TREE_MODE, sha)
        return self.git.write_tree(entries) if entries else None

    def _swap(self, old: str | None, new: str) -> bool:
        """The compare-and-swap. True if the ref moved from `old` to `new`."""
        if not self.remote:
            # An empty old value means "must not exist yet" in every object format (40 zeros is SHA-1's).
            res = self.git.run("update-ref", "-m", "gitcoord write", self.ref, new, old or "")
            if res.returncode == 0:
                return True
            if _is_lost_race(res.stderr):
                self._check_lock(res.stderr)
                return False
            raise GitFailed(["update-ref", self.ref], res.returncode, res.stdout, res.stderr)
        # A lease on exactly OLD is the strictest compare-and-swap push offers: unlike a bare
        # fast-forward check it also refuses a remote that was rewound behind OLD.
        res = self.git.run("push", "--porcelain", "--no-verify", f"--force-with-lease={self.ref}:{old or ''}",
                           self.remote, f"{new}:{self.ref}", timeout=self.remote_timeout,
                           env={"GIT_TERMINAL_PROMPT": "0"})
        flag, summary = _push_status(res.stdout.decode(errors="replace"), self.ref)
        if flag in _ACCEPTED:
            # The remote's own verdict, whatever the exit code: a remote hook failing after
            # the update, or the link dropping then, does not undo a write that landed.
            self._landed(old, new)
            return True
        said = res.stdout.decode(errors="replace") + res.stderr
        if flag == "!":
            return self._rejected(old, new, summary, _remote_lines(res.stderr), _LOCK_TAKEN.search(res.stderr))
        local_said = "\n".join(line for line in res.stderr.splitlines() if not line.startswith("remote:"))
        if not flag and any(marker in local_said for marker in _NEVER_CONNECTED):
            raise _unreachable(self.remote, said)
        return self._settle(old, new, _unreachable(self.remote, said))

    def _check_lock(self, stderr: str) -> bool:
        """Did git fail because a ref lock is taken? Raises once the same lock file has stayed
        put for STALE_LOCK_SECONDS (or half the retry time, if shorter) of our retries."""
        found = _LOCK_TAKEN.search(stderr)
        if found is None:
            return False
        lock = Path(found.group(1))
        try:
            st = lock.stat()
        except OSError:
            self._lock_seen = None
            return True  # released meanwhile: try again
        seen = (str(lock), st.st_ino, st.st_mtime_ns)
        now = time.monotonic()
        if seen != self._lock_seen:
            self._lock_seen, self._lock_since = seen, now
        elif now - self._lock_since >= min(STALE_LOCK_SECONDS, self.retry_seconds / 2):
            self._lock_seen = None
            raise Unavailable(stale_lock_message(self._lock_name(lock)),
                              hint=f"if no git process is running in this repository, remove {lock}; "
                                   "nothing was written.")
        return True

    def _lock_name(self, lock: Path) -> str:
        """A lock file as the ref it guards is named: relative to the git dir when inside it."""
        if self.common_dir is not None and lock.is_relative_to(self.common_dir):
            return lock.relative_to(self.common_dir).as_posix()
        return str(lock)

    def _rejected(self, old: str | None, new: str, summary: str, remote_said: str,
                  lock: re.Match[str] | None = None) -> bool:
        """What a `!` line means: a lost race, a hook's refusal, or a failure on the remote
        (`lock`: the remote said a ref lock was taken)."""
        assert self.remote
        if summary.startswith("[rejected]"):
            return False  # the lease saw someone else move it first
        if "hook declined" in summary:
            said = f" It said: {remote_said}" if remote_said else ""
            raise Refused(f"the remote {self.remote!r} refused the write: {summary}.{said}",
                          hint="its pre-receive or update hook said no; nothing was written.")
        # A remote-side update or lock failure may be a lost compare-and-swap or a failing disk,
        # and a "remote failure" may even have landed: only the remote's tip can tell.
        if lock is not None:
            on_remote = re.search(r"(?:^|/)(refs/.+)$", lock.group(1))
            name = on_remote.group(1) if on_remote else lock.group(1)
            return self._settle(old, new, Unavailable(
                f"the remote {self.remote!r} could not take the write: {stale_lock_message(name)}",
                hint=f"if no git process is running on the remote, remove {lock.group(1)} there; "
                     "nothing was written."))
        return self._settle(old, new, Unavailable(
            f"the remote {self.remote!r} could not take the write: {summary}",
            hint="check the remote's disk, permissions and limits; nothing was written."))

    def _landed(self, old: str | None, new: str) -> None:
        """After a push landed: move the local copies (push alone skips a single-branch clone's)."""
        tracking = self._ref_value(self.tracking_ref)
        if tracking in (None, old):
            self.git.run("update-ref", "-m", "gitcoord: write landed", self.tracking_ref, new,
                         tracking or "")
        self._mirror_heads(new, known_behind=old)

    def _settle(self, old: str | None, new: str, failure: Unavailable) -> bool:
        """A push without a clear verdict (a timeout, a dropped link, a remote-side update
        failure): ask the remote. True if the write landed, False if someone else's did
        (a lost race), else `failure`, now known to have written nothing."""
        assert self.remote
        try:
            tip = self.fetch()
        except Unavailable as exc:
            raise Unavailable(
                f"the write to {self.remote!r} may or may not have landed: {exc.message}",
                hint="when the remote answers again, `gitcoord log` shows whether it did.") from exc
        if tip is not None and (tip == new or self._is_ancestor(new, tip)):
            return True
        if tip != old:
            return False
        raise failure

    # -- creating and reading history ----------------------------------------

    def init(self) -> bool:
        """Create the coord branch (and push it). False if it already existed.

        In remote mode a store kept locally before the remote existed is
        published as it is, history and all, rather than replaced.
        """
        tip = self.fetch() if self.remote else self.local_tip()
        if tip is not None:
            self.snapshot_at(tip)  # refuses a branch that is not a coord store
            return False
        local = self._ref_value(self.ref) if self.remote else None
        if local is not None:
            self.snapshot_at(local)  # a local branch of that name must be a coord store to be published
        new = local or self._first_commit()
        if self._swap(None, new):
            return True
        # Someone created it at the same moment: theirs is as good as ours.
        if self.remote:
            self.fetch()
        return False

    def _first_commit(self) -> str:
        snap = self.snapshot_at(None)
        tree = self._build_tree(snap, {f"{ROOT}/meta.toml": Meta(format=1, rev=0).to_toml()})
        message = "gitcoord: init coord store\n\nCoord-Agent: gitcoord\nCoord-Action: init\nCoord-Rev: 0\n"
        return self.git.commit_tree(tree, [], message)

    def history(self, *, since: str | None = None, limit: int | None = None,
                fetch: bool = False) -> Iterator[dict[str, Any]]:
        """Commits of the coord branch, newest first, with their trailers parsed.

        With `fetch` (remote mode), the remote's history: after an unclear write,
        the way to see whether it landed.
        """
        tip = self.fetch() if fetch and self.remote else self.local_tip()
        if tip is None:
            return
        args = ["log", "-z", "--format=%H%x1f%cI%x1f%an <%ae>%x1f%B", tip]
        if since:
            args.append(f"--since={since}")
        if limit:
            args.append(f"-n{limit}")
        res = self.git.run(*args)
        if res.returncode != 0:
            raise InvalidInput(f"cannot read the coord history: {res.stderr.strip()}")
        for item in res.stdout.decode(errors="replace").split("\0"):
            if not item.strip():
                continue
            sha, when, author, body = item.lstrip("\n").split("\x1f", 3)
            yield {"commit": sha, "time": when, "author": author,
                   "subject": body.split("\n", 1)[0], **_trailers(body)}


_SAFE_KEY = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]*(/[A-Za-z0-9][A-Za-z0-9._-]*)?")


def _record_path(record: Record) -> str:
    """Where a record lives. The models validate keys; this is the last line of defence."""
    if not _SAFE_KEY.fullmatch(record.key) or ".." in record.key:
        raise GitcoordError(f"refusing to write a record under the unsafe key {record.key[:60]!r}.")
    return f"{ROOT}/{record.directory}/{record.key}.toml"


@cache
def _list_adapter(model: type[R]) -> TypeAdapter[list[R]]:
    return TypeAdapter(list[model])  # type: ignore[valid-type]


def _trailers(body: str) -> dict[str, Any]:
    """The Coord-* trailers of a coord commit as `log` shows them: `records` a list, the rest text."""
    out: dict[str, Any] = {}
    for key, values in parse_trailers(body).items():
        name = key[len("Coord-"):].lower()
        out[name] = [v.strip() for v in values[-1].split(",") if v.strip()] if name == "records" else values[-1]
    return out


def _push_status(porcelain: str, ref: str) -> tuple[str, str]:
    """(flag, summary) of `ref`'s line in `git push --porcelain` output; ("", "") if absent.

    Lines read `<flag>\t<from>:<to>\t<summary>`; the flag `!` is a rejection.
    """
    for line in porcelain.splitlines():
        parts = line.split("\t")
        if len(parts) >= 3 and parts[1].endswith(f":{ref}"):
            return parts[0], parts[2].strip()
    return "", ""


def _remote_lines(stderr: str) -> str:
    """What the remote's hooks printed (git prefixes their lines with `remote:`), on one line."""
    lines = [line[len("remote:"):].strip() for line in stderr.splitlines() if line.startswith("remote:")]
    return " / ".join(line for line in lines if line)[-600:]


def _is_lost_race(text: str) -> bool:
    return any(marker in text for marker in _LOST_RACE_MARKERS)


def _unreachable(remote: str, detail: str) -> Unavailable:
    lines = detail.strip().splitlines()
    said = " / ".join(line for line in lines if line.strip())[-600:] or "no answer"
    return Unavailable(f"the remote {remote!r} cannot be reached: {said}",
                       hint="check the network and `git remote -v`; nothing was written.")
