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

What an attempt reads and writes (`Snapshot`, `Txn`) lives in `gitcoord.snapshot`, and how
git's answer to a swap is read (landed, lost race, lock, unreachable) in `gitcoord.cas`;
the history `gitcoord log` shows is read in `gitcoord.history`.
"""

from __future__ import annotations

import logging
import random
import re
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any, TypeVar

from gitcoord import agent_refs, commit_object, own_ref, turns
from gitcoord.cache import ParsedTrees
from gitcoord.cas import (
    STALE_LOCK_SECONDS,
    LockWatch,
    is_lost_race,
    lease_push,
    push_failure,
    remote_lines,
    unreachable,
    update_ref,
)
from gitcoord.clock import wall_clock
from gitcoord.constants import COORD_WORKFLOW_NAME, COORD_WORKFLOWS_DIR, DEFAULT_BRANCH, STORE_FORMAT
from gitcoord.errors import GitcoordError, InvalidInput, Unavailable
from gitcoord.git import BLOB_MODE, TREE_MODE, Git, RefWatch, TreeEntry
from gitcoord.history import read_history
from gitcoord.partial_clone import fill_partial_clone
from gitcoord.snapshot import ROOT as ROOT
from gitcoord.snapshot import Snapshot as Snapshot
from gitcoord.snapshot import Txn as Txn
from gitcoord.workspace import view_ref

log = logging.getLogger("gitcoord")

T = TypeVar("T")


def _only_coord_workflows(snap: Snapshot) -> bool:
    """Does the tree's `.github/` hold nothing but gitcoord's own workflow files?"""
    top, _, sub = COORD_WORKFLOWS_DIR.partition("/")
    if set(snap.entries(top)) != {sub}:
        return False
    found = snap.entries(COORD_WORKFLOWS_DIR)
    return bool(found) and all(
        COORD_WORKFLOW_NAME.fullmatch(name) and entry.mode == BLOB_MODE for name, entry in found.items()
    )


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
    _locks: LockWatch | None = field(default=None, init=False, repr=False)
    # Is the remote a partial clone's promisor? None: ask git on the first fetch (the Coordinator
    # knows it from the config Workspace read already, and says so: no process for it).
    promisor: bool | None = field(default=None, repr=False)
    # This clone's turns between writers (remote mode), read on the first write.
    _turns: turns.Keeper = field(init=False, repr=False)
    # The remote's tip as the last push's settling fetch found it (None: not fetched).
    _settled_tip: str | None = field(default=None, init=False, repr=False)
    # What `local_tip` read last (id, kind, text): `snapshot_at` that commit reads it from here.
    _tip_found: tuple[str, str, bytes] | None = field(default=None, init=False, repr=False)
    # Runs `_mirror_heads`' update-ref in place of `git.run` (`mcp_reader.Mirrors`).
    mirror_run: Callable[..., object] | None = field(default=None, repr=False)
    # Takes work the caller's answer need not wait for (saving the turns file) to run after it
    # (`mcp_reader.Mirrors.later`); None: run at once.
    later: Callable[[Callable[[], object]], None] | None = field(default=None, repr=False)
    # git's config as the workspace read it: a commit is then written in-process (`commit_object`).
    gitconfig: dict[str, list[str]] | None = field(default=None, repr=False)

    def __post_init__(self) -> None:
        self._turns = turns.Keeper(self.common_dir)

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

    @property
    def agent_prefix(self) -> str:
        """Where the agents' own refs are read: the local copies of the remote's, or the refs."""
        return agent_refs.tracking_prefix(self.remote) if self.remote else agent_refs.LOCAL_PREFIX

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
        self._tip_found = found
        return found[0] if found else None

    def snapshot(self, *, fetch: bool = False) -> Snapshot:
        """The state at the local tip, after a fetch when asked (remote mode only)."""
        tip = self.fetch() if fetch and self.remote else self.local_tip()
        return self.snapshot_at(tip)

    def snapshot_at(self, commit: str | None) -> Snapshot:
        if commit is None:
            return Snapshot(self.git, None, None, cache=ParsedTrees(self.cache_dir))
        kept = self._tip_found
        found = kept if kept is not None and kept[0] == commit else self.git.read_object(commit)
        if found is None or found[1] != "commit":
            raise GitcoordError(f"{commit} is not a commit.")
        self.git.learn_format(found[0])
        tree = found[2].split(b"\n", 1)[0].split(b" ")[1].decode()
        trailer = re.search(rb"^Coord-Rev: ([0-9]+)$", found[2], re.MULTILINE)
        snap = Snapshot(
            self.git,
            found[0],
            tree,
            cache=ParsedTrees(self.cache_dir),
            tip_rev=int(trailer.group(1)) if trailer else 0,
            agent_prefix=self.agent_prefix,
        )
        strangers = sorted(set(snap.entries("")) - {ROOT})
        if strangers == [".github"] and _only_coord_workflows(snap):
            strangers = []
        if strangers:
            # Writing records on a code branch would wreck its history: refuse to touch it.
            raise InvalidInput(
                f"the branch {self.branch!r} is not a coord store: it holds {', '.join(strangers[:3])}.",
                hint="use a dedicated branch (coord.branch in .coord/config.toml, default coord).",
            )
        snap.require_known_format(self.branch)
        return snap

    def fetch(self) -> str | None:
        """Bring the remote branch into the tracking ref; the remote tip, or None if absent."""
        assert self.remote
        before = self._ref_value(self.tracking_ref)
        # One connection brings the shared ref and every agent's own ref (format 2).
        refspecs = (f"+{self.ref}:{self.tracking_ref}", agent_refs.fetch_refspec(self.remote))
        deadline = time.monotonic() + self.remote_timeout
        attempt = 0
        while True:
            attempt += 1
            res = self.git.run(
                "fetch",
                "--no-tags",
                "--no-write-fetch-head",
                "--quiet",
                self.remote,
                *refspecs,
                timeout=self.remote_timeout,
                env={"GIT_TERMINAL_PROMPT": "0"},
            )
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
            if not is_lost_race(res.stderr) or (attempt >= 20 and not locked) or time.monotonic() > deadline:
                raise unreachable(self.remote, res.stderr)
            time.sleep(random.uniform(0.005, 0.05))

    def _fill_partial_clone(self, tip: str) -> None:
        """In a partial clone, every record of the coord tip (and of the agents' own refs) while
        the remote answers (`gitcoord.partial_clone`)."""
        assert self.remote
        if self.promisor is None:
            said = self.git.run("config", "--bool", "--get", f"remote.{self.remote}.promisor").stdout
            self.promisor = said.strip() == b"true"
        if self.promisor:
            tips = [tip, *agent_refs.list_tips(self.git, self.agent_prefix).values()]
            fill_partial_clone(self.git, self.remote, tips, self.remote_timeout)

    def _ref_value(self, ref: str) -> str | None:
        found = self.git.read_object(ref)
        return found[0] if found else None

    def _mirror_heads(self, tip: str, *, known_behind: str | None = None) -> None:
        """Fast-forward refs/heads/<branch> to the remote tip, so `git log coord` shows the trail.

        Never moves it anywhere else: a local branch that has diverged (history written in local
        mode before the remote existed) is left as it is. Reads go by the tracking ref it follows."""
        heads = self._ref_value(self.ref)
        if heads == tip:
            return
        # The remote only moves forward, so a value it had before is behind its tip now.
        if heads not in (None, known_behind) and not self._is_ancestor(heads, tip):
            log.warning(
                "the local %s branch has diverged from %s's; it was left as it is", self.branch, self.remote
            )
            return
        run = self.mirror_run or self.git.run
        run("update-ref", "-m", "gitcoord: mirror remote", self.ref, tip, heads or "")

    def _is_ancestor(self, older: str | None, newer: str) -> bool:
        return older is not None and self.git.run("merge-base", "--is-ancestor", older, newer).returncode == 0

    # -- writing ----------------------------------------------------------------

    def transact(
        self, agent: str, work: Callable[[Txn], T], *, sign: bool = False, migrate: bool = False
    ) -> Outcome:
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
        attempt = losses = 0
        while True:
            attempt += 1
            if tip is None:
                raise InvalidInput("the coord branch does not exist yet.", hint="run `gitcoord init` first.")
            snap = self.snapshot_at(tip)
            txn = Txn(snap, self.clock(), migrating=migrate and snap.format < STORE_FORMAT)
            try:
                if not migrate:  # a stale copy may predate a migration: then the remote's tip decides
                    snap.require_current_format(self.branch)
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
            own = txn.own_write() if snap.own_refs and not sign else None
            if own is not None and own.name == agent:  # an agent's ref has one writer: the agent
                if not fresh:  # its verdict on the claims it reports lost is the remote's too
                    tip, fresh = self.fetch(), True
                    continue
                self._settled_tip = None
                landed = own_ref.land(self, snap, txn, own, agent)
                if landed is not None:
                    return Outcome(landed, snap.rev, value, attempt)
            else:
                new = self._commit(snap, txn, agent, sign=sign)
                if self._swap_in_turn(tip, new, losses):
                    return Outcome(new, txn.rev, value, attempt)
            losses += 1
            if time.monotonic() > deadline:
                raise Unavailable(
                    f"gave up after {attempt} attempts in {self.retry_seconds:.0f}s: the coord "
                    "branch kept moving under contention.",
                    hint="try again; raise store.retry_seconds in .coord/config.toml if this persists.",
                )
            if not self.remote:
                time.sleep(random.uniform(0, min(0.5, 0.01 * 2 ** min(attempt, 6))))
                tip = self.local_tip()
            else:
                time.sleep(self._turns.backoff(losses, budget=deadline - time.monotonic()))
                # A push whose verdict was settled by a fetch already brought the new tip in.
                tip = self._settled_tip if self._settled_tip is not None else self.fetch()
            fresh = True

    def _commit(self, snap: Snapshot, txn: Txn, agent: str, *, sign: bool = False) -> str:
        tree = self._build_tree(snap, txn.blobs())
        parents = [snap.commit] if snap.commit else []
        return commit_object.write(self.git, tree, parents, txn.message(agent), self.gitconfig, sign=sign)

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

    def _write_dir(
        self, snap: Snapshot, directory: str, by_dir: dict[str, dict[str, bytes | None]]
    ) -> str | None:
        entries = dict(snap.entries(directory))
        for name, data in by_dir.get(directory, {}).items():
            if data is None:
                entries.pop(name, None)
            else:
                entries[name] = TreeEntry(BLOB_MODE, self.git.write_blob(data))
        prefix = f"{directory}/" if directory else ""
        for sub in [d for d in by_dir if d and d.rpartition("/")[0] == directory]:
            name = sub[len(prefix) :]
            sha = self._write_dir(snap, sub, by_dir)
            if sha is None:
                entries.pop(name, None)
            else:
                entries[name] = TreeEntry(TREE_MODE, sha)
        return self.git.write_tree(entries) if entries else None

    def _swap_in_turn(self, old: str | None, new: str, losses: int) -> bool:
        """The compare-and-swap at this writer's turn (`gitcoord.turns`; remote mode): the holder
        of the remote's tip may wait first, but whether the swap lands is the remote's verdict."""
        if not self.remote:
            return self._swap(old, new)
        if losses == 0:
            time.sleep(self._turns.pause(old))
        self._settled_tip = None
        started = time.monotonic()
        won = self._swap(old, new)
        self._turns.swapped(old, new, won, time.monotonic() - started, later=self.later)
        return won

    def _swap(self, old: str | None, new: str) -> bool:
        """The compare-and-swap. True if the ref moved from `old` to `new`."""
        if not self.remote:
            return update_ref(self.git, self.ref, old, new, self._check_lock)
        landed, res = lease_push(self.git, self.remote, self.ref, old, new, self.remote_timeout)
        if landed:
            self._landed(old, new)
            return True
        failure = push_failure(self.remote, self.ref, res)
        return False if failure is None else self._settle(old, new, failure)

    def _check_lock(self, stderr: str) -> bool:
        """Did git fail because a ref lock is taken? Raises once it stays put (`cas.LockWatch`)."""
        if self._locks is None:
            self._locks = LockWatch(self.common_dir, min(STALE_LOCK_SECONDS, self.retry_seconds / 2))
        return self._locks.check(stderr)

    def _landed(self, old: str | None, new: str) -> None:
        """After a push landed: move the local copies (push alone skips a single-branch clone's)."""
        tracking = self._ref_value(self.tracking_ref)
        if tracking in (None, old):
            self.git.run("update-ref", "-m", "gitcoord: write landed", self.tracking_ref, new, tracking or "")
        self._mirror_heads(new, known_behind=old)

    def _settle(self, old: str | None, new: str, failure: Unavailable, tracking: str | None = None) -> bool:
        """A push without a clear verdict (a timeout, a dropped link, a remote-side update
        failure): ask the remote. True if the write landed, False if someone else's did
        (a lost race), else `failure`, now known to have written nothing. `tracking` names the
        local copy of the ref pushed when it is not the coord branch (an agent's own ref)."""
        assert self.remote
        try:
            tip = self.fetch()
        except Unavailable as exc:
            raise Unavailable(
                f"the write to {self.remote!r} may or may not have landed: {exc.message}",
                hint="when the remote answers again, `gitcoord log` shows whether it did.",
            ) from exc
        if tracking is not None:
            tip = self._ref_value(tracking)
        if tip is not None and (tip == new or self._is_ancestor(new, tip)):
            return True
        if tip != old:
            if tracking is None:  # the coord branch's new tip, for the retry to read
                self._settled_tip = tip
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
            if local is not None:
                self._publish_own_refs()
            return True
        # Someone created it at the same moment: theirs is as good as ours.
        if self.remote:
            self.fetch()
        return False

    def _publish_own_refs(self) -> None:
        """A store kept locally goes up with its agents' own refs (their latest check-ins): read
        through the remote from now on, they would be left behind. Only they are lost if this
        push fails, and each agent's next check-in starts its ref on the remote again."""
        assert self.remote
        if not agent_refs.list_tips(self.git, agent_refs.LOCAL_PREFIX):
            return
        res = self.git.run(
            "push",
            "--quiet",
            "--no-verify",
            self.remote,
            f"{agent_refs.LOCAL_PREFIX}*:{agent_refs.LOCAL_PREFIX}*",
            timeout=self.remote_timeout,
            env={"GIT_TERMINAL_PROMPT": "0"},
        )
        if res.returncode != 0:
            log.warning(
                "the agents' own refs were not published: %s", remote_lines(res.stderr) or res.stderr.strip()
            )
        self.fetch()

    def _first_commit(self) -> str:
        snap = self.snapshot_at(None)
        from gitcoord.records import Meta

        tree = self._build_tree(snap, {f"{ROOT}/meta.toml": Meta(format=STORE_FORMAT, rev=0).to_toml()})
        message = "gitcoord: init coord store\n\nCoord-Agent: gitcoord\nCoord-Action: init\nCoord-Rev: 0\n"
        return self.git.commit_tree(tree, [], message)

    def history(
        self, *, since: str | None = None, limit: int | None = None, fetch: bool = False, own: bool = True
    ) -> Iterator[dict[str, Any]]:
        """Commits of the coord branch and of the agents' own refs (not with `own`: those have no
        revision of their own), newest first, with their trailers parsed.

        With `fetch` (remote mode), the remote's history: after an unclear write,
        the way to see whether it landed.
        """
        tip = self.fetch() if fetch and self.remote else self.local_tip()
        if tip is not None:
            tips = [tip]
            if own:  # a store of format 1 has none
                tips += sorted(agent_refs.list_tips(self.git, self.agent_prefix).values())
            yield from read_history(self.git, tips, since=since, limit=limit)
