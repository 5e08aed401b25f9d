"""Release when the work lands: `gitcoord release --merged [REF]`.

A claim marked `until_merged` (by `claim --until-merged`, or an auto claim while
`claims.release_on_merge` is true) is released once its work has landed on REF:

- some commit carries its fencing token (`Coord-Claim: C-41@41`, added by prepare-commit-msg),
- every commit that carries it, on any branch or remote-tracking branch here, is reachable
  from REF, and
- its holder has not checked in on it since the newest of those commits (a check-in in the
  same second counts as after: a claim still in use is never released).

Who is released: an agent running it releases only its own claims; a run without an agent
identity (CI, the post-merge hook) releases every claim whose work provably landed, an
automatic act recorded in one coord commit naming the merge (`Coord-Merge: REF COMMIT`).
Each holder's record forgets the released claims, so its next check-in does not report them lost.

A squash merge makes new commits without the trailers: its claims are not released (release
them by hand). A rebase-merge keeps the trailers, and the claims are released once the
pre-rebase branch is gone or rebased too.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any

from gitcoord.conflicts import default_branch_ref, resolve_commit
from gitcoord.host import touch_agent
from gitcoord.records import Agent, Claim

if TYPE_CHECKING:
    from gitcoord.coordinator import Coordinator
    from gitcoord.store import Txn

# Commits older than the oldest claim by more than this cannot carry its token (a token is
# made when the claim is granted); the slack covers machines whose clocks disagree.
_CLOCK_SLACK = timedelta(days=1)


def is_until_merged(claim: Claim, release_on_merge: bool) -> bool:
    """Whether a claim goes when its work lands: marked so, or an auto claim by default."""
    return claim.until_merged or (release_on_merge and bool(getattr(claim, "auto", False)))


def token(claim: Claim) -> str:
    return f"{claim.id}@{claim.token}"


def _carriers(coord: Coordinator, *revs: str, since: datetime) -> dict[str, list[tuple[str, int]]]:
    """{token: [(commit, commit time)]} for the commits of `revs` carrying Coord-Claim trailers."""
    fmt = "%H %ct %(trailers:key=Coord-Claim,valueonly,separator=%x2C)"
    res = coord.git.run(
        "log", f"--format={fmt}", "--grep=^Coord-Claim:", f"--since={since:%Y-%m-%dT%H:%M:%SZ}", *revs, "--"
    )
    found: dict[str, list[tuple[str, int]]] = {}
    if res.returncode != 0:
        from gitcoord.errors import GitcoordError

        raise GitcoordError(f"git log failed: {res.stderr.strip()}")
    for line in res.stdout.decode(errors="replace").splitlines():
        parts = line.split(" ", 2)
        if len(parts) < 3:
            continue
        commit, when, values = parts
        for value in values.split(","):
            if value.strip():
                found.setdefault(value.strip(), []).append((commit, int(when)))
    return found


def _judge(
    claim: Claim, landed: dict[str, list[tuple[str, int]]], elsewhere: dict[str, list[tuple[str, int]]]
) -> tuple[bool, str, list[str]]:
    """(release it?, why not, the landed commits) for one until-merged claim."""
    key = token(claim)
    commits = landed.get(key, [])
    if key in elsewhere:
        outside = elsewhere[key][0][0]
        return False, f"commit {outside[:12]} carrying it is not on the branch yet", []
    if not commits:
        return False, "no commit carrying its token is on the branch", []
    newest = datetime.fromtimestamp(max(when for _, when in commits), UTC)
    if claim.last_check_in > claim.created_at and claim.last_check_in >= newest:
        return False, f"{claim.agent} checked in on it after its last landed commit (still in use)", []
    return True, "", [c for c, _ in commits]


def release_merged(
    coord: Coordinator, ref: str | None = None, *, everyone: bool | None = None
) -> dict[str, Any]:
    """Release the until-merged claims whose work landed on `ref` (default: the default branch).

    `everyone` (default: when no agent identity is set) judges every agent's claims; otherwise
    only the agent's own. Returns {ref, commit, released: [...], kept: [...]}.
    """
    name, commit = resolve_commit(coord, ref) if ref else resolve_commit(coord, default_branch_ref(coord))
    agent = None if everyone or (everyone is None and coord.agent is None) else coord.require_agent()
    if agent is not None:
        coord.refuse_speaking_for("releasing claims")
    release_on_merge = coord.config.claims.release_on_merge
    snap = coord.snapshot(fetch=bool(coord.store.remote))
    wanted = [
        c
        for c in snap.records(Claim)
        if is_until_merged(c, release_on_merge) and (agent is None or c.agent == agent)
    ]
    if not wanted:
        return {"ref": name, "commit": commit, "released": [], "kept": []}
    since = min(c.created_at for c in wanted) - _CLOCK_SLACK
    landed = _carriers(coord, commit, since=since)
    store_branch = coord.store.branch
    # Every branch but the coord store's (whose long history carries no Coord-Claim): with
    # --branches and --remotes, git matches --exclude against the name without refs/heads/ or refs/remotes/.
    elsewhere = _carriers(
        coord,
        f"--exclude={store_branch}",
        "--branches",
        f"--exclude=*/{store_branch}",
        "--remotes",
        "--not",
        commit,
        since=since,
    )
    kept: list[dict[str, Any]] = []

    def work(txn: Txn) -> list[dict[str, Any]]:
        kept.clear()
        chosen: list[tuple[Claim, list[str]]] = []
        for claim in txn.snap.records(Claim):
            if not is_until_merged(claim, release_on_merge) or (agent is not None and claim.agent != agent):
                continue
            go, why, commits = _judge(claim, landed, elsewhere)
            if go:
                chosen.append((claim, commits))
            else:
                kept.append({"id": claim.id, "agent": claim.agent, "resource": claim.resource, "why": why})
        for claim, _ in chosen:
            txn.delete(claim)
        if not chosen:
            return []
        _forget(txn, [c for c, _ in chosen], actor=agent)
        if agent is not None:
            touch_agent(coord, txn, agent)
        txn.action = "release-merged"
        txn.what = " ".join(c.resource for c, _ in chosen) + f" (landed on {name} at {commit[:12]})"
        txn.trailers["Coord-Merge"] = f"{name} {commit}"
        txn.trailers["Coord-Released"] = ", ".join(f"{c.id} ({c.agent})" for c, _ in chosen)
        return [
            {"id": c.id, "agent": c.agent, "resource": c.resource, "token": c.token, "commits": commits}
            for c, commits in chosen
        ]

    released: list[dict[str, Any]] = coord.write(work, actor=agent or coord.human())
    return {"ref": name, "commit": commit, "released": released, "kept": kept}


def _forget(txn: Txn, released: list[Claim], *, actor: str | None) -> None:
    """Each other holder's record drops the released claims from `held`: not lost, landed."""
    by_agent: dict[str, set[str]] = {}
    for claim in released:
        if claim.agent != actor:
            by_agent.setdefault(claim.agent, set()).add(claim.id)
    for name, ids in by_agent.items():
        record = txn.snap.record(Agent, name)
        if record is not None and ids & set(record.held):
            record.held = {k: v for k, v in record.held.items() if k not in ids}
            txn.put(record)
