"""Where gitcoord runs: the repository's directories, git config, the raw
`.coord/config.toml` table, the coord ref to read, and who the agent is.

Read with two git processes and no heavy imports, because the commit hooks
and the editor guard stand on it as well as the `Coordinator`.
"""

from __future__ import annotations

import os
import tomllib
from pathlib import Path
from typing import Any

from gitcoord.constants import AGENT_ENV, AGENT_NAME, CONFIG_PATH, DEFAULT_BRANCH, IDENTITY_FILE
from gitcoord.errors import InvalidInput
from gitcoord.git import run_plain
from gitcoord.validate import quoted


def check_agent_name(name: str) -> str:
    if not AGENT_NAME.fullmatch(name):
        raise InvalidInput(f"{quoted(name)} is not a valid agent name.",
                           hint="use 1-40 characters: lowercase letters, digits, '.', '_' or '-', "
                                "starting with a letter or digit.")
    return name


class Workspace:
    """A repository as gitcoord sees it before touching the coord branch.

    A plain class: generating dataclass methods would cost the hooks milliseconds.
    """

    def __init__(self, cwd: Path, git_dir: Path, common_dir: Path, top: Path | None,
                 gitconfig: dict[str, list[str]], table: dict[str, Any]) -> None:
        self.cwd, self.git_dir, self.common_dir = cwd, git_dir, common_dir
        self.top = top  # None in a bare repository
        self.gitconfig = gitconfig
        self.table = table  # .coord/config.toml as parsed, not yet validated

    @classmethod
    def open(cls, cwd: Path) -> Workspace:
        cwd = cwd.resolve()
        git_dir, common_dir, top = _repo_dirs(cwd)
        return cls(cwd, git_dir, common_dir, top, _git_config(cwd), _config_table(top))

    # -- settings ------------------------------------------------------------------

    def git_setting(self, key: str, default: str = "") -> str:
        """The last value of a git config key (keys as git lists them, lower-cased)."""
        return self.gitconfig.get(key, [default])[-1]

    def setting(self, section: str, key: str, default: Any) -> Any:
        """A value of `.coord/config.toml`; validation is `gitcoord.config`'s job."""
        value = self.table.get(section, {})
        return value.get(key, default) if isinstance(value, dict) else default

    @property
    def branch(self) -> str:
        return str(self.setting("coord", "branch", DEFAULT_BRANCH))

    def remote(self, wanted: str | None = None) -> str | None:
        """The remote of remote mode: the configured one, else origin, else None (local mode)."""
        wanted = wanted if wanted is not None else str(self.setting("coord", "remote", ""))
        if wanted:
            if f"remote.{wanted}.url" not in self.gitconfig:
                raise InvalidInput(f"the configured remote {quoted(wanted)} does not exist.",
                                   hint="fix coord.remote in .coord/config.toml or `git remote add`.")
            return wanted
        if self.top is None:
            return None  # a bare repository is where the coord branch lives, not a copy of it
        return "origin" if "remote.origin.url" in self.gitconfig else None

    @property
    def ignorecase(self) -> bool:
        return self.git_setting("core.ignorecase", "false").lower() == "true"

    # -- identity ----------------------------------------------------------------------

    def agent(self, explicit: str | None = None) -> str | None:
        """--agent, GITCOORD_AGENT, this worktree's `gitcoord start`, git config coord.agent."""
        name = (explicit or os.environ.get(AGENT_ENV) or self._remembered_agent()
                or self.git_setting("coord.agent"))
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


def _repo_dirs(cwd: Path) -> tuple[Path, Path, Path | None]:
    res = run_plain(cwd, "rev-parse", "--path-format=absolute", "--git-dir", "--git-common-dir",
                    "--is-bare-repository", "--show-toplevel")
    lines = res.stdout.decode(errors="surrogateescape").splitlines()
    # In a bare repository --show-toplevel fails after the first three answers.
    if len(lines) < 3 or (res.returncode != 0 and lines[2] != "true"):
        raise InvalidInput(f"{cwd} is not inside a git repository.",
                           hint="run gitcoord inside a clone or worktree, or `git init` first.")
    top = Path(lines[3]) if lines[2] == "false" and len(lines) > 3 else None
    return Path(lines[0]), Path(lines[1]), top


def _git_config(cwd: Path) -> dict[str, list[str]]:
    out = run_plain(cwd, "config", "-z", "--list").stdout.decode(errors="replace")
    values: dict[str, list[str]] = {}
    for item in out.split("\0"):
        key, _, value = item.partition("\n")
        if key:
            values.setdefault(key, []).append(value)
    return values


def _config_table(top: Path | None) -> dict[str, Any]:
    if top is None:
        return {}
    path = top / CONFIG_PATH
    try:
        return tomllib.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        return {}
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as exc:
        raise InvalidInput(f"{path} is not valid TOML: {exc}") from exc
