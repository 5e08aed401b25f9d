"""Landing an agent's own record on its own ref (store format 2; `gitcoord.agent_refs`).

The compare-and-swap is the shared ref's (DESIGN §3) on another ref: `update-ref REF NEW OLD`
locally, a push with a lease on exactly OLD with a remote. Only the agent itself writes its ref,
so a lost race here means two processes of one agent wrote at once; the store re-reads and
judges again, as after any lost race. Turns (`gitcoord.turns`) are for the shared ref only.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from gitcoord import agent_refs, commit_object
from gitcoord.cas import lease_push, push_failure, update_ref
from gitcoord.git import BLOB_MODE, TREE_MODE, TreeEntry

if TYPE_CHECKING:
    from gitcoord.records import Agent
    from gitcoord.snapshot import Snapshot, Txn
    from gitcoord.store import Store


def land(store: Store, snap: Snapshot, txn: Txn, record: Agent, actor: str) -> str | None:
    """Commit `record` on its agent's ref, on top of the commit `snap` read there: the new commit
    once the ref moved to it, None when the ref had moved first (a lost race)."""
    old, _ = snap.own(record.name)
    part = agent_refs.component(record.name)
    ref = agent_refs.LOCAL_PREFIX + part
    new = _commit(store, txn, record, actor, old, ref)
    if not store.remote:
        return new if update_ref(store.git, ref, old, new, store._check_lock) else None
    return new if _push(store, ref, old, new, store.agent_prefix + part) else None


def _commit(store: Store, txn: Txn, record: Agent, actor: str, parent: str | None, ref: str) -> str:
    git = store.git
    blob = git.write_blob(txn.own_blob(record))
    agents = git.write_tree({f"{record.name}.toml": TreeEntry(BLOB_MODE, blob)})
    root = git.write_tree({"agents": TreeEntry(TREE_MODE, agents)})
    tree = git.write_tree({agent_refs.ROOT: TreeEntry(TREE_MODE, root)})
    # Which ref it is on: `log` orders it after the shared write of the same second and revision.
    txn.trailers["Coord-Ref"] = ref
    message = txn.message(actor, rev=txn.snap.rev)
    return commit_object.write(git, tree, [parent] if parent else [], message, store.gitconfig)


def _push(store: Store, ref: str, old: str | None, new: str, tracking: str) -> bool:
    """The lease push of the agent's ref; an unclear verdict is settled as the coord branch's is
    (`Store._settle`), by the remote's copy of this ref."""
    assert store.remote
    landed, res = lease_push(store.git, store.remote, ref, old, new, store.remote_timeout)
    if landed:
        store.git.run("update-ref", "-m", "gitcoord: write landed", tracking, new)
        return True
    failure = push_failure(store.remote, ref, res)
    return False if failure is None else store._settle(old, new, failure, tracking)
