"""What git would answer again the same way, and the stats that tell it would.

Two long-lived owners keep where the repository is (`rev-parse`) and git's config (`git config
--list`) between calls instead of asking git again: the MCP server in memory
(`mcp_reader.KeptWorkspace`), and the children of the hooks' warm server in a file of the server's
private runtime directory (`SavedWorkspace`: each child is a fresh fork, so what one found is kept
for the next only in a file). Both re-check by stats at every call, and ask git again as soon as a
stat differs. Nothing of the coordination is kept: the records and `.coord/config.toml` are read
afresh by every call.

Stdlib only and light: the hooks import it.
"""

from __future__ import annotations

import contextlib
import functools
import marshal
import os
import shutil
import stat
import time
from pathlib import Path
from typing import Any, NamedTuple

from gitcoord.cache import save_derived
from gitcoord.workspace import Workspace, read_git_config, repo_dirs

try:  # as in `warm.keys`: hashlib's import of OpenSSL costs a few ms
    from _blake2 import blake2b
except ImportError:  # pragma: no cover (an interpreter built without it)
    from hashlib import blake2b

# A file changed this recently may change again with the same size and time stamp (file systems
# stamp times in ticks, some in whole seconds), so what git read from it is not kept: the
# "racy git" rule of git's own index.
RACY_SECONDS = 2
# The variables besides GIT_* that decide which config files git reads (git-config(1), FILES).
_CONFIG_ENV = ("HOME", "XDG_CONFIG_HOME", "PATH")
# GIT_* variables that decide neither where the repository is nor its config: a key without them
# is the same for every commit from one place (`git commit -a` names a temporary index, a script
# may pin the dates).
# So do the trace variables: with trace2 switched on in a config file, git gives every hook a new
# GIT_TRACE2_PARENT_SID.
# A push's pre-receive gets its quarantine's object directories, new for every push.
_PER_COMMIT_ENV = (
    "GIT_INDEX_FILE",
    "GIT_EDITOR",
    "GIT_REFLOG_ACTION",
    "GIT_QUARANTINE_PATH",
    "GIT_OBJECT_DIRECTORY",
    "GIT_ALTERNATE_OBJECT_DIRECTORIES",
)
_PER_COMMIT_PREFIXES = ("GIT_AUTHOR_", "GIT_COMMITTER_", "GIT_TRACE")
SAVED_VERSION = 1  # bump whenever what `SavedWorkspace` writes changes
SAVED_PREFIX = "ws-"  # the saved answers' file names, in the runtime directory
SAVED_MAX = 64  # saved answers at most: a save that finds more removes them all first


class Mark(NamedTuple):
    """What a stat says of one path: a change to the file changes one of these (see RACY_SECONDS)."""

    path: str
    exists: bool
    kind: int = 0  # file, directory...
    device: int = 0
    inode: int = 0
    owner: int = 0  # git refuses a repository owned by someone else: found again, it says so
    size: int = 0
    changed_ns: int = 0  # the later of its modification and change times (files only)


def mark(path: Path) -> Mark:
    """`path`'s stat; for a file (whose text git reads) also its size and times."""
    try:
        info = os.stat(path)
    except OSError:
        return Mark(str(path), False)
    kind, device, inode, owner = stat.S_IFMT(info.st_mode), info.st_dev, info.st_ino, info.st_uid
    if kind == stat.S_IFDIR:
        return Mark(str(path), True, kind, device, inode, owner)
    changed = max(info.st_mtime_ns, info.st_ctime_ns)
    return Mark(str(path), True, kind, device, inode, owner, info.st_size, changed)


def dir_marks(cwd: Path, git_dir: Path, common_dir: Path, top: Path | None) -> tuple[Mark, ...]:
    """What `rev-parse` found the directories from: the working directory, each `.git` from it up
    to the top level (a directory, or a worktree's file naming its git dir), the git dir, its
    `commondir` file and the common dir. A repository removed and made again at the same path has
    the same directories (the kept reader notices the new objects, `mcp_reader.KeptReader`)."""
    paths = [cwd]
    if top is not None:
        here = cwd
        while True:
            paths.append(here / ".git")
            if here == top or here == here.parent:
                break
            here = here.parent
    return tuple(mark(path) for path in (*paths, git_dir / "commondir", git_dir, common_dir))


def layout(gitconfig: dict[str, list[str]]) -> tuple[list[str] | None, ...]:
    """The config keys that move the work tree (`core.worktree`, `core.bare`): kept dirs follow them."""
    return gitconfig.get("core.worktree"), gitconfig.get("core.bare")


def config_files(git_dir: Path, common_dir: Path) -> list[Path]:
    """Every file `git config --list` may read here (git-config(1), FILES), existing or not, under
    this process's environment.

    The system file is /etc/gitconfig or `$(prefix)/etc/gitconfig` depending on how git was
    built: both are watched.
    """
    env = os.environ
    if env.get("GIT_CONFIG"):  # the old variable: `git config` reads that file alone
        return [Path(env["GIT_CONFIG"])]
    files: list[Path] = []
    if env.get("GIT_CONFIG_NOSYSTEM", "").lower() not in ("1", "true", "yes", "on"):
        if env.get("GIT_CONFIG_SYSTEM"):
            files.append(Path(env["GIT_CONFIG_SYSTEM"]))
        else:
            files += _system_configs(env.get("PATH", ""))
    if env.get("GIT_CONFIG_GLOBAL"):
        files.append(Path(env["GIT_CONFIG_GLOBAL"]))
    else:
        home = Path(env.get("HOME", "~")).expanduser()
        xdg = Path(env["XDG_CONFIG_HOME"]) if env.get("XDG_CONFIG_HOME") else home / ".config"
        files += [xdg / "git" / "config", home / ".gitconfig"]
    return [*files, common_dir / "config", git_dir / "config.worktree"]


@functools.lru_cache(maxsize=4)
def _system_configs(search_path: str) -> list[Path]:
    """/etc/gitconfig and `$(prefix)/etc/gitconfig` of the git on `search_path` (PATH)."""
    program = shutil.which("git", path=search_path)
    found = [Path("/etc/gitconfig")]
    if program:
        found.append(Path(os.path.realpath(program)).parent.parent / "etc" / "gitconfig")
    return found


def config_marks(git_dir: Path, common_dir: Path) -> tuple[Mark, ...]:
    return tuple(mark(path) for path in config_files(git_dir, common_dir))


def settled(marks: tuple[Mark, ...], started_ns: int) -> bool:
    """Was every file of `marks` last changed `RACY_SECONDS` or more before `started_ns`?"""
    limit = started_ns - RACY_SECONDS * 10**9
    return all(m.changed_ns < limit for m in marks if m.exists)


def keepable(gitconfig: dict[str, list[str]]) -> bool:
    """May this config be kept? Not one that includes files: an `includeIf` can depend on the
    checked-out branch, and an included file is not among `config_files`."""
    return not any(key.startswith(("include.", "includeif.")) for key in gitconfig)


def forget_saved(directory: str, above: int = 0) -> None:
    """Remove every saved answer in `directory` if there are more than `above` (a server starting
    removes them all: they are only time saved, and each working directory and environment a
    session used left one)."""
    with contextlib.suppress(OSError), os.scandir(directory) as entries:
        saved = [entry.path for entry in entries if entry.name.startswith(SAVED_PREFIX)]
    if len(saved) > above:
        for path in saved:
            with contextlib.suppress(OSError):
                os.unlink(path)


class SavedWorkspace:
    """`Workspace.open` for the hooks' server's children, with what `rev-parse` and `git config
    --list` answered kept in `directory` (the server's runtime directory, which it checked is this
    user's alone) for the next call from the same working directory and environment.

    A saved answer is used only while every stat it was saved with is the same (`dir_marks`,
    `config_marks`); it is saved only when it includes no file and nothing it came from changed
    within `RACY_SECONDS` of the read. A file that is missing, damaged or from another version
    is a call that asks git, as every call did before.
    """

    def __init__(self, directory: str) -> None:
        self.directory = directory

    def open(self, cwd: Path) -> Workspace:
        cwd = cwd.resolve()
        key = (SAVED_VERSION, str(cwd), environment_key())
        name = SAVED_PREFIX + blake2b(marshal.dumps(key), digest_size=12).hexdigest()
        path = os.path.join(self.directory, name)
        found = _load(path, key, cwd)
        if found is not None:
            return found
        started = time.time_ns()
        dirs = (cwd, *repo_dirs(cwd))
        gitconfig = read_git_config(cwd)
        workspace = Workspace.open_found(*dirs, gitconfig=gitconfig)
        where, config = dir_marks(*dirs), config_marks(dirs[1], dirs[2])
        if keepable(gitconfig) and settled(where, started) and settled(config, started):
            paths = [str(d) if d else "" for d in dirs[1:]]
            forget_saved(self.directory, above=SAVED_MAX)
            _save(path, (key, paths, _plain(where), gitconfig, _plain(config)))
        return workspace


def environment_key() -> tuple[tuple[str, str], ...]:
    """The variables that may change what `rev-parse` and `git config --list` answer."""
    return tuple(
        sorted(
            (name, value)
            for name, value in os.environ.items()
            if name in _CONFIG_ENV
            or (
                name.startswith("GIT_")
                and name not in _PER_COMMIT_ENV
                and not name.startswith(_PER_COMMIT_PREFIXES)
            )
        )
    )


def _plain(marks: tuple[Mark, ...]) -> list[tuple[Any, ...]]:
    return [tuple(m) for m in marks]  # marshal writes plain tuples only


def _load(path: str, key: tuple[Any, ...], cwd: Path) -> Workspace | None:
    try:
        with open(path, "rb") as file:
            saved_key, dirs, saved_dirs, gitconfig, saved_config = marshal.loads(file.read())
        if saved_key != key:
            return None
        git_dir, common_dir, top = Path(dirs[0]), Path(dirs[1]), Path(dirs[2]) if dirs[2] else None
    except (OSError, EOFError, ValueError, TypeError, IndexError):
        return None
    if list(dir_marks(cwd, git_dir, common_dir, top)) != saved_dirs:
        return None
    if list(config_marks(git_dir, common_dir)) != saved_config:
        return None
    return Workspace.open_found(cwd, git_dir, common_dir, top, gitconfig=gitconfig)


def _save(path: str, value: tuple[Any, ...]) -> None:
    """Written whole (`cache.save_derived`); never into a runtime directory made again by us, which
    would not be the private one the server checked."""
    try:
        data = marshal.dumps(value)
    except ValueError:  # text marshal cannot hold: only time lost
        return
    save_derived(Path(path), data, make_parent=False)
