"""What the MCP server keeps between calls, none of it coordination state: its one
`git cat-file --batch` (`KeptReader`), the repository's directories and git's config
(`KeptWorkspace`, re-checked by stats at every call), and the mirror moves it has not waited
for yet (`Mirrors`).

The reader is kept for the server's life instead of one per call.

A running `cat-file --batch` answers for objects written after it started (git looks a loose
object up by its path on every request and rescans the packs when one is missing) and resolves
a ref name afresh on each request, so a reader kept between calls sees exactly what a new one
would: it holds no coordination state (tests/test_mcp_reader.py). One call at a time uses it;
a call that overlaps another (a `claim` waiting) starts its own, as the CLI does. A repository
removed and cloned again at the same path is another repository: the reader, sitting in the
deleted one, would answer "missing" for everything, so it is replaced (tests/test_review3.py).
"""

from __future__ import annotations

import logging
import os
import queue
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

from gitcoord.errors import GitcoordError
from gitcoord.git import CatFile, Git
from gitcoord.kept import Mark, config_marks, dir_marks, keepable, layout, settled
from gitcoord.workspace import Workspace, read_git_config, repo_dirs

log = logging.getLogger(__name__)


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


class Mirrors:
    """The mirror of the coord branch (`refs/heads/<branch>`, moved after a push or a fetch in
    remote mode so that `git log coord` shows the trail) is moved by a worker thread of its own:
    the call's answer does not wait for its `update-ref`. Nothing reads by that ref while the
    tracking ref it follows exists, and the move is a compare-and-swap like any other. The
    server's next call, and its end, wait for every move handed over before. One worker, kept
    while the server runs, takes the moves in order: starting a thread per move cost the answer
    about half a millisecond. The same worker saves the writer's turns file (`later`), which
    only the next write reads: the answer waited about a millisecond for it.
    """

    def __init__(self) -> None:
        self._moves: queue.Queue[Callable[[], object] | None] = queue.Queue()
        self._worker: threading.Thread | None = None
        self._lock = threading.Lock()

    def runner(self, git: Git) -> Callable[..., object]:
        """What `Store.mirror_run` calls: `git.run(ARGS)` handed to the worker, waited for by `wait`."""

        def run(*args: str) -> None:
            self.later(lambda: git.run(*args))

        return run

    def later(self, job: Callable[[], object]) -> None:
        """Run `job` after the answer, in order with the moves (`Store.later`: the turns file)."""
        self._moves.put(job)
        with self._lock:
            if self._worker is None or not self._worker.is_alive():
                self._worker = threading.Thread(target=self._work, name="gitcoord-mirror", daemon=True)
                self._worker.start()

    def _work(self) -> None:
        while (job := self._moves.get()) is not None:
            try:
                job()
            except GitcoordError as exc:  # the repository went away meanwhile: nothing to mirror
                log.debug("the coord branch's mirror was not moved: %s", exc)
            except Exception:  # git could not start (its directory is a file now, no more processes):
                # the worker carries on, or the moves queued behind this one would never be made
                log.warning("the coord branch's mirror was not moved", exc_info=True)
            finally:  # even a move that failed otherwise must not leave a waiter hanging
                self._moves.task_done()

    def wait(self) -> None:
        self._moves.join()

    def close(self) -> None:
        """Wait for the moves handed over, then end the worker."""
        self.wait()
        with self._lock:
            worker, self._worker = self._worker, None
        if worker is not None and worker.is_alive():
            self._moves.put(None)
            worker.join()


class KeptWorkspace:
    """Where the repository is, found once with `rev-parse`; git's config, parsed once; both re-checked
    by a few stats at every call, and found or read again as soon as a stat differs.

    Nothing the coordination reads is kept: the team's `.coord/config.toml` is read at every call,
    the records through the kept reader. What is kept is what git itself would answer again the
    same way: the directories `rev-parse` found, as long as the working directory, each `.git` from
    it up to the top level (a directory, or a worktree's file naming its git dir), the git dir, its
    `commondir` file and the common dir are the same (`kept.dir_marks`: kind, device, inode, owner, and
    for a file its size and times);
    and `git config -z --list`, as long as every file git reads its config from is the same
    (`kept.config_files`), unchanged since a moment before it was read (`RACY_SECONDS`), and includes
    none (an `includeIf` can depend on the checked-out branch).
    """

    def __init__(self, repo: Path) -> None:
        self.repo = repo
        self._found: tuple[Path, Path, Path, Path | None] | None = None  # cwd, git dir, common dir, top
        self._marks: tuple[Mark, ...] = ()
        self._config: dict[str, list[str]] | None = None
        self._config_marks: tuple[Mark, ...] = ()
        self._layout: tuple[list[str] | None, ...] = ()
        self._lock = threading.Lock()

    def open(self) -> Workspace:
        """This call's workspace: the kept directories when their stats still agree, else found again."""
        with self._lock:
            found = self._found
            if found is None or dir_marks(*found) != self._marks:
                workspace = self._discover()
            else:
                workspace = Workspace.open_found(*found, gitconfig=self._git_config(found))
                if layout(workspace.gitconfig) != self._layout:  # core.worktree / core.bare edited
                    workspace = self._discover()
            return workspace

    def _discover(self) -> Workspace:
        """`Workspace.open`, as an in-process call does (a repository gone raises its clear error)."""
        self._found, self._config = None, None
        cwd = self.repo.resolve()
        found = (cwd, *repo_dirs(cwd))
        workspace = Workspace.open_found(*found, gitconfig=self._git_config(found))
        self._found, self._marks = found, dir_marks(*found)
        self._layout = layout(workspace.gitconfig)
        return workspace

    def _git_config(self, found: tuple[Path, Path, Path, Path | None]) -> dict[str, list[str]]:
        """The kept config when no file it came from changed, else read afresh; kept for the next
        call only when every file was last changed `RACY_SECONDS` or more before the read began."""
        cwd, git_dir, common_dir, _ = found
        marks = config_marks(git_dir, common_dir)
        if self._config is not None and marks == self._config_marks:
            return self._config
        started = time.time_ns()
        values = read_git_config(cwd)
        if settled(marks, started) and keepable(values):
            self._config, self._config_marks = values, marks
        else:
            self._config, self._config_marks = None, ()
        return values
