"""The light reader the commit hooks and the editor guard run on.

Hooks run on every commit, so this path imports neither GitPython nor pydantic (together they
cost several times the 80 ms budget of DESIGN's speed target): it reads the local copy of the
coord ref with one `git cat-file --batch` (none while the ref names the commit the saved claim
index was read from), parses the claim files with `tomllib`, and answers "who claims this path?"
through `hooks.claims.ClaimIndex`. Writes (an override record) and fetches go through the full
`Coordinator`, imported only when needed.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Sequence
from datetime import datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar

from gitcoord.cache import ParsedTrees, is_file, records_unreadable
from gitcoord.clock import wall_clock
from gitcoord.constants import CACHE_DIR, DEFAULT_GRACE_MINUTES, DEFAULT_HOOKS_MODE, HOOK_MODES
from gitcoord.errors import InvalidInput
from gitcoord.git import CatFile, ObjectUnreadable, is_object_id, parse_tree, run_plain
from gitcoord.git import scrub_hook_env as scrub_hook_env
from gitcoord.hooks.claims import ClaimIndex, HeldClaim, SavedIndex
from gitcoord.hooks.parent import parent_pid
from gitcoord.hooks.run import FIRST_STAGED_ARGS, STAGED_ARGS, Started
from gitcoord.workspace import Workspace, view_ref

if TYPE_CHECKING:
    from gitcoord.kept import SavedWorkspace

MODES = HOOK_MODES
T = TypeVar("T")
_LOOSE_REF_MAX = 4096  # bytes: a loose ref holds one object id (or `ref: NAME`)
# Set in each child of the hooks' warm server (`warm.child`): what `rev-parse` and `git config`
# answered the previous call from the same place, kept in the server's runtime directory.
KEPT: SavedWorkspace | None = None


class LeanRepo:
    """One repository as the hooks see it: the `Workspace`, plus the local coord claims."""

    def __init__(self, cwd: Path) -> None:
        # The git process that runs this hook: pre-commit and prepare-commit-msg of one `git commit`
        # meet by its pid (a served call's parent is the server: `hooks.parent`).
        self.git_pid = parent_pid()
        self.workspace = Workspace.open(cwd) if KEPT is None else KEPT.open(cwd)
        self.cwd, self.git_dir, self.top = self.workspace.cwd, self.workspace.git_dir, self.workspace.top
        self.cache = ParsedTrees(self.workspace.common_dir / CACHE_DIR)

    def git(self, *args: str, input: bytes | None = None, timeout: float | None = None) -> bytes:
        """`git ARGS` in the work tree; stdout, or GitFailed naming the command and what git said."""
        return run_plain(self.top or self.cwd, *args, input=input, timeout=timeout).check(args)

    def setting(self, section: str, key: str, default: Any) -> Any:
        return self.workspace.setting(section, key, default)

    @property
    def branch(self) -> str:
        return self.workspace.branch

    @property
    def remote(self) -> str | None:
        return self.workspace.remote()

    @property
    def view_ref(self) -> str:
        return view_ref(self.branch, self.remote)

    @property
    def ignorecase(self) -> bool:
        return self.workspace.ignorecase

    @property
    def grace(self) -> timedelta:
        return timedelta(minutes=float(self.setting("lease", "grace_minutes", DEFAULT_GRACE_MINUTES)))

    def mode(self, explicit: str | None) -> str:
        """The enforcement mode: the one given at install time, else hooks.mode, else others."""
        mode = explicit or str(self.setting("hooks", "mode", DEFAULT_HOOKS_MODE))
        if mode not in MODES:
            raise InvalidInput(f"unknown hooks mode {mode!r}.", hint=f"use one of {', '.join(MODES)}.")
        return mode

    def agent(self) -> str | None:
        """GITCOORD_AGENT, the worktree identity of `gitcoord start`, git config coord.agent."""
        return self.workspace.agent()

    def coord_tip(self) -> str | None:
        for ref in self._coord_refs():
            res = run_plain(self.cwd, "rev-parse", "--verify", "--quiet", ref + "^{commit}")
            if res.returncode == 0:
                return res.stdout.decode().strip()
        return None

    def _coord_refs(self) -> list[str]:
        return list(dict.fromkeys((self.view_ref, f"refs/heads/{self.branch}")))

    def records(self, directory: str, tip: str | None = None) -> list[dict[str, Any]]:
        """The parsed TOML records of one directory of the coord branch (malformed ones skipped).

        One `git cat-file --batch` process reads the directory's tree, then every blob in it.
        A record git cannot produce raises `RecordsUnreadable`: the hooks refuse rather than
        judge a commit against claims they could not see.
        """
        names = [tip] if tip else self._coord_refs()
        return self._directory(directory, names, lambda _tree, read, _first: read(), [])

    def claims(self, tip: str | None = None, *, now: datetime | None = None) -> list[HeldClaim]:
        """Claims on the coord branch at `tip` (default the local copy) that are not dead."""
        return self.claim_index(tip, now=now).claims()

    def claim_index(self, tip: str | None = None, *, now: datetime | None = None) -> ClaimIndex:
        """The live claims on the coord branch at `tip` (default the local copy), by path.

        Every well-formed claim of a claims tree and their index by path are saved in
        `CLAIMS_INDEX`, keyed by the tree's id (so they cannot go stale): an unchanged tree costs
        one file read, not a parse of every record and every resource, and a claim is built only
        when a path asks for it. The saved index also names the commit the tree was read from:
        while the coord ref's loose file names that commit (`_loose_commit`), no git process runs
        at all. Which claims are dead is decided at `now`, never saved.
        """
        now = now or wall_clock()
        grace = self.grace
        saved = SavedIndex(self.cache.root, ignorecase=self.ignorecase)
        names = [tip] if tip else self._coord_refs()
        commit = "" if tip else self._loose_commit(names[0])
        index = saved.load(commit=commit) if commit else None
        if index is None:
            # By the commit the loose file named, not the ref: a ref moved meanwhile must not
            # have its tree saved under the commit read before. (Messages still name the ref.)
            shown, names = names, [commit, *names[1:]] if commit else names

            def use(tree: str, read: Callable[[], list[dict[str, Any]]], first: bool) -> ClaimIndex:
                found = saved.load(tree=tree)
                if found is None:
                    held = []
                    for data in read():
                        try:
                            held.append(HeldClaim.from_toml(data))
                        except (ValueError, KeyError, TypeError):
                            continue
                    found = ClaimIndex(held, ignorecase=self.ignorecase)
                    saved.save(tree, found, commit if first else "")
                elif first and commit:
                    saved.remember(commit)
                return found

            empty = ClaimIndex([], ignorecase=self.ignorecase)
            index = self._directory("claims", names, use, empty, shown)
        index.alive = lambda claim: now <= claim.expires_at + grace
        return index

    def _loose_commit(self, ref: str) -> str:
        """What `ref` names, read from its loose file as git would read it there: refs in files
        (not reftable), no namespace, and a loose file (when there is none, the ref may be in
        `packed-refs`: git is asked). "" when this cannot tell."""
        if os.environ.get("GIT_NAMESPACE"):
            return ""
        if self.workspace.git_setting("extensions.refstorage", "files").lower() != "files":
            return ""
        try:
            with open(self.workspace.common_dir / ref, "rb") as file:
                text = file.read(_LOOSE_REF_MAX)
        except OSError:
            return ""
        oid = text.rstrip(b"\n").decode("ascii", "replace")
        return oid if is_object_id(oid) else ""

    def _directory(
        self,
        directory: str,
        names: Sequence[str],
        use: Callable[[str, Callable[[], list[dict[str, Any]]], bool], T],
        empty: T,
        shown: Sequence[str] = (),
    ) -> T:
        """What `use` makes of one directory of the first of `names` that has it, given its tree
        id, a reader of its parsed records and whether it came from `names[0]` (`empty` when
        none has such a directory). `shown`: what a message calls each name (default the name)."""
        where = self.top or self.cwd
        reader = CatFile(where)
        try:
            try:
                answers = reader.read([f"{n}:.coord/{directory}" for n in names])
                first, tree = next(((n, found) for n, found in enumerate(answers) if found), (-1, None))
            except ObjectUnreadable as exc:
                said = dict(zip(names, shown or names, strict=True))
                name, colon, path = exc.name.partition(":")
                unreadable = f"{said.get(name, name)}{colon}{path}"
                raise records_unreadable(where, f".coord/{directory}", unreadable) from exc
            if tree is None or tree[1] != "tree":
                return empty
            listing, tree_id = tree[2], tree[0]

            def read() -> list[dict[str, Any]]:
                entries = {name: e.sha for name, e in parse_tree(listing, tree_id).items() if is_file(e.mode)}
                parsed, _ = self.cache.read(
                    f".coord/{directory}",
                    tree_id,
                    lambda: entries,
                    lambda shas: _read_files(reader, where, directory, entries, shas),
                )
                # A malformed record is the store's warning to give, not the hook's.
                return list(parsed.values())

            return use(tree_id, read, first == 0)
        finally:
            reader.close()


def _read_files(
    reader: CatFile, where: Path, directory: str, entries: dict[str, str], shas: Sequence[str]
) -> list[bytes]:
    """The contents of the blobs of one coord directory; RecordsUnreadable for any git cannot produce."""
    names = {sha: name for name, sha in entries.items()}
    try:
        found = reader.read(list(shas))
    except ObjectUnreadable as exc:
        raise records_unreadable(
            where, f".coord/{directory}/{names.get(exc.name, exc.name)}", exc.name
        ) from exc
    for sha, item in zip(shas, found, strict=True):
        if item is None or item[1] != "blob":
            raise records_unreadable(where, f".coord/{directory}/{names.get(sha, sha)}", sha)
    return [item[2] for item in found if item is not None]


def staged_paths(repo: LeanRepo, started: Started | None = None) -> list[str]:
    """Every path the commit touches: both sides of renames and copies, deletions too.

    `started`: the same `git diff` the hook started early (gitcoord.hooks.run), used when it ran
    in the work tree's top directory, where this one would run.
    """
    if started is not None and repo.top is not None and os.path.samefile(started[0], repo.top):
        result = started[1]()
    else:
        result = run_plain(repo.top or repo.cwd, *STAGED_ARGS)
    if result.returncode != 0:  # no HEAD yet; anything else fails again, and says why
        return parse_name_status(repo.git(*FIRST_STAGED_ARGS))
    return parse_name_status(result.stdout)


def parse_name_status(out: bytes) -> list[str]:
    """Paths of `git diff --name-status -z` output (a rename or copy gives two paths)."""
    fields = out.decode(errors="surrogateescape").split("\0")
    paths: list[str] = []
    i = 0
    while i < len(fields) and fields[i]:
        status = fields[i]
        count = 2 if status[:1] in ("R", "C") else 1
        paths.extend(fields[i + 1 : i + 1 + count])
        i += 1 + count
    return list(dict.fromkeys(paths))


# -- overrides: what pre-commit writes and verify accepts ------------------------------------


def override_ids(records: str) -> list[str]:
    """The error-record ids in a `Coord-Records` trailer value (an override commit names its record)."""
    return [r.strip() for r in records.split(",") if r.strip().startswith("E-")]


def is_committer(actor: str, agent: str | None) -> bool:
    """Is `actor` (who wrote an override) the one committing as `agent`? No agent: any person."""
    return actor == agent if agent else actor.startswith("human:")
