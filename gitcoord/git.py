"""The one place gitcoord talks to git, over GitPython.

Everything else calls the small named functions here. Commands run through
GitPython's `Git.execute`; objects are written in-process through GitPython's
object database (no process per blob or tree), and read back through one
`git cat-file --batch` process per `Git` instance.
"""

from __future__ import annotations

import os
import tempfile
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from io import BytesIO
from pathlib import Path
from typing import Any, BinaryIO

from git.cmd import Git as _GitCmd
from git.objects.fun import tree_entries_from_data, tree_to_stream
from gitdb.base import IStream
from gitdb.db.loose import LooseObjectDB

from gitcoord.errors import GitcoordError, InvalidInput, Unavailable

ZERO_OID = "0" * 40
TREE_MODE = 0o040000
BLOB_MODE = 0o100644

# Variables git sets for hooks that would point our own git calls at the wrong
# place once we run from another directory (the pre-commit habit).
_SCRUBBED_ENV = ("GIT_DIR", "GIT_WORK_TREE", "GIT_PREFIX", "GIT_COMMON_DIR")


class GitFailed(GitcoordError):
    """A git command failed; the message renders the command and what it said."""

    def __init__(self, args: Sequence[str], returncode: int, stdout: bytes, stderr: str) -> None:
        self.args_ = list(args)
        self.returncode = returncode
        self.stdout = stdout
        self.stderr = stderr
        detail = stderr.strip() or stdout.decode(errors="replace").strip()
        super().__init__(f"git {' '.join(args)} failed with exit code {returncode}: {detail}")


@dataclass(frozen=True)
class Result:
    returncode: int
    stdout: bytes
    stderr: str


@dataclass(frozen=True)
class TreeEntry:
    mode: int
    sha: str

    @property
    def is_tree(self) -> bool:
        return self.mode == TREE_MODE


def scrub_hook_env() -> None:
    """Drop the GIT_* variables a hook inherits that would misdirect our git calls."""
    for name in _SCRUBBED_ENV:
        os.environ.pop(name, None)


@dataclass
class Git:
    """Git commands for one working directory (or bare repository)."""

    cwd: Path
    _cmd: _GitCmd = field(init=False, repr=False)
    _batch: Any = field(default=None, init=False, repr=False)
    _odb: LooseObjectDB | None = field(default=None, init=False, repr=False)
    _dirs: tuple[Path, Path, Path | None] | None = field(default=None, init=False, repr=False)

    def __post_init__(self) -> None:
        self._cmd = _GitCmd(str(self.cwd))

    # -- running commands -------------------------------------------------

    def run(
        self,
        *args: str,
        input: bytes | None = None,
        timeout: float | None = None,
        env: dict[str, str] | None = None,
    ) -> Result:
        """Run `git ARGS`; never raises for a non-zero exit (see `check`)."""
        stdin: BinaryIO | None = None
        if input is not None:
            # A file, not a pipe: GitPython hands stdin straight to the child process.
            stdin = tempfile.TemporaryFile()  # noqa: SIM115 - closed in the finally below
            stdin.write(input)
            stdin.seek(0)
        try:
            answer: Any = self._cmd.execute(
                ["git", *args],
                istream=stdin,
                with_extended_output=True,
                with_exceptions=False,
                stdout_as_string=False,
                strip_newline_in_stdout=False,
                kill_after_timeout=timeout,
                env=env,
            )
            status, out, err = answer
        except FileNotFoundError as exc:
            raise Unavailable("git is not installed or not on PATH.") from exc
        finally:
            if stdin is not None:
                stdin.close()
        return Result(int(status or 0), bytes(out or b""), str(err or ""))

    def check(self, *args: str, input: bytes | None = None, timeout: float | None = None,
              env: dict[str, str] | None = None) -> bytes:
        """Run `git ARGS` and return stdout; raise `GitFailed` on a non-zero exit."""
        res = self.run(*args, input=input, timeout=timeout, env=env)
        if res.returncode != 0:
            raise GitFailed(args, res.returncode, res.stdout, res.stderr)
        return res.stdout

    def text(self, *args: str) -> str:
        return self.check(*args).decode().strip()

    # -- repository facts --------------------------------------------------

    def repo_dirs(self) -> tuple[Path, Path, Path | None]:
        """(git dir, common dir, top-level work tree or None for a bare repo)."""
        if self._dirs is None:
            self._dirs = self._ask_repo_dirs()
        return self._dirs

    def _ask_repo_dirs(self) -> tuple[Path, Path, Path | None]:
        res = self.run("rev-parse", "--path-format=absolute", "--git-dir", "--git-common-dir",
                       "--is-bare-repository", "--show-toplevel")
        lines = res.stdout.decode().splitlines()
        # In a bare repository --show-toplevel fails after the first three answers.
        if len(lines) < 3 or (res.returncode != 0 and lines[2] != "true"):
            raise InvalidInput(f"{self.cwd} is not inside a git repository.",
                               hint="run gitcoord inside a clone or worktree, or `git init` first.")
        top = Path(lines[3]) if lines[2] == "false" and len(lines) > 3 else None
        return Path(lines[0]), Path(lines[1]), top

    def config_map(self) -> dict[str, list[str]]:
        """Every config key (lower-cased as git reports it) with all its values."""
        out = self.run("config", "-z", "--list").stdout.decode(errors="replace")
        values: dict[str, list[str]] = {}
        for item in out.split("\0"):
            if not item:
                continue
            key, _, value = item.partition("\n")
            values.setdefault(key, []).append(value)
        return values

    # -- reading objects -----------------------------------------------------

    def _batch_proc(self) -> Any:
        if self._batch is None:
            self._batch = self._cmd.execute(
                ["git", "cat-file", "--batch"], istream=-1, as_process=True,
                universal_newlines=False)
        return self._batch

    def read_objects(self, names: Sequence[str]) -> list[tuple[str, str, bytes] | None]:
        """Read objects (shas or revisions) through one cat-file process.

        Returns (sha, type, data) per name, or None where the name is missing.
        Requests go out in chunks so neither pipe can fill up and stall.
        """
        proc = self._batch_proc()
        results: list[tuple[str, str, bytes] | None] = []
        for start in range(0, len(names), 256):
            chunk = names[start:start + 256]
            proc.stdin.write(b"".join(n.encode() + b"\n" for n in chunk))
            proc.stdin.flush()
            for _ in chunk:
                results.append(_read_batch_answer(proc.stdout))
        return results

    def read_object(self, name: str) -> tuple[str, str, bytes] | None:
        return self.read_objects([name])[0]

    def read_tree(self, sha: str) -> dict[str, TreeEntry]:
        found = self.read_object(sha)
        if found is None or found[1] != "tree":
            raise GitcoordError(f"object {sha} is not a tree.")
        return {name: TreeEntry(mode, binsha.hex())
                for binsha, mode, name in tree_entries_from_data(found[2])}

    def close(self) -> None:
        if self._batch is not None:
            try:
                self._batch.proc.stdin.close()
                self._batch.proc.wait(timeout=5)
            except Exception:
                pass
            self._batch = None

    # -- writing objects -------------------------------------------------------

    def _objects(self) -> LooseObjectDB:
        # Loose objects written in-process (temp file, then rename): no process per
        # object. A writer killed halfway leaves at most a temp file git ignores.
        if self._odb is None:
            objdir = os.environ.get("GIT_OBJECT_DIRECTORY")
            if not objdir:
                objdir = str(self.repo_dirs()[1] / "objects")
            self._odb = LooseObjectDB(objdir)
        return self._odb

    def write_blob(self, data: bytes) -> str:
        return self._store(b"blob", data)

    def write_tree(self, entries: dict[str, TreeEntry]) -> str:
        # git orders tree entries as if directory names ended in '/'.
        def key(item: tuple[str, TreeEntry]) -> bytes:
            name = item[0].encode()
            return name + b"/" if item[1].is_tree else name

        rows = [(bytes.fromhex(e.sha), e.mode, name) for name, e in sorted(entries.items(), key=key)]
        buf = BytesIO()
        tree_to_stream(rows, buf.write)
        return self._store(b"tree", buf.getvalue())

    def _store(self, kind: bytes, data: bytes) -> str:
        istream = self._objects().store(IStream(kind, len(data), BytesIO(data)))
        return str(istream.hexsha.decode() if isinstance(istream.hexsha, bytes) else istream.hexsha)

    def commit_tree(self, tree: str, parents: Iterable[str], message: str) -> str:
        args = ["commit-tree", tree]
        for parent in parents:
            args += ["-p", parent]
        res = self.run(*args, "-F", "-", input=message.encode())
        if res.returncode != 0:
            if "tell me who you are" in res.stderr or "empty ident" in res.stderr:
                raise InvalidInput("git has no identity for commits on this machine.",
                                   hint='set it with git config user.name "..." and user.email "..."')
            raise GitFailed(args, res.returncode, res.stdout, res.stderr)
        return res.stdout.decode().strip()


def _read_batch_answer(stream: Any) -> tuple[str, str, bytes] | None:
    header = stream.readline().decode().rstrip("\n")
    parts = header.split(" ")
    if len(parts) != 3:  # "<name> missing" or "<name> ambiguous"
        return None
    sha, kind, size = parts
    data = stream.read(int(size))
    stream.read(1)  # the newline after the contents
    return sha, kind, data
