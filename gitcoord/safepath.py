"""Files gitcoord writes into a work tree never leave it through a symbolic link.

A repository can carry committed symlinks: `CLAUDE.md -> ../../somewhere` would make
`gitcoord integrate` append to a file outside the repository, and a link into `.git/` would
let it write a hook. Every writer of a work-tree file (integrate, the editor settings, the
launcher, init's config, `ci github`, the dashboard's default page) checks its path here
first; a link that stays inside the work tree is followed. Light on purpose (stdlib and
`gitcoord.errors` only): the launcher and the hooks import it. Example::

    path = check_inside(top, top / "CLAUDE.md")      # InvalidInput (exit 2) when it leaves
    write_inside(top, top / "CLAUDE.md", text)
"""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

from gitcoord.errors import InvalidInput


def check_inside(top: Path, path: Path) -> Path:
    """`path` (spelled under `top`, not resolved) when writing it stays in the work tree at `top`.

    Every existing component of the path that is a symbolic link must resolve inside the work
    tree and outside its `.git`; else exit 2 naming the link and its target as written.
    """
    root = Path(os.path.abspath(top))
    rel = Path(os.path.relpath(os.path.abspath(path), root))
    if rel.parts[:1] == ("..",):
        raise InvalidInput(f"{path} is outside the repository at {top}.")
    real_root = root.resolve()
    current = root
    for part in rel.parts:
        current = current / part
        if not current.is_symlink():
            continue
        target = os.readlink(current)
        where = _landing(current, real_root)
        if where:
            shown = current.relative_to(root).as_posix()
            raise InvalidInput(
                f"{shown} is a symbolic link to {target}, {where}: gitcoord does not write through it.",
                hint="replace the link with a regular file (or point it inside "
                "the work tree), then run the command again.",
            )
    return path


def _landing(link: Path, real_root: Path) -> str:
    """Why the link's destination is no place to write; empty when it is fine."""
    try:
        resolved = link.resolve()
    except (OSError, RuntimeError):  # a loop
        return "which cannot be resolved"
    if not resolved.is_relative_to(real_root):
        return "outside the repository"
    if resolved.relative_to(real_root).parts[:1] == (".git",):
        return "into the repository's .git directory"
    return ""


def write_inside(top: Path, path: Path, text: str, *, mode: int | None = None) -> Path:
    """Write `text` to `path` atomically, through links that stay inside the work tree; the path.

    The file keeps its permissions (or gets `mode`, or 644 when new: git tracks no other bits).
    """
    check_inside(top, path)
    path.parent.mkdir(parents=True, exist_ok=True)
    real = path.resolve()
    if mode is None:
        try:
            mode = real.stat().st_mode & 0o7777
        except FileNotFoundError:
            mode = 0o644
    fd, tmp = tempfile.mkstemp(prefix=f".{real.name}.", suffix=".gitcoord-tmp", dir=real.parent)
    try:
        with os.fdopen(fd, "w", encoding="utf-8", newline="") as fh:
            fh.write(text)
        os.chmod(tmp, mode)
        os.replace(tmp, real)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return path
