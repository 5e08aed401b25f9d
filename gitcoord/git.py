"""The one place gitcoord talks to git.

Every git command runs as one plain subprocess (`run_plain`, and `Git.run` for a repository),
and blobs and trees are written in-process as loose objects (the way git writes them: a temp
file, then a rename), with no process per object, in the repository's object format (SHA-1 or
SHA-256). Reads go through one persistent `git cat-file --batch` (`CatFile`). GitPython is not
on these paths: running a command was all it did here, and importing it costs ~80 ms and two
`git version` processes at every call (its import-time `refresh`), more than most calls' git
work (DESIGN, Performance paths).
"""

from __future__ import annotations

import os
import subprocess
import threading
import time
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import IO, NamedTuple

from gitcoord.errors import GitcoordError, InvalidInput, Refused, Unavailable
from gitcoord.processes import kill_tree

TREE_MODE = 0o040000
BLOB_MODE = 0o100644

# The empty tree's id in each object format, by hash name. git knows these objects without
# storing them, so asking `cat-file` for both tells which format a repository uses.
EMPTY_TREES = {
    "sha1": "4b825dc642cb6eb9a060e54bf8d69288fbee4904",
    "sha256": "6ef19b41225c5369f1c104d45d8d85efa9b057b53b14b4b9b939dd74decc5321",
}
HASH_BY_HEX_LENGTH = {40: "sha1", 64: "sha256"}
_HEX_DIGITS = frozenset("0123456789abcdef")

# Variables git sets for hooks that would point our own git calls at the wrong
# place once we run from another directory (the pre-commit habit). GIT_INDEX_FILE
# and the quarantine variables of pre-receive are kept on purpose.
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


class ObjectUnreadable(Unavailable):
    """`git cat-file` died answering for an object: in a partial clone, the promisor remote
    could not supply it (git stops the whole batch then). Never the same as "missing"."""

    def __init__(self, name: str) -> None:
        super().__init__(f"git could not read the object {name}.")
        self.name = name


class Result(NamedTuple):
    returncode: int
    stdout: bytes
    stderr: str

    def check(self, args: Sequence[str]) -> bytes:
        if self.returncode != 0:
            raise GitFailed(args, self.returncode, self.stdout, self.stderr)
        return self.stdout


class TreeEntry(NamedTuple):
    mode: int
    sha: str

    @property
    def is_tree(self) -> bool:
        return self.mode == TREE_MODE


def scrub_hook_env() -> None:
    """Drop the GIT_* variables a hook inherits that would misdirect our git calls."""
    for name in _SCRUBBED_ENV:
        os.environ.pop(name, None)


def hook_env(env: dict[str, str]) -> dict[str, str]:
    """`env` as `scrub_hook_env` leaves it."""
    return {name: value for name, value in env.items() if name not in _SCRUBBED_ENV}


def _spawn_failed(cwd: Path) -> GitcoordError:
    """Why git could not be started: subprocess says FileNotFoundError for a missing
    working directory as well as for a missing program."""
    if not cwd.is_dir():
        return InvalidInput(
            f"the directory {cwd} no longer exists.",
            hint="run gitcoord from inside the repository (or pass -C DIR).",
        )
    return Unavailable("git is not installed or not on PATH.")


def run_plain(
    cwd: Path,
    *args: str,
    input: bytes | None = None,
    timeout: float | None = None,
    env: dict[str, str] | None = None,
) -> Result:
    """`git ARGS` as one subprocess, for the paths that cannot pay for GitPython's import."""
    try:
        res = subprocess.run(
            ["git", *args],
            cwd=cwd,
            input=input,
            capture_output=True,
            timeout=timeout,
            env=dict(os.environ, **env) if env else None,
            check=False,
        )
    except FileNotFoundError as exc:
        raise _spawn_failed(cwd) from exc
    except subprocess.TimeoutExpired:
        return Result(124, b"", f"timed out after {timeout:g}s")
    return Result(res.returncode, res.stdout, res.stderr.decode(errors="replace"))


def is_object_id(text: str) -> bool:
    """Is `text` an object id as git writes it (lower-case hex, SHA-1 or SHA-256 length)?"""
    return len(text) in HASH_BY_HEX_LENGTH and _HEX_DIGITS.issuperset(text)


def is_zero_oid(oid: str) -> bool:
    """Is this the all-zero id git uses for "no object" (40 zeros, or 64 with SHA-256)?"""
    return len(oid) in HASH_BY_HEX_LENGTH and not oid.strip("0")


def parse_tree(data: bytes, tree_id: str) -> dict[str, TreeEntry]:
    """Entries of a raw tree object: `<octal mode> <name>\\0<raw id>`, repeated.

    `tree_id` is the tree's own id: its length says how long the raw ids inside are
    (20 bytes with SHA-1, 32 with SHA-256). Kept here rather than taken from
    GitPython because the hooks read trees too.
    """
    size = len(tree_id) // 2
    entries: dict[str, TreeEntry] = {}
    pos = 0
    while pos < len(data):
        space = data.index(b" ", pos)
        nul = data.index(b"\0", space)
        mode = int(data[pos:space], 8)
        end = nul + 1 + size
        entries[data[space + 1 : nul].decode(errors="surrogateescape")] = TreeEntry(
            mode, data[nul + 1 : end].hex()
        )
        pos = end
    return entries


def parse_trailers(body: str, prefix: str = "Coord-") -> dict[str, list[str]]:
    """The `Key: value` trailer lines of a commit message whose key starts with `prefix`,
    by key, values in order."""
    found: dict[str, list[str]] = {}
    for line in body.splitlines():
        key, sep, value = line.partition(": ")
        if sep and key.startswith(prefix):
            found.setdefault(key, []).append(value.strip())
    return found


class CatFile:
    """One `git cat-file --batch` process answering many reads."""

    def __init__(self, cwd: Path) -> None:
        try:
            self._proc = subprocess.Popen(
                ["git", "cat-file", "--batch"], cwd=cwd, stdin=subprocess.PIPE, stdout=subprocess.PIPE
            )
        except FileNotFoundError as exc:
            raise _spawn_failed(cwd) from exc

    def alive(self) -> bool:
        """Whether the process still runs (a long-lived owner restarts a dead one)."""
        return self._proc.poll() is None

    def read(self, names: Sequence[str]) -> list[tuple[str, str, bytes] | None]:
        """(sha, type, data) per name (a sha or any revision), None where it is missing.

        Requests go out in chunks so neither pipe can fill up and stall.
        """
        stdin, stdout = self._proc.stdin, self._proc.stdout
        assert stdin is not None and stdout is not None
        results: list[tuple[str, str, bytes] | None] = []
        for start in range(0, len(names), 256):
            chunk = names[start : start + 256]
            try:
                stdin.write(b"".join(n.encode() + b"\n" for n in chunk))
                stdin.flush()
            except OSError:  # it died on an earlier read of ours
                raise ObjectUnreadable(chunk[0]) from None
            results += [_read_answer(stdout, name) for name in chunk]
        return results

    def close(self) -> None:
        try:
            if self._proc.stdin:
                self._proc.stdin.close()
            self._proc.wait(timeout=5)
        except (OSError, subprocess.TimeoutExpired):
            self._proc.kill()
        if self._proc.stdout:
            self._proc.stdout.close()


class RefWatch:
    """Notices that a ref moved without running git, for waiters in local mode.

    Git moves a ref by rewriting one of a few files: the loose ref (written
    under a lock and renamed into place, so a new inode), `packed-refs` (when
    the ref is only packed, an update writes a loose one, and packing rewrites
    the file), or `reftable/tables.list` with the reftable backend. Comparing
    their stat results costs a few system calls, so a waiter can look every
    few tens of milliseconds and still never busy-loop or spawn a process.
    A change it reports may be a false alarm (packing, another ref in the
    table); the caller just reads again.
    """

    def __init__(self, common_dir: Path, ref: str) -> None:
        self._paths = (common_dir / ref, common_dir / "packed-refs", common_dir / "reftable" / "tables.list")

    def stamp(self) -> tuple[tuple[int, int, int] | None, ...]:
        """What the ref's files look like now; equal stamps mean the ref has not moved."""
        stamps: list[tuple[int, int, int] | None] = []
        for path in self._paths:
            try:
                st = path.stat()
            except OSError:
                stamps.append(None)
            else:
                stamps.append((st.st_ino, st.st_mtime_ns, st.st_size))
        return tuple(stamps)

    def wait(
        self,
        since: tuple[tuple[int, int, int] | None, ...],
        timeout: float,
        step: float = 0.05,
        stop: threading.Event | None = None,
    ) -> bool:
        """Sleep until the ref's files differ from `since` (True), or `timeout` seconds pass or
        `stop` is set (False)."""
        stop = stop if stop is not None else threading.Event()
        deadline = time.monotonic() + timeout
        while self.stamp() == since:
            left = deadline - time.monotonic()
            if left <= 0 or stop.is_set():
                return False
            stop.wait(min(step, left))
        return True


def _read_answer(stream: IO[bytes], name: str) -> tuple[str, str, bytes] | None:
    line = stream.readline()
    if not line.endswith(b"\n"):  # the process ended instead of answering
        raise ObjectUnreadable(name)
    parts = line.decode(errors="replace").rstrip("\n").split(" ")
    if len(parts) != 3 or not parts[2].isdigit():  # "<name> missing": a name may hold spaces
        return None
    sha, kind, size = parts
    data = stream.read(int(size))
    if len(data) != int(size) or stream.read(1) != b"\n":  # the newline after the contents
        raise ObjectUnreadable(name)
    return sha, kind, data


class Git:
    """Git commands and objects for one working directory (or bare repository)."""

    def __init__(self, cwd: Path, objects_dir: Path | None = None, *, objects_by_git: bool = False) -> None:
        self.cwd, self.objects_dir = cwd, objects_dir
        # git's config asks for what only git does when it stores an object (`loose.GIT_STORES`).
        self.objects_by_git = objects_by_git
        self._batch: CatFile | None = None
        self._lent = False  # _batch belongs to a longer-lived owner (see `lend_reader`)
        self._objdir: Path | None = None
        self._hash_name: str | None = None

    def __repr__(self) -> str:
        return f"Git({str(self.cwd)!r})"

    # -- running commands -------------------------------------------------

    def run(
        self,
        *args: str,
        input: bytes | None = None,
        timeout: float | None = None,
        env: dict[str, str] | None = None,
    ) -> Result:
        """Run `git ARGS`; never raises for a non-zero exit (see `check`).

        git speaks English here (LC_ALL=C): callers read its messages ("tell me who you are",
        a lost lease). After `timeout` seconds git and the processes it started (ssh, a remote
        helper) are killed and the result says "did not complete"."""
        try:
            proc = subprocess.Popen(
                ["git", *args],
                cwd=self.cwd,
                stdin=subprocess.DEVNULL if input is None else subprocess.PIPE,
                stdout=subprocess.PIPE,
                stderr=subprocess.PIPE,
                env=dict(os.environ, **_ENGLISH, **(env or {})),
            )
        except FileNotFoundError as exc:
            raise _spawn_failed(self.cwd) from exc
        with proc:
            try:
                out, err = proc.communicate(input, timeout=timeout)
            except subprocess.TimeoutExpired:
                kill_tree(proc)
                said = f'Timeout: the command "git {" ".join(args)}" did not complete in {timeout:g} secs.'
                return Result(-9, b"", said)
            except BaseException:
                kill_tree(proc)
                raise
        return Result(proc.returncode, out, err.decode(errors="replace").removesuffix("\n"))

    def check(
        self,
        *args: str,
        input: bytes | None = None,
        timeout: float | None = None,
        env: dict[str, str] | None = None,
    ) -> bytes:
        """Run `git ARGS` and return stdout; raise `GitFailed` on a non-zero exit."""
        return self.run(*args, input=input, timeout=timeout, env=env).check(args)

    # -- reading objects -----------------------------------------------------

    def read_objects(self, names: Sequence[str]) -> list[tuple[str, str, bytes] | None]:
        if self._batch is None:
            self._batch = CatFile(self.cwd)
        try:
            return self._batch.read(names)
        except ObjectUnreadable:
            # Gone or out of step: end it, lent or not (an owner sees it dead and starts another).
            self._batch.close()
            self._batch, self._lent = None, False
            raise

    def lend_reader(self, reader: CatFile) -> None:
        """Read through `reader`, kept by a long-lived owner (`mcp_reader`); `close` leaves it running."""
        if self._batch is None:
            self._batch, self._lent = reader, True

    def read_object(self, name: str) -> tuple[str, str, bytes] | None:
        return self.read_objects([name])[0]

    def read_tree(self, sha: str) -> dict[str, TreeEntry]:
        found = self.read_object(sha)
        if found is None or found[1] != "tree":
            raise GitcoordError(f"object {sha} is not a tree.")
        return parse_tree(found[2], found[0])

    def close(self) -> None:
        if self._batch is not None and not self._lent:
            self._batch.close()
        self._batch, self._lent = None, False

    # -- writing objects -------------------------------------------------------

    @property
    def hash_name(self) -> str:
        """The repository's object format as hashlib names it: "sha1" or "sha256"."""
        if self._hash_name is None:
            # Whichever empty tree git answers for is this repository's: one round trip on
            # the cat-file process a write has already started to read the tip.
            found = [f for f in self.read_objects(list(EMPTY_TREES.values())) if f is not None]
            name = HASH_BY_HEX_LENGTH.get(len(found[0][0])) if found else None
            if name is None:
                raise GitcoordError(
                    f"cannot tell the object format of the repository at {self.cwd}.",
                    hint="gitcoord supports SHA-1 and SHA-256 repositories.",
                )
            self._hash_name = name
        return self._hash_name

    def learn_format(self, oid: str) -> None:
        """An object id this repository gave: its length tells the object format, with no probe."""
        if self._hash_name is None:
            self._hash_name = HASH_BY_HEX_LENGTH.get(len(oid))

    def _objects(self) -> Path:
        if self._objdir is None:
            # GIT_OBJECT_DIRECTORY first: inside a pre-receive hook it is the push's quarantine.
            env = os.environ.get("GIT_OBJECT_DIRECTORY")
            self._objdir = Path(env) if env else self.objects_dir or self._ask_objects_dir()
        return self._objdir

    def _ask_objects_dir(self) -> Path:
        out = self.check("rev-parse", "--path-format=absolute", "--git-common-dir")
        return Path(out.decode().strip()) / "objects"

    def write_blob(self, data: bytes) -> str:
        return self.write_object(b"blob", data)

    def write_tree(self, entries: dict[str, TreeEntry]) -> str:
        # git orders tree entries as if directory names ended in '/'.
        def key(item: tuple[str, TreeEntry]) -> bytes:
            name = item[0].encode(errors="surrogateescape")
            return name + b"/" if item[1].is_tree else name

        rows = (
            b"%o %s\0%s" % (e.mode, name.encode(errors="surrogateescape"), bytes.fromhex(e.sha))
            for name, e in sorted(entries.items(), key=key)
        )
        return self.write_object(b"tree", b"".join(rows))

    def write_object(self, kind: bytes, data: bytes) -> str:
        """Write one loose object as git does (`gitcoord.loose`), or with `git hash-object` when
        `objects_by_git`; return its id."""
        if self.objects_by_git:
            args = ("hash-object", "-w", "-t", kind.decode(), "--stdin")
            res = self.run(*args, input=data)
            if res.returncode != 0:
                self._object_write_failed(res)
            return res.check(args).decode().strip()
        from gitcoord.loose import write_loose

        return write_loose(self._objects(), self.hash_name, kind, data)

    def commit_tree(self, tree: str, parents: Iterable[str], message: str, *, sign: bool = False) -> str:
        """`git commit-tree`; `sign` signs it with the person's git setup (`-S`: gpg.format, signingkey)."""
        args = ["commit-tree", tree]
        for parent in parents:
            args += ["-p", parent]
        if sign:
            args.append("-S")
        res = self.run(*args, "-F", "-", input=message.encode())
        if res.returncode != 0:
            if "tell me who you are" in res.stderr or "empty ident" in res.stderr:
                raise InvalidInput(
                    "git has no identity for commits on this machine.",
                    hint='set it with git config user.name "..." and user.email "..."',
                )
            self._object_write_failed(res)
            if sign:
                said = " / ".join(line.strip() for line in res.stderr.splitlines() if line.strip())[-400:]
                raise Refused(
                    f"git could not sign the commit of this human act; nothing was written: {said}",
                    hint="check gpg.format and user.signingkey (`git config --get user.signingkey`).",
                )
            raise GitFailed(args, res.returncode, res.stdout, res.stderr)
        return res.stdout.decode().strip()

    def _object_write_failed(self, res: Result) -> None:
        """Unavailable when git said it could not store an object (a full disk, a read-only store)."""
        if any(marker in res.stderr for marker in _OBJECT_WRITE_FAILURES):
            said = res.stderr.strip().splitlines()[0]
            raise Unavailable(
                f"cannot write git objects in {self._objects()}: {said}",
                hint="free disk space or make the object store writable, then run the "
                "command again; nothing was written.",
            )


# git's messages in English, whatever the caller's locale: callers match on them.
_ENGLISH = {"LANGUAGE": "C", "LC_ALL": "C"}


# What git says when it cannot store an object (a full disk, a read-only object store).
_OBJECT_WRITE_FAILURES = (
    "unable to create temporary file",
    "insufficient permission for adding an object",
    "unable to write",
    "No space left on device",
    "Read-only file system",
)
