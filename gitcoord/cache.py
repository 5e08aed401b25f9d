"""Parsed record files of the coord branch, cached by the ids git gives them.

A tree id names a directory's contents exactly, and a blob id a file's, so a
parse cached under them can never go stale: reading an unchanged directory
costs one JSON file instead of one blob read and one TOML parse per record,
and a changed directory re-parses only the files that changed. The cache is
derived local data under the common git dir (shared by worktrees); deleting
it only costs time. Light on purpose: the commit hooks use it too.

A record that could not be read is never "no record": the cache stores what a
file parsed to, or `false` for a file that was read and is not TOML, and never
anything for a read that failed (a partial clone whose promisor remote was
down). The readers raise `RecordsUnreadable` (exit 4) instead of going on
without the file; an entry of `null`, which older versions wrote for a failed
read, is read again.
"""

from __future__ import annotations

import contextlib
import json
import os
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from gitcoord.errors import Unavailable
from gitcoord.git import run_plain

ListBlobs = Callable[[], dict[str, str]]  # file name -> blob id, for one directory
ReadBlobs = Callable[[Sequence[str]], Sequence[bytes]]  # blob ids -> contents; raises when unreadable
NOT_TOML = False  # what the cache holds for a file that was read and does not parse


class RecordsUnreadable(Unavailable):
    """A coord record (or the tree listing them) exists but its object cannot be read.

    Whoever needs every record of a directory fails closed on it (exit 4): a claim
    that cannot be read must never be taken for no claim.
    """


def is_file(mode: int) -> bool:
    """A tree entry that holds a file's contents (not a directory, not a submodule's commit)."""
    return mode >> 12 in (0o10, 0o12)


def records_unreadable(cwd: Path, path: str, sha: str) -> RecordsUnreadable:
    """The error for `path` (object `sha`) that git could not produce, with why and the way out."""
    promisor = _promisor(cwd)
    # An object id is cut short; a name git was asked to resolve (`REF:PATH`, whose trees were
    # missing) is shown whole.
    what = f"object {sha[:12]}" if all(c in "0123456789abcdef" for c in sha) else f"at {sha}"
    if promisor:
        url = _config(cwd, "--get", f"remote.{promisor}.url")
        return RecordsUnreadable(
            f"cannot read the coord records: {path} ({what}) is not in this partial clone, and git "
            f"could not fetch it from its promisor remote {promisor!r}{f' ({url})' if url else ''}.",
            hint=f"the promisor remote {promisor!r} is unreachable; retry when it is back, or `git fetch "
            f"{promisor}` the coord branch once it answers. Until then gitcoord refuses rather than "
            "guess what the record says.",
        )
    return RecordsUnreadable(
        f"cannot read the coord records: {path} ({what}) is missing from this repository's object store.",
        hint="run `git fsck`; fetch the coord branch again from a healthy clone or remote. Until then "
        "gitcoord refuses rather than guess what the record says.",
    )


def _promisor(cwd: Path) -> str:
    """The promisor remote of a partial clone ("" when this is not one): `remote.NAME.promisor`
    set true (what `clone --filter` writes), else `extensions.partialClone`."""
    for line in _config(cwd, "--get-regexp", r"^remote\..*\.promisor$").splitlines():
        key, _, value = line.partition(" ")
        if value.strip().lower() in ("true", "yes", "on", "1"):
            return key[len("remote.") : -len(".promisor")]
    return _config(cwd, "--get", "extensions.partialclone")


def _config(cwd: Path, *args: str) -> str:
    try:
        return run_plain(cwd, "config", *args).stdout.decode(errors="replace").strip()
    except Unavailable:
        return ""


class ParsedTrees:
    """The parsed TOML files of coord directories, keyed by tree id and blob id."""

    def __init__(self, root: Path | None) -> None:
        self.root = root  # None: no cache (a bare remote we may not write to, say)

    def read(
        self, directory: str, tree_id: str, list_blobs: ListBlobs, read_blobs: ReadBlobs
    ) -> tuple[dict[str, dict[str, Any]], list[str]]:
        """({file name: parsed TOML}, [names of files that are not TOML]) for one directory."""
        saved = self._load(directory)
        prior: dict[str, list[Any]] = saved.get("files", {})
        if saved.get("tree") == tree_id and all(_known(entry) for entry in prior.values()):
            return _split(prior)
        blobs = {name: sha for name, sha in list_blobs().items() if name.endswith(".toml")}
        changed = [
            name for name, sha in blobs.items() if not (_known(prior.get(name)) and prior[name][0] == sha)
        ]
        contents = dict(zip(changed, read_blobs([blobs[name] for name in changed]), strict=True))
        files = {
            name: [sha, _parse(contents[name]) if name in contents else prior[name][1]]
            for name, sha in sorted(blobs.items())
        }
        self._save(directory, {"tree": tree_id, "files": files})
        return _split(files)

    def _path(self, directory: str) -> Path:
        assert self.root is not None
        return self.root / (directory.strip("/").replace("/", "__") + ".json")

    def _load(self, directory: str) -> dict[str, Any]:
        if self.root is None:
            return {}
        try:
            data = json.loads(self._path(directory).read_text(encoding="utf-8"))
        except (OSError, ValueError):
            return {}
        return data if isinstance(data, dict) and isinstance(data.get("files"), dict) else {}

    def _save(self, directory: str, data: dict[str, Any]) -> None:
        if self.root is None:
            return
        save_derived(self._path(directory), json.dumps(data, default=str).encode("utf-8"))


def save_derived(path: Path, data: bytes, *, make_parent: bool = True) -> None:
    """Write derived local data (a cache, a saved index) whole: a temporary file beside `path`,
    then a rename, so readers see the old file or the new one, never half of one. A file that
    cannot be written (a full disk, a read-only directory) only costs time: nothing is raised
    and nothing is left behind. `make_parent=False`: a missing directory is not made again."""
    tmp = path.with_name(f".{path.name}.{os.getpid()}")
    try:
        if make_parent:
            path.parent.mkdir(parents=True, exist_ok=True)
        tmp.write_bytes(data)
        os.replace(tmp, path)
    except OSError:
        with contextlib.suppress(OSError):
            tmp.unlink()


def _known(entry: Any) -> bool:
    """Is a cache entry `[blob id, parse]` a real read: a table, or NOT_TOML (not a legacy null)?"""
    return (
        isinstance(entry, list)
        and len(entry) == 2
        and isinstance(entry[0], str)
        and (isinstance(entry[1], dict) or entry[1] is NOT_TOML)
    )


def _parse(raw: bytes) -> dict[str, Any] | bool:
    if not isinstance(raw, bytes):  # a reader must raise, never hand over "nothing"
        raise TypeError("a coord record was not read")
    import tomllib  # only a changed record is parsed: a cache hit never pays this import

    try:
        return tomllib.loads(raw.decode())
    except (tomllib.TOMLDecodeError, UnicodeDecodeError):
        return NOT_TOML


def _split(files: dict[str, list[Any]]) -> tuple[dict[str, dict[str, Any]], list[str]]:
    parsed = {name: data for name, (_, data) in files.items() if isinstance(data, dict)}
    return parsed, [name for name in files if name not in parsed]
