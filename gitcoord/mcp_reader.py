"""The MCP server's one `git cat-file --batch`, kept for its life instead of one per call.

A running `cat-file --batch` answers for objects written after it started (git looks a loose
object up by its path on every request and rescans the packs when one is missing) and resolves
a ref name afresh on each request, so a reader kept between calls sees exactly what a new one
would: it holds no coordination state (tests/test_mcp_reader.py). One call at a time uses it;
a call that overlaps another (a `claim` waiting) starts its own, as the CLI does. A repository
removed and cloned again at the same path is another repository: the reader, sitting in the
deleted one, would answer "missing" for everything, so it is replaced (tests/test_review3.py).
"""

from __future__ import annotations

import os
import threading
from collections.abc import Iterator
from contextlib import contextmanager

from gitcoord.git import CatFile, Git


class KeptReader:
    def __init__(self) -> None:
        self._reader: CatFile | None = None
        self._where: tuple[object, ...] = ()  # the directories it was started for (`_identity`)
        self._lock = threading.Lock()

    @contextmanager
    def lent_to(self, git: Git) -> Iterator[None]:
        """While the block runs, `git` reads through the kept reader, if no other call has it."""
        if not self._lock.acquire(blocking=False):
            yield
            return
        try:
            where = _identity(git)
            # Killed, ended by a failed read, or its repository replaced: start another.
            if self._reader is None or not self._reader.alive() or where != self._where:
                self.close()
                self._reader, self._where = CatFile(git.cwd), where
            git.lend_reader(self._reader)
            yield
        finally:
            self._lock.release()

    def close(self) -> None:
        if self._reader is not None:
            self._reader.close()
            self._reader = None


def _identity(git: Git) -> tuple[object, ...]:
    """Path, device and inode of the working directory and the objects directory (two stats)."""
    found: list[object] = []
    for path in (git.cwd, git.objects_dir):
        try:
            info = os.stat(path) if path is not None else None
        except OSError:
            info = None
        found.append((str(path), info.st_dev, info.st_ino) if info else (str(path), None))
    return tuple(found)
