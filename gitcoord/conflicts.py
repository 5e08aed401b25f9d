"""Conflicts named before the merge: `gitcoord conflicts` (the conflict radar).

Every agent's write records where it works (`branch`, `head` on its agent record). The radar
finds each agent's branch, asks git which paths each branch changed since it left the default
branch, and merges (`git merge-tree --write-tree`, which touches no work tree or index) every
branch with the default branch and every pair of branches that changed a path in common:

- `conflicts`: paths git could not merge (content, modify/delete, rename... conflicts);
- `overlap`: paths both sides changed that merge cleanly, for now.

How a branch is found: in remote mode the pushed branch (`refs/remotes/<remote>/<branch>`)
when the remote has it, else the local branch of that name, else the recorded head commit
when this clone has it; in local mode (worktrees of one repository) the local branch, which
every worktree sees without a push. The answer of git for two commits never changes, so it is
cached under the common git dir: `start`, `check-in` and `status` pay only for what moved.

Light on purpose: `where_agent_works` runs in every agent write (including `claim`).
"""

from __future__ import annotations

import json
import os
from collections.abc import Callable, Sequence
from itertools import combinations
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol

from gitcoord.errors import InvalidInput

if TYPE_CHECKING:
    from gitcoord.coordinator import Coordinator
    from gitcoord.git import Git
    from gitcoord.records import Agent
    from gitcoord.store import Store


class Where(Protocol):
    """What the radar reads: a `Coordinator`, or the lean reads' reader (`gitcoord.lean_reads`)."""

    @property
    def store(self) -> Store: ...
    @property
    def git(self) -> Git: ...
    @property
    def common_dir(self) -> Path: ...


class Position(Protocol):
    """Where an agent works, as its record says: an `Agent`, or a plain view of one."""

    @property
    def name(self) -> str: ...
    @property
    def branch(self) -> str: ...
    @property
    def head(self) -> str: ...


CACHE_FILE = "conflicts.json"
CONTEXT_LIMIT = 30  # paths told in a startup context; `gitcoord conflicts` lists them all
_CACHE_LIMIT = 2000  # entries kept; the radar of a busy day needs a few hundred


def where_agent_works(git_dir: Path, git: Git, common_dir: Path | None = None) -> tuple[str, str]:
    """(branch, head commit) of the work tree at `git_dir`: ("", "") when there is no commit.

    No git process: the branch is read from the HEAD file and its commit from the ref files
    (loose, else packed-refs); only a ref store we do not read asks the cat-file process the
    write has already started. A detached HEAD has no branch (""). Read afresh on every write:
    a long-lived Coordinator (the MCP server, the demo's agents) sees the agent switch branches.
    """
    from gitcoord.conflicts_index import ref_tip

    try:
        text = (git_dir / "HEAD").read_text(encoding="utf-8").strip()
    except OSError:
        return "", ""
    branch = text[len("ref: refs/heads/") :] if text.startswith("ref: refs/heads/") else ""
    if not text.startswith("ref: "):
        return branch, text  # detached: HEAD holds the commit
    tip = ref_tip(common_dir or git_dir, text[len("ref: ") :])
    if tip:
        return branch, tip
    found = git.read_object("HEAD")
    if found is None or found[1] != "commit":
        return branch, ""
    return branch, found[0]


def record_position(coord: Coordinator, record: Agent) -> None:
    """Put where this work tree stands on the agent's record, when it is the agent's own."""
    if coord.top is None or record.name != coord.agent or coord.speaking_for() is not None:
        return
    record.branch, record.head = where_agent_works(coord.git_dir, coord.git, coord.common_dir)


# -- finding branches ---------------------------------------------------------------------------


def default_branch_ref(coord: Where) -> str:
    """The default branch as a ref: the remote's HEAD (else its main/master) in remote mode,
    main or master in local mode. InvalidInput (exit 2) when there is none."""
    remote = coord.store.remote
    if remote:
        said = coord.git.run("symbolic-ref", "-q", f"refs/remotes/{remote}/HEAD")
        if said.returncode == 0 and said.stdout.strip():
            return said.stdout.decode().strip()
        candidates = [
            f"refs/remotes/{remote}/main",
            f"refs/remotes/{remote}/master",
            "refs/heads/main",
            "refs/heads/master",
        ]
    else:
        candidates = ["refs/heads/main", "refs/heads/master"]
    for ref in candidates:
        found = coord.git.read_object(ref)
        if found is not None and found[1] == "commit":
            return ref
    where = f"the remote {remote!r}" if remote else "this repository"
    raise InvalidInput(
        f"cannot tell the default branch of {where}: no {' or '.join(candidates[:2])}.",
        hint="name it: gitcoord release --merged REF (e.g. origin/trunk).",
    )


def resolve_commit(coord: Coordinator, name: str) -> tuple[str, str]:
    """(ref as given, commit id) for a user's REF; exit 2 when it names no commit here."""
    if not name or name.startswith("-") or any(c in name for c in "\n\r\t\0 "):
        raise InvalidInput(f"{name!r} is not a ref or commit.")
    found = coord.git.read_object(f"{name}^{{commit}}")
    if found is None:
        raise InvalidInput(
            f"{name!r} names no commit in this repository.",
            hint="give a branch (main, origin/main) or a commit; fetch it first if it is only on the remote.",
        )
    return name, found[0]


def _short(ref: str) -> str:
    for prefix in ("refs/heads/", "refs/remotes/"):
        if ref.startswith(prefix):
            return ref[len(prefix) :]
    return ref


def agent_branches(coord: Where, agents: Sequence[Position]) -> list[dict[str, str]]:
    """Each agent's branch: {agent, branch, ref, commit}; agents without one are left out."""
    remote = coord.store.remote
    found: list[dict[str, str]] = []
    for record in sorted(agents, key=lambda a: a.name):
        if not record.branch and not record.head:
            continue
        refs = [f"refs/remotes/{remote}/{record.branch}"] if remote and record.branch else []
        refs += [f"refs/heads/{record.branch}"] if record.branch else []
        refs += [record.head] if record.head else []
        for ref in refs:
            obj = coord.git.read_object(f"{ref}^{{commit}}")
            if obj is not None:
                found.append(
                    {
                        "agent": record.name,
                        "branch": record.branch or record.head[:12],
                        "ref": _short(ref),
                        "full_ref": ref,
                        "commit": obj[0],
                    }
                )
                break
    return found


# -- asking git ---------------------------------------------------------------------------------


class _Cache:
    """git's answers for pairs of commits, which never change, in one JSON file."""

    def __init__(self, root: Path | None) -> None:
        self.path = root / CACHE_FILE if root is not None else None
        self.data: dict[str, Any] = {}
        self.dirty = False
        if self.path is not None:
            try:
                loaded = json.loads(self.path.read_text(encoding="utf-8"))
                self.data = loaded if isinstance(loaded, dict) else {}
            except (OSError, ValueError):
                self.data = {}

    def get(self, key: str) -> Any:
        return self.data.get(key)

    def put(self, key: str, value: Any) -> None:
        self.data[key] = value
        self.dirty = True

    def save(self) -> None:
        if self.path is None or not self.dirty:
            return
        items = list(self.data.items())[-_CACHE_LIMIT:]
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            tmp = self.path.with_name(f".{self.path.name}.{os.getpid()}")
            tmp.write_text(json.dumps(dict(items)), encoding="utf-8")
            os.replace(tmp, self.path)
        except OSError:
            pass  # a cache we cannot write only costs time


def _changed(coord: Where, cache: _Cache, base: str, tip: str) -> list[str]:
    """Paths `tip` changed since it left `base` (three-dot diff: from their merge base)."""
    key = f"changed {base} {tip}"
    hit = cache.get(key)
    if isinstance(hit, list):
        return hit
    res = coord.git.run("diff", "--name-only", "--no-renames", "-z", f"{base}...{tip}")
    paths = (
        sorted(p for p in res.stdout.decode(errors="replace").split("\0") if p) if res.returncode == 0 else []
    )
    cache.put(key, paths)
    return paths


def _merge(coord: Where, cache: _Cache, one: str, two: str) -> list[str] | None:
    """Paths that conflict when merging `one` and `two`; None when git cannot merge them at all."""
    first, second = sorted((one, two))
    key = f"merge {first} {second}"
    hit = cache.get(key)
    if isinstance(hit, list):
        return hit
    res = coord.git.run("merge-tree", "--write-tree", "--name-only", "--no-messages", "-z", first, second)
    if res.returncode not in (0, 1):  # unrelated histories, a missing object...
        return None
    # Output: the tree id, then (exit 1) each conflicted path, NUL-terminated.
    names = [p for p in res.stdout.decode(errors="replace").split("\0")[1:] if p]
    paths = sorted(set(names)) if res.returncode == 1 else []
    cache.put(key, paths)
    return paths


# -- the radar ----------------------------------------------------------------------------------


def radar(coord: Coordinator, *, fetch: bool = False, only: str | None = None) -> dict[str, Any]:
    """Every coming conflict between agents' branches and with the default branch.

    `only` limits the pairs to those of one agent (what `start` and `check-in` tell it).
    Returns {default, branches: [...], pairs: [{a, b, conflicts, overlap, next}]}.
    """
    from gitcoord.records import Agent

    if fetch and coord.store.remote:
        _fetch_branches(coord)
    snap = coord.snapshot(fetch=fetch)
    return radar_of(coord, lambda: snap.records(Agent), lambda: _holders(coord, snap), only=only)


def radar_of(
    coord: Where,
    agents: Callable[[], Sequence[Position]],
    holders: Callable[[], list[Any]],
    *,
    only: str | None = None,
) -> dict[str, Any]:
    """`radar` over what `agents` gives (records, or the lean reads' plain views) and the live
    claims `holders` gives (anything with `agent` and `resource`), each read when needed."""
    try:
        default_ref = default_branch_ref(coord)
    except InvalidInput:
        return {"default": None, "branches": [], "pairs": []}
    default_commit = coord.git.read_object(f"{default_ref}^{{commit}}")
    assert default_commit is not None
    base = default_commit[0]
    branches = [b for b in agent_branches(coord, agents()) if b["commit"] != base]
    cache = _Cache(coord.common_dir / _cache_dir())
    changed = {b["agent"]: _changed(coord, cache, base, b["commit"]) for b in branches}
    _write_index(coord, default_ref, base, branches, changed)
    claims = holders()
    default = {"agent": "", "branch": _short(default_ref), "ref": _short(default_ref), "commit": base}
    pairs: list[dict[str, Any]] = []
    for b in branches:
        if only and b["agent"] != only:
            continue
        if not changed[b["agent"]]:
            continue
        clash = _merge(coord, cache, base, b["commit"])
        if clash:
            pairs.append(_pair(default, b, clash, [], claims))
    for one, two in combinations(branches, 2):
        if only and only not in (one["agent"], two["agent"]):
            continue
        common = sorted(set(changed[one["agent"]]) & set(changed[two["agent"]]))
        if not common or one["commit"] == two["commit"]:
            continue
        clash = _merge(coord, cache, one["commit"], two["commit"]) or []
        overlap = [p for p in common if p not in clash]
        pairs.append(_pair(one, two, clash, overlap, claims))
    cache.save()
    return {
        "default": _short(default_ref),
        "branches": [{k: b[k] for k in ("agent", "branch", "ref", "commit")} for b in branches],
        "pairs": pairs,
    }


def _write_index(
    coord: Where,
    default_ref: str,
    base: str,
    branches: list[dict[str, str]],
    changed: dict[str, list[str]],
) -> None:
    """What the editor guard reads (gitcoord.conflicts_index): each branch's changed paths."""
    from gitcoord.conflicts_index import write_index

    entries = [
        {k: b[k] for k in ("agent", "branch", "commit")}
        | {"ref": b["full_ref"], "paths": changed[b["agent"]]}
        for b in branches
        if changed[b["agent"]]
    ]
    write_index(coord.common_dir, {"ref": default_ref, "commit": base}, entries)


def _cache_dir() -> str:
    from gitcoord.constants import CACHE_DIR

    return CACHE_DIR


def _fetch_branches(coord: Coordinator) -> None:
    """Bring the remote's branches in (remote mode): pushed work is what the radar compares."""
    remote = coord.store.remote
    assert remote
    coord.git.run(
        "fetch",
        "--no-tags",
        "--no-write-fetch-head",
        "--quiet",
        remote,
        f"+refs/heads/*:refs/remotes/{remote}/*",
        timeout=coord.store.remote_timeout,
        env={"GIT_TERMINAL_PROMPT": "0"},
    )


def _holders(coord: Coordinator, snap: Any) -> list[Any]:
    from gitcoord.records import Claim

    now = coord.store.clock()
    return coord.live_claims(snap, now) if snap.exists else [c for c in snap.records(Claim)]


def _pair(
    one: dict[str, str], two: dict[str, str], clash: list[str], overlap: list[str], claims: list[Any]
) -> dict[str, Any]:
    return {
        "a": one["agent"],
        "a_branch": one["branch"],
        "b": two["agent"],
        "b_branch": two["branch"],
        "conflicts": clash,
        "overlap": overlap,
        "next": _next_step(one, two, clash, overlap, claims),
    }


def _next_step(
    one: dict[str, str], two: dict[str, str], clash: list[str], overlap: list[str], claims: list[Any]
) -> str:
    """Who should rebase on whom: the side that holds no claim on the paths rebases on the holder."""
    if not one["agent"]:  # the default branch moved under an agent's branch
        return (
            f"{two['agent']}: rebase {two['branch']} on {one['branch']} and resolve "
            f"{', '.join(clash)} before merging."
        )
    paths = clash or overlap

    def holds(agent: str) -> bool:
        return any(c.agent == agent and _covers(c.resource, p) for c in claims for p in paths)

    one_holds, two_holds = holds(one["agent"]), holds(two["agent"])
    # Without a claim to decide, a stable choice: the later name rebases.
    swap = (two_holds and not one_holds) or (one_holds == two_holds and one["agent"] > two["agent"])
    keeper, mover = (two, one) if swap else (one, two)
    if clash:
        return (
            f"{mover['agent']} should rebase {mover['branch']} on {keeper['branch']} once it lands "
            f"(or agree first: gitcoord request-help --to {keeper['agent']} --resource {clash[0]} ...)."
        )
    both = f"{mover['agent']} and {keeper['agent']}"
    return f"no conflict yet; {both} both change {', '.join(overlap)}: talk first."


def _covers(resource: str, path: str) -> bool:
    from gitcoord.overlap import covers
    from gitcoord.resources import parse_resource

    return covers(parse_resource(resource), path)


def mine(report: dict[str, Any], agent: str) -> list[dict[str, Any]]:
    """The coming conflicts of one agent: [{path, with, branch, next}], for its context."""
    out: list[dict[str, Any]] = []
    for pair in report.get("pairs", []):
        if agent not in (pair["a"], pair["b"]) or not pair["conflicts"]:
            continue
        other, branch = (pair["b"], pair["b_branch"]) if pair["a"] == agent else (pair["a"], pair["a_branch"])
        for path in pair["conflicts"]:
            out.append(
                {"path": path, "with": other or "(default branch)", "branch": branch, "next": pair["next"]}
            )
    return out


def for_agent(coord: Coordinator, agent: str) -> list[dict[str, Any]]:
    """What `start` and `check-in` tell an agent: its files that would conflict, with whose branch.

    In remote mode it fetches the remote's branches first (one fetch): pushed work is what counts.

    Never fails the command it is part of: a radar git cannot answer is left out ([]).
    """
    from gitcoord.errors import GitcoordError

    try:
        if coord.store.remote:
            _fetch_branches(coord)  # the others' pushed work; a failed fetch leaves what is here
        return mine(radar(coord, only=agent), agent)[:CONTEXT_LIMIT]
    except GitcoordError:
        return []


def for_status(coord: Coordinator) -> list[dict[str, Any]]:
    """The coming conflicts as rows for `status` ([] when git cannot answer)."""
    from gitcoord.errors import GitcoordError

    try:
        report = radar(coord)
    except GitcoordError:
        return []
    return status_rows(report)


def status_rows(report: dict[str, Any]) -> list[dict[str, Any]]:
    """The radar's pairs as `status` shows them."""
    return [
        {
            "between": f"{p['a'] or p['a_branch']} x {p['b']}",
            "conflicts": ", ".join(p["conflicts"]),
            "overlap": ", ".join(p["overlap"]),
            "next": p["next"],
        }
        for p in report["pairs"]
    ]
