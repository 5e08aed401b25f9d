"""Loose git objects written in-process, as git writes them (`Git.write_object`).

The compressed object goes to a `tmp_obj_*` file in its fan-out directory and is renamed into
place, so no reader ever sees half an object; a writer killed halfway leaves only a temp file,
which git ignores and `git prune` removes. Two writers of one object write the same bytes, so
the later rename is harmless. Paths are plain strings and each step one system call: a coord
write stores several objects, and this runs while the caller waits.
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import zlib
from pathlib import Path

from gitcoord.errors import Unavailable

# Config keys (as `git config --list` spells them) under which git stores an object in a way
# not done here: with the permissions `core.sharedRepository` asks for (group or everyone may read
# the file and write the fan-out directory, whatever the umask), or flushed to disk (`core.fsync`,
# `core.fsyncObjectFiles`). `Git.write_object` then leaves it to `git hash-object -w`.
GIT_STORES = ("core.sharedrepository", "core.fsync", "core.fsyncobjectfiles")


def git_stores(gitconfig: dict[str, list[str]]) -> bool:
    """Does this config ask git for something this module does not do when storing an object?"""
    return any(key in gitconfig for key in GIT_STORES)


def write_loose(objects: Path, hash_name: str, kind: bytes, data: bytes) -> str:
    """Store one object under `objects` (an objects directory) and return its id."""
    raw = b"%s %d\0%s" % (kind, len(data), data)
    oid = hashlib.new(hash_name, raw).hexdigest()
    fanout = f"{objects}/{oid[:2]}"
    final = f"{fanout}/{oid[2:]}"
    if _freshened(final):
        return oid
    tmp = f"{fanout}/tmp_obj_{os.urandom(6).hex()}"
    try:
        fd = _create(tmp, fanout)
        try:
            # Level 1 is git's default for loose objects (core.looseCompression).
            _write_all(fd, zlib.compress(raw, 1))
        finally:
            os.close(fd)
        os.replace(tmp, final)
    except OSError as exc:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise Unavailable(
            f"cannot write git objects in {objects}: {exc.strerror or exc}",
            hint="free disk space or make the object store writable, then run the "
            "command again; nothing was written.",
        ) from exc
    return oid


def _freshened(path: str) -> bool:
    """Is the object there? Then it is touched, as git does, so that a concurrent prune keeps it."""
    try:
        os.utime(path)
    except FileNotFoundError:
        return False
    except OSError:  # someone else's object (not ours to touch), or a directory we cannot search
        return os.path.exists(path)
    return True


def _create(path: str, fanout: str) -> int:
    """A new read-only file at `path`, its fan-out directory made on first use."""
    flags = os.O_WRONLY | os.O_CREAT | os.O_EXCL
    try:
        return os.open(path, flags, 0o444)
    except FileNotFoundError:
        with contextlib.suppress(FileExistsError):
            os.mkdir(fanout)
    except NotADirectoryError:
        os.mkdir(fanout)  # a file where the directory goes: raises, saying "File exists"
    return os.open(path, flags, 0o444)


def _write_all(fd: int, data: bytes) -> None:
    view = memoryview(data)
    while view:
        view = view[os.write(fd, view) :]
