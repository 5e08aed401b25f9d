"""A partial clone's coord records, fetched in one request right after the coord refs are.

A `--filter` clone leaves the coord branch's files behind too, and git would fetch each one
separately when first read (one connection per record), and not at all while the remote is
down. One fetch of exactly what is missing, right after the fetch of the refs, costs a
`rev-list` in a partial clone and nothing in any other.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence

from gitcoord.git import Git

log = logging.getLogger("gitcoord")


def fill_partial_clone(git: Git, remote: str, tips: Sequence[str], timeout: float) -> None:
    """Bring in every object the trees of `tips` name that this clone lacks, while the remote
    answers. A failure here is not an error: the readers fetch lazily, or say that they cannot."""
    for _ in range(3):  # trees first when a tree:0 filter left them out, then their files
        listed = git.run("rev-list", "--objects", "--no-walk", "--missing=print", *tips).stdout
        missing = [line[1:] for line in listed.decode(errors="replace").splitlines() if line.startswith("?")]
        if not missing:
            return
        res = git.run(
            "-c",
            "fetch.negotiationAlgorithm=noop",
            "fetch",
            "--no-tags",
            "--no-write-fetch-head",
            "--recurse-submodules=no",
            "--quiet",
            "--stdin",
            remote,
            input="".join(f"{sha}\n" for sha in missing).encode(),
            timeout=timeout,
            env={"GIT_TERMINAL_PROMPT": "0"},
        )
        if res.returncode != 0:
            log.debug("could not fetch the coord records of the partial clone: %s", res.stderr.strip())
            return
