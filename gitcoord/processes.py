"""Ending a process with everything it started: what a timed-out git leaves behind must not land.

Stdlib only (the hooks' path imports `gitcoord.git`). Linux's /proc names each process's
children; elsewhere only the process itself is killed.
"""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
from pathlib import Path


def _stop_tree(pid: int) -> list[int]:
    """Stop `pid` and every process under it, parents before children; all of them, `pid` first.

    Each process is stopped before its children are read from /proc (while it still names them),
    so none starts another or acts on a child's death meanwhile. A push over file:// runs
    `sh -c git-receive-pack`: the receive-pack that would land the write is a grandchild of git."""
    found = [pid]
    for parent in found:
        with contextlib.suppress(OSError):
            os.kill(parent, signal.SIGSTOP)
        for task in Path(f"/proc/{parent}/task").glob("*"):
            with contextlib.suppress(OSError, ValueError):
                found += [int(child) for child in (task / "children").read_text().split()]
    return found


def kill_tree(proc: subprocess.Popen[bytes]) -> None:
    """Kill git and every process it started (an ssh or a receive-pack that hangs would hold on
    otherwise, and could still land the write after we said it did not).

    The whole tree is stopped first: a git whose remote side died before it did would otherwise
    go on, update its tracking ref and be killed holding `refs/remotes/...lock`, which every later
    fetch then meets."""
    for pid in _stop_tree(proc.pid)[1:]:
        with contextlib.suppress(OSError):
            os.kill(pid, signal.SIGKILL)
    proc.kill()
    proc.wait()
