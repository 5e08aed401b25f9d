"""Ending a process with everything it started: what a timed-out git leaves behind must not land.

Stdlib only (the hooks' path imports `gitcoord.git`). Linux's /proc names each process's
children; elsewhere only the process itself is killed.
"""

from __future__ import annotations

import contextlib
import os
import subprocess
from pathlib import Path


def _descendants(pid: int) -> list[int]:
    """`pid` and every process under it, read from /proc before anything is signalled (while
    their parents still name them). A push over file:// runs `sh -c git-receive-pack`: the
    receive-pack that would land the write is a grandchild of git."""
    found = [pid]
    for parent in found:
        for task in Path(f"/proc/{parent}/task").glob("*"):
            with contextlib.suppress(OSError, ValueError):
                found += [int(child) for child in (task / "children").read_text().split()]
    return found


def kill_tree(proc: subprocess.Popen[bytes]) -> None:
    """Kill git and every process it started (an ssh or a receive-pack that hangs would hold on
    otherwise, and could still land the write after we said it did not)."""
    for pid in _descendants(proc.pid)[1:]:
        with contextlib.suppress(OSError):
            os.kill(pid, 9)
    proc.kill()
    proc.wait()
