"""Parsed record files of the coord branch, cached by the ids git gives them.

A tree id names a directory's contents exactly, and a blob id a file's, so a
parse cached under them can never go stale: reading an unchanged directory
costs one JSON file instead of one blob read and one TOML parse per record,
and a changed directory re-parses only the files that changed. The cache is
derived local data under the common git dir (shared by worktrees); deleting
it only costs time. Light on purpose: the commit hooks use it too.
"""

from __future__ import annotations

import json
import os
import tomllib
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

ListBlobs = Callable[[], dict[str, str]]  # file name -> blob id, for one directory
ReadBlobs = Callable[[Sequence[str]], Sequence[bytes | None]]  # blob ids -> contents


class ParsedTrees:
    """The parsed TOML files of coord directories, keyed by tree id and blob id."""

    def __init__(self, root: Path | None) -> None:
        self.root = root  # None: no cache (a bare remote we may not write to, say)

    def read(self, directory: str, tree_id: str, list_blobs: ListBlobs, read_blobs: ReadBlobs
             ) -> tuple[dict[str, dict[str, Any]], list[str]]:
        """({file name: parsed TOML}, [names of files that are not TOML]) for one directory."""
        saved = self._load(directory)
        if saved.get("tree") == tree_id:
            return _split(saved["files"])
        prior: dict[str, list[Any]] = saved.get("files", {})
        blobs = {name: sha for name, sha in list_blobs().items() if name.endswith(".toml")}
        changed = [name for name, sha in blobs.items() if prior.get(name, [None])[0] != sha]
        contents = dict(zip(changed, read_blobs([blobs[name] for name in changed]), strict=True))
        files = {name: [sha, _parse(contents[name]) if name in contents else prior[name][1]]
                 for name, sha in sorted(blobs.items())}
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
        path = self._path(directory)
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            tmp = path.with_name(f".{path.name}.{os.getpid()}")
            tmp.write_text(json.dumps(data, default=str), encoding="utf-8")
            os.replace(tmp, path)  # readers see the old file or the new one, never half of one
        except OSError:
            pass  # a cache we cannot write only costs time


def _parse(raw: bytes | None) -> dict[str, Any] | None:
    if raw is None:
        return None
    try:
        return tomllib.loads(raw.decode())
    except (tomllib.TOMLDecodeError, UnicodeDecodeError):
        return None


def _split(files: dict[str, list[Any]]) -> tuple[dict[str, dict[str, Any]], list[str]]:
    parsed = {name: data for name, (_, data) in files.items() if isinstance(data, dict)}
    return parsed, [name for name in files if name not in parsed]
