"""Where gitcoord runs: the repository's directories, git config, the raw
`.coord/config.toml` table, the coord ref to read, and who the agent is.

Read with two git processes and no heavy imports, because the commit hooks
and the editor guard stand on it as well as the `Coordinator`.

The config is the team's committed one. The work-tree file is used when it is
there (it is HEAD's, or HEAD's with uncommitted edits, which `doctor` reports);
when it is not (a sparse checkout without `.coord/`, a file deleted without a
commit, a bare repository) the file in HEAD's tree is read, with one more git
process paid only in that case. The keys of `COMMITTED_ONLY` are never taken
from uncommitted edits: they say who may do what, and an agent must not grant
itself a right by editing its own work tree.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import TYPE_CHECKING, Any

from gitcoord.constants import AGENT_ENV, AGENT_NAME, CONFIG_PATH, DEFAULT_BRANCH, IDENTITY_FILE
from gitcoord.errors import InvalidInput, Unavailable
from gitcoord.git import run_plain
from gitcoord.validate import quoted

if TYPE_CHECKING:
    from gitcoord.store import Store

# Keys read from HEAD's config only, never from the work tree: (section, key).
COMMITTED_ONLY: tuple[tuple[str, str], ...] = (("review", "reviewers"),)
HEAD_CONFIG = f"HEAD:{CONFIG_PATH}"


def check_agent_name(name: str) -> str:
    if not AGENT_NAME.fullmatch(name):
        raise InvalidInput(
            f"{quoted(name)} is not a valid agent name.",
            hint="use 1-40 characters: lowercase letters, digits, '.', '_' or '-', "
            "starting with a letter or digit, no '..'.",
        )
    return name


class Workspace:
    """A repository as gitcoord sees it before touching the coord branch.

    A plain class: generating dataclass methods would cost the hooks milliseconds.
    """

    def __init__(
        self,
        cwd: Path,
        git_dir: Path,
        common_dir: Path,
        top: Path | None,
        gitconfig: dict[str, list[str]],
        table: dict[str, Any],
        source: str = "",
    ) -> None:
        self.cwd, self.git_dir, self.common_dir = cwd, git_dir, common_dir
        self.top = top  # None in a bare repository
        self.gitconfig = gitconfig
        self.table = table  # .coord/config.toml as parsed, not yet validated
        # Where `table` came from: CONFIG_PATH (the work tree), HEAD_CONFIG, or "" (no file: defaults).
        self.source = source
        self._committed: dict[str, Any] | None = table if source != CONFIG_PATH else None

    @classmethod
    def open(cls, cwd: Path) -> Workspace:
        cwd = cwd.resolve()
        return cls.open_found(cwd, *repo_dirs(cwd))

    @classmethod
    def open_found(
        cls,
        cwd: Path,
        git_dir: Path,
        common_dir: Path,
        top: Path | None,
        gitconfig: dict[str, list[str]] | None = None,
    ) -> Workspace:
        """`open` for directories already found (a long-lived owner re-checks them itself:
        `mcp_reader.KeptWorkspace`); the config file, and git's unless given, are read afresh."""
        table, source = _config_table(top, cwd)
        return cls(
            cwd,
            git_dir,
            common_dir,
            top,
            read_git_config(cwd) if gitconfig is None else gitconfig,
            table,
            source,
        )

    # -- settings ------------------------------------------------------------------

    def git_setting(self, key: str, default: str = "") -> str:
        """The last value of a git config key (keys as git lists them, lower-cased)."""
        return self.gitconfig.get(key, [default])[-1]

    def setting(self, section: str, key: str, default: Any) -> Any:
        """A value of `.coord/config.toml`; validation is `gitcoord.config`'s job."""
        value = self.table.get(section, {})
        return value.get(key, default) if isinstance(value, dict) else default

    @property
    def committed_table(self) -> dict[str, Any]:
        """HEAD's `.coord/config.toml` as parsed ({} when HEAD has none); read on first use."""
        if self._committed is None:
            self._committed = _head_config(self.top or self.cwd) or {}
        return self._committed

    def trusted_table(self) -> dict[str, Any]:
        """`table` with each `COMMITTED_ONLY` key as HEAD has it (absent where HEAD lacks it)."""
        if self.source != CONFIG_PATH:
            return self.table  # read from HEAD already (or no file anywhere)
        merged = self.local_table()
        for section, key in COMMITTED_ONLY:
            theirs = self.committed_table.get(section)
            if isinstance(theirs, dict) and key in theirs:
                ours = merged.setdefault(section, {})
                if isinstance(ours, dict):
                    ours[key] = theirs[key]
        return merged

    def local_table(self) -> dict[str, Any]:
        """`table` without the `COMMITTED_ONLY` keys: what needs no HEAD read to be trusted."""
        local = {
            name: dict(value) if isinstance(value, dict) else value for name, value in self.table.items()
        }
        for section, key in COMMITTED_ONLY:
            if isinstance(local.get(section), dict):
                local[section].pop(key, None)
        return local

    def config_label(self) -> str:
        """How error messages name the config in use."""
        if self.source == CONFIG_PATH and self.top is not None:
            return str(self.top / CONFIG_PATH)
        return self.source or CONFIG_PATH

    @property
    def branch(self) -> str:
        return str(self.setting("coord", "branch", DEFAULT_BRANCH))

    def remote(self, wanted: str | None = None) -> str | None:
        """The remote of remote mode: the configured one, else origin, else None (local mode)."""
        wanted = wanted if wanted is not None else str(self.setting("coord", "remote", ""))
        if wanted:
            if f"remote.{wanted}.url" not in self.gitconfig:
                if self.top is None:
                    return None  # HEAD's config read in the shared bare repository: it is the remote
                raise InvalidInput(
                    f"the configured remote {quoted(wanted)} does not exist.",
                    hint="fix coord.remote in .coord/config.toml or `git remote add`.",
                )
            return wanted
        if self.top is None:
            return None  # a bare repository is where the coord branch lives, not a copy of it
        return "origin" if "remote.origin.url" in self.gitconfig else None

    def open_store(
        self, *, branch: str, remote: str, retry_seconds: float, remote_timeout_seconds: float
    ) -> Store:
        """The store of this workspace, with its own git runner: the one way both read paths
        (`Coordinator`, `gitcoord.lean_reads`) open it, from the `[coord]` and `[store]` settings
        (`remote` as configured: "" for origin or local mode)."""
        from gitcoord.constants import CACHE_DIR
        from gitcoord.git import Git
        from gitcoord.loose import git_stores
        from gitcoord.store import Store

        mirror = self.remote(remote)
        return Store(
            Git(self.cwd, objects_dir=self.common_dir / "objects", objects_by_git=git_stores(self.gitconfig)),
            branch=branch,
            remote=mirror,
            retry_seconds=retry_seconds,
            remote_timeout=remote_timeout_seconds,
            cache_dir=self.common_dir / CACHE_DIR,
            common_dir=self.common_dir,
            promisor=bool(mirror) and self.is_promisor(mirror or ""),
            gitconfig=self.gitconfig,
        )

    def is_promisor(self, remote: str) -> bool:
        """Is `remote` the promisor remote of a partial clone (what `clone --filter` records)?"""
        flag = self.git_setting(f"remote.{remote}.promisor").strip().lower()
        return flag in ("true", "yes", "on", "1") or self.git_setting("extensions.partialclone") == remote

    @property
    def ignorecase(self) -> bool:
        """The team's `[claims] ignorecase` (default false), the same on every machine.

        Not this clone's core.ignorecase: a Linux CI and a macOS laptop must
        give one answer for `src/api.py` against a claim on `Src/API.py`.
        """
        value = self.setting("claims", "ignorecase", False)
        if not isinstance(value, bool):
            raise InvalidInput(
                f"{self.config_label()} has invalid settings: claims.ignorecase: "
                f"{value!r} is not true or false."
            )
        return value

    # -- identity ----------------------------------------------------------------------

    def agent(self, explicit: str | None = None) -> str | None:
        """--agent, GITCOORD_AGENT, this worktree's `gitcoord start`, git config coord.agent.

        GITCOORD_AGENT set but empty or blank is bad input, not "unset": an agent whose
        variable came out empty must not fall through to being a human.
        """
        env = os.environ.get(AGENT_ENV)
        if env is not None and not env.strip():
            raise InvalidInput(
                f"{AGENT_ENV} is set but empty ({quoted(env)}).",
                hint=f"set it to the agent's name, or unset it (`unset {AGENT_ENV}`) to act as a human.",
            )
        name = explicit or env or self._remembered_agent() or self.git_setting("coord.agent")
        return check_agent_name(name) if name else None

    def agent_bound_here(self) -> str:
        """The agent `gitcoord start` bound this worktree to ("" when none)."""
        return self._remembered_agent()

    def _remembered_agent(self) -> str:
        try:
            return (self.git_dir / IDENTITY_FILE).read_text(encoding="utf-8").strip()
        except OSError:
            return ""

    def remember_agent(self, name: str) -> None:
        """Make `name` this worktree's identity (each worktree has its own git dir)."""
        path = self.git_dir / IDENTITY_FILE
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(check_agent_name(name) + "\n", encoding="utf-8")

    def human(self) -> str:
        """Who a human act is recorded as: the machine's git identity."""
        email = self.git_setting("user.email") or os.environ.get("GIT_COMMITTER_EMAIL", "")
        return f"human:{email or 'unknown'}"


def view_ref(branch: str, remote: str | None) -> str:
    """The ref reads look at: the local copy of the authoritative coord branch."""
    return f"refs/remotes/{remote}/{branch}" if remote else f"refs/heads/{branch}"


def repo_dirs(cwd: Path) -> tuple[Path, Path, Path | None]:
    """The git dir, the common dir and the top level (None: bare) of the repository at `cwd`."""
    res = run_plain(
        cwd,
        "rev-parse",
        "--path-format=absolute",
        "--git-dir",
        "--git-common-dir",
        "--is-bare-repository",
        "--show-toplevel",
    )
    lines = res.stdout.decode(errors="surrogateescape").splitlines()
    # In a bare repository --show-toplevel fails after the first three answers.
    if len(lines) < 3 or (res.returncode != 0 and lines[2] != "true"):
        raise InvalidInput(
            f"{cwd} is not inside a git repository.",
            hint="run gitcoord inside a clone or worktree, or `git init` first.",
        )
    top = Path(lines[3]) if lines[2] == "false" and len(lines) > 3 else None
    return Path(lines[0]), Path(lines[1]), top


def read_git_config(cwd: Path) -> dict[str, list[str]]:
    """`git config -z --list`: every value of every key (keys as git lists them), in order."""
    out = run_plain(cwd, "config", "-z", "--list").stdout.decode(errors="replace")
    values: dict[str, list[str]] = {}
    for item in out.split("\0"):
        key, _, value = item.partition("\n")
        if key:
            values.setdefault(key, []).append(value)
    return values


def _config_table(top: Path | None, cwd: Path) -> tuple[dict[str, Any], str]:
    """The config table and where it came from: the work tree, else HEAD's tree, else nowhere."""
    if top is not None:
        path = top / CONFIG_PATH
        try:
            return _parse(path.read_bytes(), str(path)), CONFIG_PATH
        except FileNotFoundError:
            pass
        except IsADirectoryError as exc:
            raise InvalidInput(f"{path} is a directory, not the config file.") from exc
    committed = _head_config(top or cwd)
    return ({}, "") if committed is None else (committed, HEAD_CONFIG)


def _head_config(cwd: Path) -> dict[str, Any] | None:
    """HEAD's config file, parsed; None when HEAD has none (or there is no commit yet).

    `cat-file --batch` tells the cases apart in its own stable words: "<name> missing"
    when the path is not in HEAD's tree, "<object id> missing" when it is but its
    contents cannot be read (a partial clone whose remote is away), which is not "no config".
    """
    res = run_plain(cwd, "cat-file", "--batch", input=HEAD_CONFIG.encode() + b"\n")
    header, _, rest = res.stdout.partition(b"\n")
    words = header.decode(errors="replace").split(" ")
    if res.returncode == 0 and words[:1] == [HEAD_CONFIG]:
        return None
    if res.returncode != 0 or len(words) != 3:
        said = res.stderr.strip() or header.decode(errors="replace")
        raise Unavailable(
            f"cannot read {HEAD_CONFIG}: {said}",
            hint="the team's config is in HEAD's tree; make its objects readable "
            "(a partial clone needs its remote), or check it out.",
        )
    if words[1] != "blob":
        raise InvalidInput(f"{HEAD_CONFIG} is a {words[1]}, not the config file.")
    return _parse(rest[: int(words[2])], HEAD_CONFIG)


def _parse(data: bytes, source: str) -> dict[str, Any]:
    import tomllib  # not at import: a repository without a config file never needs it

    try:
        return tomllib.loads(data.decode("utf-8"))
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as exc:
        raise InvalidInput(f"{source} is not valid TOML: {exc}") from exc
