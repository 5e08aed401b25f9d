"""The coord branch's history as `gitcoord log` shows it: one entry per commit, its trailers parsed.

`Store.history` picks the tip (the remote's, fetched, or the local copy) and reads from here.
An entry holds the commit, its time, author and subject, and each Coord-* trailer by its name
in lower case without the prefix (`action`, `agent`, `rev`...), `records` as a list.
"""

from __future__ import annotations

import heapq
from collections.abc import Iterator, Sequence
from datetime import datetime
from typing import Any

from gitcoord.errors import InvalidInput
from gitcoord.git import Git, parse_trailers


def read_history(
    git: Git, tips: Sequence[str], *, since: str | None = None, limit: int | None = None
) -> Iterator[dict[str, Any]]:
    """Commits reachable from any of `tips` (the shared ref's and each agent's own), newest first,
    with their trailers parsed: each ref's chain in git's order (a child before its parent), the
    chains merged by commit time."""
    args = ["log", "-z", "--format=%H%x1f%cI%x1f%an <%ae>%x1f%B", *tips]
    if since:
        args.append(f"--since={since}")
    if limit:
        args.append(f"-n{limit}")
    res = git.run(*args)
    if res.returncode != 0:
        raise InvalidInput(f"cannot read the coord history: {res.stderr.strip()}")
    entries = []
    for item in res.stdout.decode(errors="replace").split("\0"):
        if not item.strip():
            continue
        sha, when, author, body = item.lstrip("\n").split("\x1f", 3)
        entries.append(
            {
                "commit": sha,
                "time": when,
                "author": author,
                "subject": body.split("\n", 1)[0],
                **_trailers(body),
            }
        )
    if len(tips) > 1:
        # git walks each ref's chain child before parent, but interleaves the refs by date alone.
        # Merge the chains, each kept in git's order (machines' clocks disagree, so a child may be
        # dated before its parent), taking the newest head; commit times have whole seconds: within
        # one, a write on an agent's own ref follows the shared write whose revision it read.
        chains: dict[str, list[dict[str, Any]]] = {}
        for entry in entries:
            chains.setdefault(entry.get("ref", ""), []).append(entry)
        entries = list(heapq.merge(*chains.values(), key=_order, reverse=True))
    yield from entries


def _order(entry: dict[str, Any]) -> tuple[datetime, int, bool]:
    rev = entry.get("rev", "")
    return datetime.fromisoformat(entry["time"]), int(rev) if rev.isdigit() else -1, "ref" in entry


def _trailers(body: str) -> dict[str, Any]:
    """The Coord-* trailers of a coord commit as `log` shows them: `records` a list, the rest text."""
    out: dict[str, Any] = {}
    for key, values in parse_trailers(body).items():
        name = key[len("Coord-") :].lower()
        out[name] = (
            [v.strip() for v in values[-1].split(",") if v.strip()] if name == "records" else values[-1]
        )
    return out
