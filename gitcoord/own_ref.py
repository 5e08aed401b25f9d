"""Landing an agent's own record on its own ref (store format 2; `gitcoord.agent_refs`).

The compare-and-swap is the shared ref's (DESIGN §3) on another ref: `update-ref REF NEW OLD`
locally, a push with a lease on exactly OLD with a remote. Only the agent itself writes its ref,
so a lost race here means two processes of one agent wrote at once; the store re-reads and
judges again, as after any lost race. Turns (`gitcoord.turns`) are for the shared ref only.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from gitcoord import agent_refs, commit_object
from gitcoord.cas import (
    ACCEPTED,
    LOCK_TAKEN,
    NEVER_CONNECTED,
    is_lost_race,
    push_status,
    rejected_push,
    remote_lines,
    unreachable,
)
from gitcoord.errors import Unavailable
from gitcoord.git import BLOB_MODE, TREE_MODE, GitFailed, TreeEntry

if TYPE_CHECKING:
    from gitcoord.records import Agent
    from gitcoord.snapshot import Snapshot, Txn
    from gitcoord.store import Store


def land(store: Store, snap: Snapshot, txn: Txn, record: Agent, actor: str) -> str | None:
    """Commit `record` on its agent's ref, on top of the commit `snap` read there: the new commit
    once the ref moved to it, None when the ref had moved first (a lost race)."""
    old, _ = snap.own(record.name)
    new = _commit(store, txn, record, actor, old)
    ref = agent_refs.LOCAL_PREFIX + agent_refs.component(record.name)
    if not store.remote:
        res = store.git.run("update-ref", "-m", "gitcoord write", ref, new, old or "")
        if res.returncode == 0:
            return new
        if is_lost_race(res.stderr):
            store._check_lock(res.stderr)
            return None
        raise GitFailed(["update-ref", ref], res.returncode, res.stdout, res.stderr)
    return new if _push(store, ref, old, new, record.name) else None


def _commit(store: Store, txn: Txn, record: Agent, actor: str, parent: str | None) -> str:
    git = store.git
    blob = git.write_blob(txn.own_blob(record))
    agents = git.write_tree({f"{record.name}.toml": TreeEntry(BLOB_MODE, blob)})
    root = git.write_tree({"agents": TreeEntry(TREE_MODE, agents)})
    tree = git.write_tree({agent_refs.ROOT: TreeEntry(TREE_MODE, root)})
    # Which ref it is on: `log` orders it after the shared write of the same second and revision.
    txn.trailers["Coord-Ref"] = agent_refs.LOCAL_PREFIX + agent_refs.component(record.name)
    message = txn.message(actor, rev=txn.snap.rev)
    return commit_object.write(git, tree, [parent] if parent else [], message, store.gitconfig)


def _push(store: Store, ref: str, old: str | None, new: str, agent: str) -> bool:
    assert store.remote
    tracking = agent_refs.tracking_prefix(store.remote) + agent_refs.component(agent)
    res = store.git.run(
        "push",
        "--porcelain",
        "--no-verify",
        f"--force-with-lease={ref}:{old or ''}",
        store.remote,
        f"{new}:{ref}",
        timeout=store.remote_timeout,
        env={"GIT_TERMINAL_PROMPT": "0"},
    )
    flag, summary = push_status(res.stdout.decode(errors="replace"), ref)
    if flag in ACCEPTED:
        store.git.run("update-ref", "-m", "gitcoord: write landed", tracking, new)
        return True
    said = res.stdout.decode(errors="replace") + res.stderr
    if flag == "!":
        lock = LOCK_TAKEN.search(res.stderr)
        failure = rejected_push(store.remote, summary, remote_lines(res.stderr), lock)
        if failure is None:
            return False
    else:
        local_said = "\n".join(line for line in res.stderr.splitlines() if not line.startswith("remote:"))
        if not flag and any(marker in local_said for marker in NEVER_CONNECTED):
            raise unreachable(store.remote, said)
        failure = unreachable(store.remote, said)
    # No clear verdict: the remote's copy of the ref, fetched, says whether the write landed.
    try:
        store.fetch()
    except Unavailable as exc:
        raise Unavailable(
            f"the write to {store.remote!r} may or may not have landed: {exc.message}",
            hint="when the remote answers again, `gitcoord log` shows whether it did.",
        ) from exc
    found = store.git.read_object(tracking)
    now = found[0] if found else None
    if now is not None and (now == new or store._is_ancestor(new, now)):
        return True
    if now != old:
        return False
    raise failure
