"""The process that ran this hook: where pre-commit and prepare-commit-msg of one `git commit` meet.

In-process that is our parent. A call served by the warm server is a child of the server, so the
server's child says whose parent to use instead (`gitcoord.warm.child`): the caller's, which is the
process an in-process run would have had as its parent. Stdlib only, like every hook module.
"""

from __future__ import annotations

import os

_caller_parent: list[int] = []  # set once, in a served call's child, before the call runs


def parent_pid() -> int:
    """Our parent's pid, as the call would see it in-process."""
    return _caller_parent[0] if _caller_parent else os.getppid()


def take_callers_parent(pid: int) -> None:
    """A served call's child: the caller's parent is the call's (`warm.child`)."""
    _caller_parent[:] = [pid]
