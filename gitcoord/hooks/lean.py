"""The light reader the commit hooks and the editor guard run on.

Hooks run on every commit, so this path imports neither GitPython nor pydantic (together they
cost several times the 80 ms budget of DESIGN's speed target): it reads the local copy of the
coord ref with two git processes, parses the claim files with `tomllib`, and answers "who claims
this path?" through `ResourceIndex`. Writes (an override record) and fetches go through the full
`Coordinator`, imported only when needed.
"""

from __future__ import annotations

import os
import subprocess
import tomllib
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from gitcoord.claims import Resource, ResourceIndex, parse_resource
from gitcoord.errors import GitcoordError, InvalidInput

MODES = ("off", "warn", "others", "strict")
# The variables a hook inherits that point git at the wrong place once we run elsewhere. Same list
# as gitcoord.git.scrub_hook_env, which cannot be imported here without GitPython.
_SCRUBBED_ENV = ("GIT_DIR", "GIT_WORK_TREE", "GIT_PREFIX", "GIT_COMMON_DIR")


def scrub_hook_env() -> None:
    """Drop GIT_* variables that would misdirect our git calls (keeps GIT_INDEX_FILE)."""
    for name in _SCRUBBED_ENV:
        os.environ.pop(name, None)


def run_git(cwd: Path, *args: str, input: bytes | None = None, timeout: float | None = None) -> bytes:
    """`git ARGS` in cwd; stdout, or GitcoordError naming the command and what git said."""
    try:
        res = subprocess.run(["git", *args], cwd=cwd, input=input, capture_output=True, timeout=timeout,
                             check=False)
    except (OSError, subprocess.TimeoutExpired) as exc:
        raise GitcoordError(f"git {' '.join(args)} could not run: {exc}") from exc
    if res.returncode != 0:
        said = res.stderr.decode(errors="replace").strip()
        raise GitcoordError(f"git {' '.join(args)} failed with exit code {res.returncode}: {said}")
    return res.stdout


@dataclass(frozen=True)
class HeldClaim:
    """The fields of a claim record the hooks need, read without pydantic."""

    id: str
    agent: str
    resource: str
    mode: str
    token: int
    message: str
    created_at: str
    last_check_in: str
    expires_at: datetime

    @classmethod
    def from_toml(cls, data: dict[str, Any]) -> HeldClaim:
        return cls(id=str(data["id"]), agent=str(data["agent"]), resource=str(data["resource"]),
                   mode=str(data.get("mode", "exclusive")), token=int(data["token"]),
                   message=str(data.get("message", "")), created_at=str(data.get("created_at", "")),
                   last_check_in=str(data.get("last_check_in", "")),
                   expires_at=_parse_time(data["expires_at"]))

    def describe(self) -> str:
        said = f', last said "{self.message}"' if self.message else ""
        until = self.expires_at.strftime("%Y-%m-%dT%H:%M:%SZ")
        return (f"{self.agent}'s {self.mode} claim {self.id} on {self.resource} (token {self.token}, "
                f"since {self.created_at}, until {until}, last check-in {self.last_check_in}{said})")


def _parse_time(value: Any) -> datetime:
    if isinstance(value, datetime):
        return value if value.tzinfo else value.replace(tzinfo=UTC)
    return datetime.fromisoformat(str(value).replace("Z", "+00:00"))


@dataclass
class LeanRepo:
    """One repository as the hooks see it: dirs, settings, identity, the local coord claims."""

    cwd: Path
    git_dir: Path = field(init=False)
    top: Path | None = field(init=False)
    gitconfig: dict[str, str] = field(init=False)
    settings: dict[str, Any] = field(init=False)

    def __post_init__(self) -> None:
        out = run_git(self.cwd, "rev-parse", "--path-format=absolute", "--git-dir", "--is-bare-repository")
        lines = out.decode().splitlines()
        self.git_dir = Path(lines[0])
        self.top = None
        if lines[1] == "false":
            self.top = Path(run_git(self.cwd, "rev-parse", "--show-toplevel").decode().strip())
        raw = run_git(self.cwd, "config", "-z", "--list").decode(errors="replace")
        self.gitconfig = {}
        for item in raw.split("\0"):
            key, _, value = item.partition("\n")
            if key:
                self.gitconfig[key] = value
        self.settings = _read_settings(self.top)

    def git(self, *args: str, input: bytes | None = None, timeout: float | None = None) -> bytes:
        return run_git(self.top or self.cwd, *args, input=input, timeout=timeout)

    # -- settings -----------------------------------------------------------------------

    def setting(self, section: str, key: str, default: Any) -> Any:
        return self.settings.get(section, {}).get(key, default)

    @property
    def branch(self) -> str:
        return str(self.setting("coord", "branch", "coord"))

    @property
    def remote(self) -> str | None:
        wanted = str(self.setting("coord", "remote", ""))
        if wanted:
            return wanted
        return "origin" if "remote.origin.url" in self.gitconfig else None

    @property
    def view_ref(self) -> str:
        """The local copy of the authoritative coord branch (Store.view_ref)."""
        remote = self.remote
        return f"refs/remotes/{remote}/{self.branch}" if remote else f"refs/heads/{self.branch}"

    @property
    def ignorecase(self) -> bool:
        return self.gitconfig.get("core.ignorecase", "false").lower() == "true"

    @property
    def grace(self) -> timedelta:
        return timedelta(minutes=float(self.setting("lease", "grace_minutes", 5)))

    def mode(self, explicit: str | None) -> str:
        """The enforcement mode: the one given at install time, else hooks.mode, else others."""
        mode = explicit or str(self.setting("hooks", "mode", "others"))
        if mode not in MODES:
            raise InvalidInput(f"unknown hooks mode {mode!r}.", hint=f"use one of {', '.join(MODES)}.")
        return mode

    # -- identity ---------------------------------------------------------------------------

    def agent(self) -> str | None:
        """GITCOORD_AGENT, the worktree identity of `gitcoord start`, git config coord.agent."""
        name = os.environ.get("GITCOORD_AGENT", "")
        if not name:
            try:
                name = (self.git_dir / "gitcoord" / "agent").read_text(encoding="utf-8").strip()
            except OSError:
                name = ""
        return name or self.gitconfig.get("coord.agent") or None

    # -- claims ---------------------------------------------------------------------------------

    def coord_tip(self) -> str | None:
        for ref in dict.fromkeys((self.view_ref, f"refs/heads/{self.branch}")):
            try:
                return self.git("rev-parse", "--verify", "--quiet", ref + "^{commit}").decode().strip()
            except GitcoordError:
                continue
        return None

    def records(self, directory: str, tip: str | None = None) -> list[dict[str, Any]]:
        """The parsed TOML records of one directory of the coord branch (malformed ones skipped)."""
        tip = tip or self.coord_tip()
        if tip is None:
            return []
        try:
            listing = self.git("ls-tree", "-z", f"{tip}:.coord/{directory}")
        except GitcoordError:
            return []  # no record of this kind was ever written
        shas = [entry.split(b"\t", 1)[0].split(b" ")[2] for entry in listing.split(b"\0") if entry]
        if not shas:
            return []
        blobs = self.git("cat-file", "--batch", input=b"".join(s + b"\n" for s in shas))
        found = []
        for data in _batch_bodies(blobs):
            try:
                found.append(tomllib.loads(data.decode()))
            except (ValueError, UnicodeDecodeError):
                continue  # a malformed record is the store's warning to give, not the hook's
        return found

    def claims(self, tip: str | None = None, *, now: datetime | None = None) -> list[HeldClaim]:
        """Claims on the coord branch at `tip` (default the local copy) that are not dead."""
        now = now or _now()
        grace = self.grace
        found = []
        for data in self.records("claims", tip):
            try:
                claim = HeldClaim.from_toml(data)
            except (ValueError, KeyError, TypeError):
                continue
            if now <= claim.expires_at + grace:
                found.append(claim)
        return found


def _now() -> datetime:
    now = datetime.now(UTC)
    skew = os.environ.get("GITCOORD_CLOCK_SKEW_SECONDS")
    return now + timedelta(seconds=float(skew)) if skew else now


def _read_settings(top: Path | None) -> dict[str, Any]:
    if top is None:
        return {}
    try:
        return tomllib.loads((top / ".coord" / "config.toml").read_text(encoding="utf-8"))
    except FileNotFoundError:
        return {}
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as exc:
        raise InvalidInput(f"{top / '.coord' / 'config.toml'} is not valid TOML: {exc}") from exc


def _batch_bodies(out: bytes) -> list[bytes]:
    """The contents of each object in `git cat-file --batch` output."""
    bodies = []
    pos = 0
    while pos < len(out):
        eol = out.index(b"\n", pos)
        header = out[pos:eol].split(b" ")
        pos = eol + 1
        if len(header) != 3:
            continue  # missing object
        size = int(header[2])
        bodies.append(out[pos:pos + size])
        pos += size + 1
    return bodies


class ClaimIndex:
    """Claims by the paths they cover, for the hooks' per-path question."""

    def __init__(self, claims: Sequence[HeldClaim], *, ignorecase: bool) -> None:
        items: list[tuple[Resource, HeldClaim]] = []
        for claim in claims:
            try:
                items.append((parse_resource(claim.resource), claim))
            except InvalidInput:
                continue
        self._index: ResourceIndex[HeldClaim] = ResourceIndex(items, ignorecase=ignorecase)

    def covering(self, path: str) -> list[HeldClaim]:
        return self._index.covering(path)


def staged_paths(repo: LeanRepo) -> list[str]:
    """Every path the commit touches: both sides of renames and copies, deletions too."""
    out = repo.git("diff", "--cached", "--name-status", "-z", "-M")
    return parse_name_status(out)


def parse_name_status(out: bytes) -> list[str]:
    """Paths of `git diff --name-status -z` output (a rename or copy gives two paths)."""
    fields = out.decode(errors="surrogateescape").split("\0")
    paths: list[str] = []
    i = 0
    while i < len(fields) and fields[i]:
        status = fields[i]
        count = 2 if status[:1] in ("R", "C") else 1
        paths.extend(fields[i + 1:i + 1 + count])
        i += 1 + count
    return list(dict.fromkeys(paths))
