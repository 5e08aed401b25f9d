"""The radar's index for the editor guard: which paths each agent's unmerged branch changed.

The guard runs as a cold process on every edit, so it must not merge anything itself. Every
radar run (`start`, `check-in`, `status`, `conflicts`) already knows, per agent's branch, the
paths it changed since it left the default branch; it writes them here, with the commits they
were computed at, under the common git dir (shared by worktrees). The guard reads the file
(one JSON read), and checks it against the refs as they are now without a git process (the
loose ref file, else `packed-refs`):

- an entry whose branch tip moved since is still told, marked "as of" its commit: the paths a
  branch changed rarely disappear, and the next radar run refreshes it;
- when the default branch moved since, an entry that matches the edited path is asked of git
  once (`merge-base --is-ancestor`): a branch that has landed changes nothing any more. That is
  the only git process, and only when a path matches.

Light on purpose (json, os, pathlib): the guard imports it.
"""

from __future__ import annotations

import json
import os
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from gitcoord.constants import CACHE_DIR

INDEX_FILE = "branch-paths.json"
INDEX_VERSION = 1


def index_path(common_dir: Path) -> Path:
    return common_dir / CACHE_DIR / INDEX_FILE


def write_index(common_dir: Path, default: dict[str, str], branches: Sequence[dict[str, Any]]) -> None:
    """Replace the index: `default` {ref, commit}, `branches` [{agent, branch, ref, commit, paths}]
    with full ref names (or a commit id for a branch known only by its head)."""
    data = {"version": INDEX_VERSION, "default": default, "branches": list(branches)}
    path = index_path(common_dir)
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_name(f".{path.name}.{os.getpid()}")
        tmp.write_text(json.dumps(data), encoding="utf-8")
        os.replace(tmp, path)  # readers see the old file or the new one, never half of one
    except OSError:
        pass  # an index we cannot write only means the guard tells nothing


def read_index(common_dir: Path) -> dict[str, Any] | None:
    """The index, or None when there is none (no radar has run) or it is not one we wrote."""
    try:
        data = json.loads(index_path(common_dir).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    if not isinstance(data, dict) or data.get("version") != INDEX_VERSION:
        return None
    return data


def ref_tip(common_dir: Path, ref: str) -> str | None:
    """The commit `ref` points at, read from the ref files (no git process); a commit id is
    itself. None when the ref is not there (deleted, or a ref store we do not read)."""
    if not ref.startswith("refs/"):
        return ref
    try:
        text = (common_dir / ref).read_text(encoding="utf-8").strip()
        if text and not text.startswith("ref:"):
            return text
    except OSError:
        pass
    try:
        packed = (common_dir / "packed-refs").read_text(encoding="utf-8")
    except OSError:
        return None
    for line in packed.splitlines():
        sha, _, name = line.partition(" ")
        if name == ref and not line.startswith(("#", "^")):
            return sha
    return None


class Change:
    """Another agent's unmerged branch changed `path`; `moved` when its tip moved since the radar."""

    __slots__ = ("agent", "branch", "commit", "moved", "path")

    def __init__(self, path: str, entry: dict[str, Any], *, moved: bool) -> None:
        self.path, self.agent, self.branch = path, str(entry["agent"]), str(entry["branch"])
        self.commit, self.moved = str(entry["commit"]), moved

    def describe(self) -> str:
        since = f" (as of {self.commit[:12]}; the branch has moved since)" if self.moved else ""
        return f"{self.agent}'s unmerged branch {self.branch} already changes {self.path}{since}"


def changes(
    index: dict[str, Any],
    paths: Sequence[str],
    *,
    agent: str | None,
    own_branch: str,
    ignorecase: bool,
) -> list[tuple[str, dict[str, Any]]]:
    """(path, entry) for each of `paths` that another agent's branch in `index` changed."""
    fold = str.casefold if ignorecase else str
    wanted = {fold(p): p for p in paths}
    found: list[tuple[str, dict[str, Any]]] = []
    for entry in index.get("branches", []):
        if not isinstance(entry, dict) or entry.get("agent") == agent:
            continue
        if own_branch and entry.get("branch") == own_branch:
            continue  # the branch this work tree is on: its changes are the agent's own
        for changed in entry.get("paths", []):
            hit = wanted.get(fold(str(changed)))
            if hit is not None:
                found.append((hit, entry))
    return found


def still_unmerged(
    common_dir: Path, index: dict[str, Any], hits: Sequence[tuple[str, dict[str, Any]]], landed: Any
) -> list[Change]:
    """The hits whose branch has not landed: `landed(commit, default_tip)` is asked only when
    the default branch moved since the index was written."""
    default = index.get("default") or {}
    now_default = ref_tip(common_dir, str(default.get("ref", ""))) if default.get("ref") else None
    default_moved = now_default is not None and now_default != default.get("commit")
    verdicts: dict[str, bool] = {}
    out: list[Change] = []
    for path, entry in hits:
        commit = str(entry.get("commit", ""))
        if default_moved and now_default is not None:
            if commit not in verdicts:
                verdicts[commit] = bool(landed(commit, now_default))
            if verdicts[commit]:
                continue
        tip = ref_tip(common_dir, str(entry.get("ref", "")))
        out.append(Change(path, entry, moved=tip is not None and tip != commit))
    return out


def head_branch(git_dir: Path) -> str:
    """The branch the work tree at `git_dir` is on, from its HEAD file ("" when detached)."""
    try:
        text = (git_dir / "HEAD").read_text(encoding="utf-8").strip()
    except OSError:
        return ""
    prefix = "ref: refs/heads/"
    return text[len(prefix) :] if text.startswith(prefix) else ""


def advice(found: Sequence[Change]) -> str:
    """What the agent is told: whose branch changed what, and the next step."""
    lines = [f"gitcoord: {c.describe()}." for c in found]
    first = found[0]
    lines.append(
        "Editing it too makes a merge conflict likely. Agree first: gitcoord request-help "
        f'--to {first.agent} --resource {first.path} "..."; or work on something else. '
        "gitcoord conflicts shows what would conflict; a claim you hold on the path makes it yours "
        f"({first.agent} then rebases on you)."
    )
    return "\n".join(lines)
