"""The light reader the commit hooks and the editor guard run on.

Hooks run on every commit, so this path imports neither GitPython nor pydantic (together they
cost several times the 80 ms budget of DESIGN's speed target): it reads the local copy of the
coord ref with two git processes, parses the claim files with `tomllib`, and answers "who claims
this path?" through `ResourceIndex`. Writes (an override record) and fetches go through the full
`Coordinator`, imported only when needed.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import tomllib
from collections.abc import Sequence
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


class HeldClaim:
    """The fields of a claim record the hooks need, read without pydantic.

    A plain class, not a dataclass: generating dataclass methods costs milliseconds at import.
    """

    __slots__ = ("agent", "created_at", "expires_at", "id", "last_check_in", "message", "mode", "resource",
                 "token")

    def __init__(self, *, id: str, agent: str, resource: str, mode: str, token: int, message: str,
                 created_at: str, last_check_in: str, expires_at: datetime) -> None:
        self.id, self.agent, self.resource, self.mode, self.token = id, agent, resource, mode, token
        self.message, self.created_at, self.last_check_in = message, created_at, last_check_in
        self.expires_at = expires_at

    def __repr__(self) -> str:
        return f"HeldClaim({self.id} {self.agent} {self.resource} {self.mode} token={self.token})"

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


class LeanRepo:
    """One repository as the hooks see it: dirs, settings, identity, the local coord claims."""

    def __init__(self, cwd: Path) -> None:
        self.cwd = cwd
        # One process for every answer; --show-toplevel fails last, and only in a bare repository.
        res = subprocess.run(["git", "rev-parse", "--path-format=absolute", "--git-dir", "--is-bare-repository",
                              "--show-toplevel"], cwd=self.cwd, capture_output=True, check=False)
        lines = res.stdout.decode(errors="surrogateescape").splitlines()
        if len(lines) < 2 or (res.returncode != 0 and lines[1] != "true"):
            raise InvalidInput(f"{self.cwd} is not inside a git repository.",
                               hint="run gitcoord inside a clone or worktree.")
        self.git_dir = Path(lines[0])
        self.top = Path(lines[2]) if lines[1] == "false" and len(lines) > 2 else None
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
        for ref in self._coord_refs():
            try:
                return self.git("rev-parse", "--verify", "--quiet", ref + "^{commit}").decode().strip()
            except GitcoordError:
                continue
        return None

    def _coord_refs(self) -> list[str]:
        return list(dict.fromkeys((self.view_ref, f"refs/heads/{self.branch}")))

    def records(self, directory: str, tip: str | None = None) -> list[dict[str, Any]]:
        """The parsed TOML records of one directory of the coord branch (malformed ones skipped).

        One `git cat-file --batch` process reads the directory's tree, then every blob in it.
        """
        names = [tip] if tip else self._coord_refs()
        proc = subprocess.Popen(["git", "cat-file", "--batch"], cwd=self.top or self.cwd,
                                stdin=subprocess.PIPE, stdout=subprocess.PIPE)
        assert proc.stdin is not None and proc.stdout is not None
        try:
            tree = None
            for name in names:
                proc.stdin.write(f"{name}:.coord/{directory}\n".encode())
                proc.stdin.flush()
                tree = _read_batch(proc.stdout)
                if tree is not None:
                    break
            if tree is None or tree[0] != b"tree":
                return []
            cached = self._cached(directory, tree[2])
            if cached is not None:
                return cached
            shas = _tree_blob_shas(tree[1])
            proc.stdin.write(b"".join(sha + b"\n" for sha in shas))
            proc.stdin.close()
            blobs = [_read_batch(proc.stdout) for _ in shas]
        finally:
            if not proc.stdin.closed:
                proc.stdin.close()
            proc.stdout.close()
            proc.wait()
        found = []
        for blob in blobs:
            if blob is None:
                continue
            try:
                found.append(parse_toml_record(blob[1]))
            except (ValueError, UnicodeDecodeError):
                continue  # a malformed record is the store's warning to give, not the hook's
        self._cache(directory, tree[2], found)
        return found

    # A tree id names its contents exactly, so the parsed records of a tree never go stale: the
    # next commit under the same claims reads one JSON file instead of a thousand blobs.
    def _cache_path(self, directory: str) -> Path:
        return self.git_dir / "gitcoord" / f"{directory}-cache.json"

    def _cached(self, directory: str, tree_id: str) -> list[dict[str, Any]] | None:
        try:
            data = json.loads(self._cache_path(directory).read_text(encoding="utf-8"))
        except (OSError, ValueError):
            return None
        if not isinstance(data, dict) or data.get("tree") != tree_id or not isinstance(data.get("records"), list):
            return None
        return list(data["records"])

    def _cache(self, directory: str, tree_id: str, records: list[dict[str, Any]]) -> None:
        path = self._cache_path(directory)
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            tmp = path.with_name(f".{path.name}.{os.getpid()}")
            tmp.write_text(json.dumps({"tree": tree_id, "records": records}, default=str), encoding="utf-8")
            os.replace(tmp, path)
        except OSError:
            pass  # a cache we cannot write only costs time

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


def _read_batch(stream: Any) -> tuple[bytes, bytes, str] | None:
    """(type, contents, id) of the next `git cat-file --batch` answer; None for a missing object."""
    header = stream.readline().rstrip(b"\n").split(b" ")
    if len(header) != 3:
        return None
    data = stream.read(int(header[2]))
    stream.read(1)
    return header[1], data, header[0].decode()


def _tree_blob_shas(data: bytes) -> list[bytes]:
    """Hex ids of the blobs of a raw tree object (`<mode> <name>\\0<20-byte id>` entries)."""
    shas = []
    pos = 0
    while pos < len(data):
        nul = data.index(b"\0", pos)
        mode = data[pos:data.index(b" ", pos)]
        if not mode.startswith(b"4"):  # 40000 is a subtree
            shas.append(data[nul + 1:nul + 21].hex().encode())
        pos = nul + 21
    return shas


_SIMPLE_LINE = re.compile(r'([A-Za-z0-9_-]+) = (-?[0-9]+|"(?:[^"\\]|\\.)*"|true|false)')


def parse_toml_record(data: bytes) -> dict[str, Any]:
    """Parse a record file. The flat `key = "string" | int | bool` lines tomli-w writes for claims
    take a fast path (tomllib costs ~0.1 ms a file, too much for 1,000 claims in a hook); any
    other shape goes to tomllib."""
    text = data.decode()
    out: dict[str, Any] = {}
    for line in text.splitlines():
        match = _SIMPLE_LINE.fullmatch(line)
        if match is None or "\\U" in line:
            if line.strip() and not line.lstrip().startswith("#"):
                return tomllib.loads(text)
            continue
        key, value = match.groups()
        if value[0] == '"':
            out[key] = json.loads(value)  # TOML basic strings without \\U are JSON strings
        elif value in ("true", "false"):
            out[key] = value == "true"
        else:
            out[key] = int(value)
    return out


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
