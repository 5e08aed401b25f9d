"""pre-commit and prepare-commit-msg: staged paths against the live claims (DESIGN §6).

pre-commit refuses (exit 1) a commit that touches a path under another agent's live exclusive
claim (mode `others`), or in mode `strict` also a path the committing agent has not claimed.
In mode `auto` it first claims the commit's unclaimed paths for the agent (gitcoord.hooks.auto).
`GITCOORD_OVERRIDE="reason" git commit` lets it through and records the override on the coord
branch; prepare-commit-msg then adds the `Coord-Override:` trailer next to `Coord-Agent:` and
`Coord-Claim: ID@TOKEN`.
"""

from __future__ import annotations

import contextlib
import os
import sys
import time
from collections.abc import Sequence
from pathlib import Path

from gitcoord.cache import RecordsUnreadable
from gitcoord.constants import HANDOFF_HEADER, STATE_DIR
from gitcoord.errors import GitcoordError, InvalidInput
from gitcoord.git import parse_trailers
from gitcoord.hooks.claims import ClaimIndex, HeldClaim
from gitcoord.hooks.lean import LeanRepo, is_committer, override_ids, staged_paths
from gitcoord.hooks.run import Started

OVERRIDE_ENV = "GITCOORD_OVERRIDE"


class Problem:
    """One staged path the commit may not touch; `holder` is None for "unclaimed" (strict)."""

    __slots__ = ("holder", "path")

    def __init__(self, path: str, holder: HeldClaim | None) -> None:
        self.path, self.holder = path, holder

    def describe(self) -> str:
        if self.holder is None:
            return f"{self.path}: you hold no claim on it (strict mode)"
        return f"{self.path}: {self.holder.describe()}"


def find_problems(paths: Sequence[str], index: ClaimIndex, agent: str | None, mode: str) -> list[Problem]:
    """The staged paths the rules of `mode` refuse for `agent` (None: a human with no claims)."""
    problems: list[Problem] = []
    for path in paths:
        holders = index.covering(path)
        others = [c for c in holders if c.agent != agent and c.mode == "exclusive"]
        if others:
            problems.extend(Problem(path, c) for c in others)
        elif mode == "strict" and not any(c.agent == agent for c in holders):
            problems.append(Problem(path, None))
    return problems


def refusal(problems: Sequence[Problem], agent: str | None) -> str:
    """The message a refused commit prints: file, holder, since, until, last words, next step."""
    lines = [f"gitcoord: commit refused for {agent or 'a human (no agent identity)'}:"]
    lines += ["  " + p.describe() for p in problems]
    held = [p for p in problems if p.holder is not None]
    if held:
        first = held[0].holder
        assert first is not None
        lines.append(
            f'hint: ask for it: gitcoord request-help --to {first.agent} --resource {first.resource} "..."; '
            f"or wait for it: gitcoord claim {first.resource} --wait 600; or unstage it: "
            f"git restore --staged {held[0].path}"
        )
    if any(p.holder is None for p in problems):
        lines.append("hint: claim what you change first: gitcoord claim PATH...")
    lines.append(
        f'hint: to go ahead anyway (recorded on the coord branch): {OVERRIDE_ENV}="reason" git commit ...'
    )
    return "\n".join(lines)


def run_pre_commit(repo: LeanRepo, mode: str, started: Started | None = None) -> int:
    """The pre-commit hook: 0 lets the commit through, 1 refuses it (`started`: its `git diff`,
    started before the imports by gitcoord.hooks.run)."""
    if mode == "off":
        return 0
    # The claims first, read while the staged paths' `git diff-index` (started early) runs; but a
    # fetch (hooks.fetch) waits until there is something to judge.
    early = None if _fetches(repo) else _read_claims(repo)
    paths = staged_paths(repo, started)
    if not paths:
        return 0
    index = early if early is not None else _read_claims(repo)
    if isinstance(index, RecordsUnreadable):
        return _unreadable(index, mode)
    agent = repo.agent()
    problems = find_problems(paths, index, agent, mode)
    claims = index.claims_of(agent) if agent else []  # the trailers name the agent's own only
    if mode == "auto" and agent and not problems:
        from gitcoord.hooks.auto import commit_claims

        written = commit_claims(repo, agent, paths, index)
        if written is None:
            return 1
        claims = [*claims, *written]
    verdict, override_id = _verdict(repo, agent, problems, mode)
    if verdict == 0:
        hand_off_trailers(
            repo, commit_trailers(agent, claims, paths, ignorecase=repo.ignorecase, override_id=override_id)
        )
    return verdict


def _unreadable(exc: RecordsUnreadable, mode: str) -> int:
    """Claims that exist but cannot be read: refuse (mode warn: say so and let it through)."""
    if mode == "warn":
        sys.stderr.write(f"gitcoord: warning (mode warn, not refused): {exc.render()}\n")
        return 0
    sys.stderr.write(
        f"gitcoord: commit refused: the claims cannot be checked: {exc.render()}\n"
        "hint: to commit without the check (verify and the server still check): "
        "git commit --no-verify\n"
    )
    return 1


def _verdict(repo: LeanRepo, agent: str | None, problems: Sequence[Problem], mode: str) -> tuple[int, str]:
    """(exit code, id of the recorded override or "")."""
    if not problems:
        return 0, ""
    message = refusal(problems, agent)
    if mode == "warn":
        sys.stderr.write(message.replace("commit refused", "warning (mode warn, not refused)") + "\n")
        return 0, ""
    reason = os.environ.get(OVERRIDE_ENV, "").strip()
    if reason:
        error_id = record_override(repo, agent, problems, reason)
        sys.stderr.write(f"gitcoord: override recorded as {error_id}: {reason}\n")
        return 0, error_id
    sys.stderr.write(message + "\n")
    return 1, ""


def _read_claims(repo: LeanRepo) -> ClaimIndex | RecordsUnreadable:
    """The claim index, or why the claims cannot be read (said only if there is a path to judge)."""
    try:
        return _claim_index(repo)
    except RecordsUnreadable as exc:
        return exc


def _fetches(repo: LeanRepo) -> bool:
    """Does a check fetch the coord branch first (`hooks.fetch`, remote mode)?"""
    return bool(repo.setting("hooks", "fetch", False) and repo.remote)


def _claim_index(repo: LeanRepo) -> ClaimIndex:
    if _fetches(repo):
        fetch_coord(repo)
    return repo.claim_index()


def fetch_coord(repo: LeanRepo) -> None:
    """Refresh the local copy of the coord ref (hooks.fetch = true), within a short timeout."""
    timeout = float(repo.setting("hooks", "fetch_timeout_seconds", 3))
    ref = f"refs/heads/{repo.branch}"
    try:
        repo.git(
            "fetch",
            "--no-tags",
            "--no-write-fetch-head",
            "--quiet",
            str(repo.remote),
            f"+{ref}:refs/remotes/{repo.remote}/{repo.branch}",
            timeout=timeout,
        )
    except GitcoordError as exc:
        sys.stderr.write(
            f"gitcoord: warning: could not fetch the coord branch ({exc}); using the local copy.\n"
        )


def record_override(repo: LeanRepo, agent: str | None, problems: Sequence[Problem], reason: str) -> str:
    """Write the override as one `conflict` error record on the coord branch; its id.

    The record is the library's (`Coordinator.record_override`): the hook only says which
    paths and claims it overrode.
    """
    from gitcoord.hooks.run import with_site

    with_site()
    from gitcoord.coordinator import Coordinator

    holders = sorted({f"{p.holder.id} ({p.holder.agent})" for p in problems if p.holder})
    with Coordinator(repo.top or repo.cwd) as coord:
        return coord.record_override([p.path for p in problems], holders, reason, actor=agent)


# -- prepare-commit-msg -----------------------------------------------------------------


def commit_trailers(
    agent: str | None,
    claims: Sequence[HeldClaim],
    paths: Sequence[str],
    *,
    ignorecase: bool,
    override_id: str = "",
) -> list[tuple[str, str]]:
    """Coord-Agent, a Coord-Claim per own claim covering a path, and Coord-Override when set.

    The override trailer names the error record pre-commit wrote for it
    (`Coord-Override: E-12 reason`): `verify` accepts only an override on record.
    """
    trailers: list[tuple[str, str]] = []
    if agent:
        trailers.append(("Coord-Agent", agent))
        own = [c for c in claims if c.agent == agent]
        mine: dict[str, HeldClaim] = {}
        if own:  # none: no path to match
            index = ClaimIndex(own, ignorecase=ignorecase)
            for path in paths:
                for claim in index.covering(path):
                    mine.setdefault(claim.id, claim)
        trailers += [("Coord-Claim", f"{c.id}@{c.token}") for c in mine.values()]
    reason = " ".join(os.environ.get(OVERRIDE_ENV, "").split())
    if reason:
        trailers.append(("Coord-Override", f"{override_id} {reason}" if override_id else reason))
    return trailers


def trailer_options(trailers: Sequence[tuple[str, str]]) -> list[str]:
    """`git interpret-trailers` options that add the trailers; an amend never duplicates them."""
    options: list[str] = []
    for key, value in trailers:
        # One agent per commit (the latest amend wins); claims accumulate without repeats.
        how = "replace" if key == "Coord-Agent" else "addIfDifferent"
        options += ["--if-exists", how, "--trailer", f"{key}: {value}"]
    return options


def handoff_path(repo: LeanRepo, commit_pid: int) -> Path:
    """Where pre-commit leaves the trailers for the prepare-commit-msg of the same `git commit`."""
    return repo.git_dir / STATE_DIR / f"trailers.{commit_pid}"


def hand_off_trailers(repo: LeanRepo, trailers: Sequence[tuple[str, str]]) -> None:
    """Save the trailers for prepare-commit-msg, one option per line.

    Both hooks are children of one `git commit` process, so its pid names the
    hand-off: the installed prepare-commit-msg (a shell script) applies the file
    named by its own $PPID and skips starting Python a second time. When
    pre-commit did not run (`--no-verify`), there is no file and it falls back
    to `run_prepare_commit_msg`.
    """
    options = trailer_options(trailers)
    if any("\n" in option for option in options):
        return  # cannot be written one per line; the fallback computes them again
    path = handoff_path(repo, repo.git_pid)
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        _drop_stale_handoffs(path.parent)
        path.write_text("".join(f"{line}\n" for line in (HANDOFF_HEADER, *options)), encoding="utf-8")
    except OSError:
        pass  # the fallback still adds the trailers, only slower


def _drop_stale_handoffs(directory: Path) -> None:
    """Remove hand-offs a commit aborted before using, so a reused pid never picks one up."""
    now = time.time()
    with os.scandir(directory) as entries:
        for old in entries:
            with contextlib.suppress(OSError):
                if old.name.startswith("trailers.") and now - old.stat().st_mtime > 60:
                    os.unlink(old.path)


def run_prepare_commit_msg(repo: LeanRepo, args: Sequence[str]) -> int:
    """Add the trailers to the message file in place (the path without the shell fast path)."""
    if not args:
        raise InvalidInput("prepare-commit-msg needs the message file as its first argument.")
    options = _handed_off(repo)
    if options is None:
        paths = staged_paths(repo)
        agent = repo.agent()
        try:
            claims = repo.claims() if agent else []
        except RecordsUnreadable as exc:
            # Only reached past pre-commit (--no-verify, a hook manager): the commit goes ahead
            # without Coord-Claim trailers, which verify then judges against the claims.
            sys.stderr.write(f"gitcoord: warning: no Coord-Claim trailers added: {exc.message}\n")
            claims = []
        options = trailer_options(
            commit_trailers(
                agent, claims, paths, ignorecase=repo.ignorecase, override_id=_recorded_override(repo, agent)
            )
        )
    if options:
        repo.git("interpret-trailers", "--in-place", *options, str(Path(args[0]).resolve()))
    return 0


def _handed_off(repo: LeanRepo) -> list[str] | None:
    """The trailer options pre-commit left for this `git commit`, consumed; None if there are none."""
    path = handoff_path(repo, repo.git_pid)
    try:
        lines = path.read_text(encoding="utf-8").splitlines()
    except OSError:
        return None
    with contextlib.suppress(OSError):
        path.unlink()
    if lines[:1] != [HANDOFF_HEADER]:  # used already (emptied by the shell), or not ours
        return None
    return lines[1:]


def _recorded_override(repo: LeanRepo, agent: str | None) -> str:
    """The id of the override pre-commit recorded for this commit, when the hand-off is not
    available (a hook manager runs the hooks from different processes): the newest override
    on the coord branch by this committer with this reason."""
    reason = " ".join(os.environ.get(OVERRIDE_ENV, "").split())
    tip = repo.coord_tip() if reason else None
    if tip is None:
        return ""
    out = repo.git("log", "-20", "-z", "--format=%B", "--grep=^Coord-Action: override$", tip)
    for body in out.decode(errors="replace").split("\0"):
        trailers = {key: values[-1] for key, values in parse_trailers(body).items()}
        if trailers.get("Coord-Override") == reason and is_committer(trailers.get("Coord-Agent", ""), agent):
            return next(iter(override_ids(trailers.get("Coord-Records", ""))), "")
    return ""
