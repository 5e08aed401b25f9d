"""post-merge: release the until-merged claims whose work this merge landed (`release --merged`).

Runs after every local merge (and `git pull`). It judges every agent's claims, not only the
merger's: a merge proves whose work landed, and nobody in particular is acting. A cheap look
first (the lean claim reader): without an until-merged or auto claim it costs no import of the
Coordinator. It never fails the merge, which is already done: a problem is one warning line.
"""

from __future__ import annotations

import sys

from gitcoord.errors import GitcoordError
from gitcoord.hooks.lean import LeanRepo


def run_post_merge(repo: LeanRepo, mode: str) -> int:
    if mode == "off" or repo.top is None:
        return 0
    try:
        candidates = [data for data in repo.records("claims") if data.get("until_merged") or data.get("auto")]
        if not candidates:
            return 0
        from gitcoord.hooks.run import with_site

        with_site()
        from gitcoord.coordinator import Coordinator
        from gitcoord.merged import release_merged

        with Coordinator(repo.top) as coord:
            result = release_merged(coord, everyone=True)
    except GitcoordError as exc:
        sys.stderr.write(
            f"gitcoord: post-merge: claims not released: {exc.render()}\n"
            "hint: run `gitcoord release --merged` when it is fixed.\n"
        )
        return 0
    for r in result["released"]:
        sys.stderr.write(
            f"gitcoord: released {r['resource']} ({r['id']}, {r['agent']}): "
            f"its work landed on {result['ref']}.\n"
        )
    return 0
