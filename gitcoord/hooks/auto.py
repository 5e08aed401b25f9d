"""hooks.mode = "auto": claims that follow the work (issue 15).

The editor guard claims an unclaimed path for the agent on its first edit, and pre-commit the
commit's unclaimed paths, all or nothing, before the commit proceeds. A path the agent already
holds costs no write: the local read the hooks make anyway answers it, and a renewal is written
only once at most half a lease is left. A path another agent holds exclusively is refused
before this module is asked; a path under another agent's shared claim is left as it is (not
claimed: it is not free, and shared claims never stopped an edit).

This module stays as light as the rest of `gitcoord.hooks`: the `Coordinator` (pydantic,
GitPython) is imported only when something must be written, in `gitcoord.autoclaim`.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from datetime import datetime, timedelta
from typing import Any

from gitcoord.constants import DEFAULT_LEASE_MINUTES, GUARD_PROBE_ENV
from gitcoord.hooks.claims import ClaimIndex, HeldClaim
from gitcoord.hooks.lean import LeanRepo

AUTO_MODE = "auto"
AUTO_MESSAGE = "auto: first edit"
# The editors run the guard with a timeout (`integrate` writes 10 s), and an editor whose hook
# timed out lets the edit through: the guard's write must give up, and deny, well before that.
GUARD_WRITE_SECONDS = 7.0
_GLOB_CHARS = "*?["


class Needs:
    """What auto mode must write before some paths may be edited or committed."""

    __slots__ = ("claim", "renew")

    def __init__(self) -> None:
        self.claim: list[str] = []  # paths no live claim covers
        self.renew: dict[str, list[str]] = {}  # id of an own claim with half a lease left or less -> paths

    def __bool__(self) -> bool:
        return bool(self.claim or self.renew)

    def paths(self) -> list[str]:
        return list(dict.fromkeys([*self.claim, *(p for paths in self.renew.values() for p in paths)]))


def needs(
    paths: Sequence[str], index: ClaimIndex, agent: str | None, *, lease: timedelta, now: datetime
) -> Needs:
    """The claims and renewals `agent` needs for `paths`, from the local read alone."""
    found = Needs()
    for path in paths:
        holders = index.covering(path)
        mine = [c for c in holders if agent is not None and c.agent == agent]
        for claim in mine:
            if claim.expires_at - now <= lease / 2:
                found.renew.setdefault(claim.id, []).append(path)
        if not holders:
            found.claim.append(path)
    return found


def lease(repo: LeanRepo) -> timedelta:
    """The default lease of `.coord/config.toml` (validation is the config's job)."""
    try:
        minutes = float(repo.setting("lease", "minutes", DEFAULT_LEASE_MINUTES))
    except (TypeError, ValueError):
        minutes = DEFAULT_LEASE_MINUTES
    return timedelta(minutes=minutes)


def literal_resource(path: str) -> str:
    """The resource that names exactly the file `path`: glob characters in brackets, and a
    name that looks like `scheme:name` with its first letter in brackets, so `a*.py` and
    `db:x` claim those files rather than a pattern or a named resource."""
    text = "".join(f"[{ch}]" if ch in _GLOB_CHARS else ch for ch in path)
    head = text.split("/", 1)[0]
    if ":" in head and head[:1].isascii() and head[:1].islower():
        from gitcoord.errors import InvalidInput
        from gitcoord.resources import parse_resource

        try:
            named = parse_resource(text).kind == "named"
        except InvalidInput:
            named = False  # no resource at all: the write refuses it and says why
        if named:
            text = f"[{text[0]}]{text[1:]}"
    return text


class AutoFailed(Exception):
    """Auto mode could not write the claims it needed; `reason` says why, for the agent."""

    def __init__(self, paths: Sequence[str], agent: str | None, reason: str) -> None:
        shown = ", ".join(paths[:5]) + (f" and {len(paths) - 5} more" if len(paths) > 5 else "")
        who = f" for {agent}" if agent else ""
        super().__init__(f"auto mode could not claim {shown}{who}")
        self.head, self.reason = str(self), reason


def no_identity(paths: Sequence[str]) -> AutoFailed:
    return AutoFailed(
        paths,
        None,
        "there is no agent identity to claim them for. Name the agent, then retry: "
        "gitcoord start --agent NAME (remembered for this worktree), or set "
        "GITCOORD_AGENT=NAME",
    )


def write(repo: LeanRepo, agent: str | None, found: Needs, *, within: float | None = None) -> list[HeldClaim]:
    """Write what `found` needs in one coord commit; the claims written (new and renewed).

    Raises AutoFailed for anything that stops the write: no identity, bad input, another
    agent's claim the local copy had not seen yet, an unreachable remote, a bug, or no
    answer `within` seconds (the write may still land later: a claim nobody edits under
    is harmless, and the retry then finds it held).
    """
    if agent is None:
        raise no_identity(found.paths())
    from gitcoord.hooks.run import with_site

    with_site()  # the claim is written through the library (pydantic, tomli_w)
    outcome: list[Any] = []

    def attempt() -> None:
        try:
            from gitcoord.autoclaim import auto_claim

            outcome.append(
                auto_claim(repo.top or repo.cwd, agent, found.claim, found.renew, message=AUTO_MESSAGE)
            )
        except BaseException as exc:  # handed to the caller's thread
            outcome.append(exc)

    if within is None:
        attempt()
    else:
        import threading

        worker = threading.Thread(target=attempt, name="gitcoord-auto-claim", daemon=True)
        worker.start()
        worker.join(within)
    if not outcome:
        raise AutoFailed(
            found.paths(),
            agent,
            f"the coord store gave no answer within {within:.0f} s (a slow or unreachable remote)",
        )
    result = outcome[0]
    if isinstance(result, BaseException):  # whatever stopped it, the edit or commit must not go ahead
        render = getattr(result, "render", None)
        raise AutoFailed(found.paths(), agent, render() if callable(render) else str(result)) from result
    return [HeldClaim.from_toml(data) for data in result]


def edit_denial(
    repo: LeanRepo, agent: str | None, paths: Sequence[str], index: ClaimIndex, now: datetime
) -> str | None:
    """The guard in auto mode, once no other agent's claim stands in the way: None allows the
    edit (after claiming what it needed), a reason denies it."""
    found = needs(paths, index, agent, lease=lease(repo), now=now)
    if not found or os.environ.get(GUARD_PROBE_ENV):
        return None  # nothing to write, or doctor's probe: an edit nobody makes claims nothing
    try:
        write(repo, agent, found, within=GUARD_WRITE_SECONDS)
    except AutoFailed as exc:
        return (
            f"gitcoord: {exc.head}, so this edit is denied: {exc.reason}\n"
            "Retry the edit (it claims the path again), or claim it yourself first: "
            f'gitcoord claim {literal_resource(found.paths()[0])} -m "why".'
        )
    return None


def commit_claims(
    repo: LeanRepo, agent: str, paths: Sequence[str], index: ClaimIndex
) -> list[HeldClaim] | None:
    """pre-commit in auto mode, once no other agent's claim stops the commit: the claims
    written for its paths ([] when none was needed), or None after saying why the commit
    is refused."""
    import sys

    from gitcoord.clock import wall_clock

    found = needs(paths, index, agent, lease=lease(repo), now=wall_clock())
    if not found:
        return []
    try:
        return write(repo, agent, found)
    except AutoFailed as exc:
        sys.stderr.write(
            f"gitcoord: commit refused: {exc.head}: {exc.reason}\n"
            "hint: retry the commit (it claims them again), or claim them first: gitcoord claim PATH...\n"
            "hint: to commit without the check (verify and the server still check): "
            "git commit --no-verify\n"
        )
        return None
