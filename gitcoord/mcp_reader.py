"""The MCP server's one `git cat-file --batch`, kept for its life instead of one per call.

A running `cat-file --batch` answers for objects written after it started (git looks a loose
object up by its path on every request and rescans the packs when one is missing) and resolves
a ref name afresh on each request, so a reader kept between calls sees exactly what a new one
would: it holds no coordination state (tests/test_mcp_reader.py). One call at a time uses it;
a call that overlaps another (a `claim` waiting) starts its own, as the CLI does.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import contextmanager

from gitcoord.git import CatFile, Git


class KeptReader:
    def __init__(self) -> None:
        self._reader: CatFile | None = None
        self._lock = threading.Lock()

    @contextmanager
    def lent_to(self, git: Git) -> Iterator[None]:
        """While the block runs, `git` reads through the kept reader, if no other call has it."""
        if not self._lock.acquire(blocking=False):
            yield
            return
        try:
            if self._reader is None or not self._reader.alive():  # killed, or ended by a failed read
                if self._reader is not None:
                    self._reader.close()
                self._reader = CatFile(git.cwd)
            git.lend_reader(self._reader)
            yield
        finally:
            self._lock.release()

    def close(self) -> None:
        if self._reader is not None:
            self._reader.close()
            self._reader = None
