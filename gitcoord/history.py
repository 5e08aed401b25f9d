"""The coord branch's history as `gitcoord log` shows it: one entry per commit, its trailers parsed.

`Store.history` picks the tip (the remote's, fetched, or the local copy) and reads from here.
An entry holds the commit, its time, author and subject, and each Coord-* trailer by its name
in lower case without the prefix (`action`, `agent`, `rev`...), `records` as a list.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from gitcoord.errors import InvalidInput
from gitcoord.git import Git, parse_trailers


def read_history(
    git: Git, tip: str, *, since: str | None = None, limit: int | None = None
) -> Iterator[dict[str, Any]]:
    """Commits reachable from `tip`, newest first, with their trailers parsed."""
    args = ["log", "-z", "--format=%H%x1f%cI%x1f%an <%ae>%x1f%B", tip]
    if since:
        args.append(f"--since={since}")
    if limit:
        args.append(f"-n{limit}")
    res = git.run(*args)
    if res.returncode != 0:
        raise InvalidInput(f"cannot read the coord history: {res.stderr.strip()}")
    for item in res.stdout.decode(errors="replace").split("\0"):
        if not item.strip():
            continue
        sha, when, author, body = item.lstrip("\n").split("\x1f", 3)
        yield {
            "commit": sha,
            "time": when,
            "author": author,
            "subject": body.split("\n", 1)[0],
            **_trailers(body),
        }


def _trailers(body: str) -> dict[str, Any]:
    """The Coord-* trailers of a coord commit as `log` shows them: `records` a list, the rest text."""
    out: dict[str, Any] = {}
    for key, values in parse_trailers(body).items():
        name = key[len("Coord-") :].lower()
        out[name] = (
            [v.strip() for v in values[-1].split(",") if v.strip()] if name == "records" else values[-1]
        )
    return out
