"""`verify REVRANGE`, pre-push and pre-receive: every commit of a range against the claims.

A commit violates the claims when a path it touches (both sides of a rename, deletions too) is
under a live exclusive claim of another agent than the commit's `Coord-Agent:` (no trailer: a
human with no claims), or when a `Coord-Claim: ID@TOKEN` it carries was superseded by a takeover:
that claim is gone and another agent's claim with a higher token covers the path. A commit with a
`Coord-Override:` trailer whose override is recorded on the coord branch is reported, not refused.
This is what CI and a server-side pre-receive hook run, so `git commit --no-verify` is caught.
"""

from __future__ import annotations

import os
import re
import sys
import tomllib
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from functools import cache
from typing import Any, NamedTuple

from gitcoord.cache import records_unreadable
from gitcoord.errors import GitcoordError, InvalidInput
from gitcoord.git import is_zero_oid, parse_trailers, run_plain
from gitcoord.hooks.claims import ClaimIndex, HeldClaim
from gitcoord.hooks.lean import LeanRepo, is_committer, override_ids, parse_name_status
from gitcoord.overlap import covers
from gitcoord.resources import parse_resource
from gitcoord.validate import quoted

_TOKEN = re.compile(r"([A-Z])-(\d+)@(\d+)")


@dataclass(frozen=True)
class Violation:
    commit: str
    path: str
    agent: str | None
    kind: str  # "claimed" or "stale_token"
    holder: HeldClaim
    token: int | None = None  # the commit's superseded token (stale_token)

    def as_dict(self) -> dict[str, Any]:
        return {
            "commit": self.commit,
            "path": self.path,
            "committed_by": self.agent,
            "kind": self.kind,
            "holder": self.holder.agent,
            "claim": self.holder.id,
            "holder_token": self.holder.token,
            "token": self.token,
        }

    def describe(self) -> str:
        who = self.agent or "a human (no Coord-Agent)"
        if self.kind == "stale_token":
            return (
                f"commit {self.commit[:12]} by {who} touches {self.path} under token {self.token}, "
                f"superseded by {self.holder.describe()}"
            )
        return f"commit {self.commit[:12]} by {who} touches {self.path}, under {self.holder.describe()}"


@dataclass
class Report:
    commits: list[str] = field(default_factory=list)
    violations: list[Violation] = field(default_factory=list)
    overridden: list[dict[str, str]] = field(default_factory=list)

    @property
    def clean(self) -> bool:
        return not self.violations

    def as_dict(self) -> dict[str, Any]:
        return {
            "clean": self.clean,
            "commits": len(self.commits),
            "violations": [v.as_dict() for v in self.violations],
            "overridden": self.overridden,
        }

    def render(self) -> str:
        lines = [v.describe() for v in self.violations]
        lines += [
            f"commit {o['commit'][:12]} overrode the claims (recorded): {o['reason']}"
            for o in self.overridden
        ]
        verdict = "clean" if self.clean else f"{len(self.violations)} violation(s)"
        return "\n".join([*lines, f"{len(self.commits)} commit(s) checked: {verdict}."])

    def hint(self) -> str:
        """What to do next, naming each holder and what it holds (the violations were already said)."""
        import shlex  # only when something is refused

        held: dict[str, dict[str, None]] = {}
        for v in self.violations:
            held.setdefault(v.holder.agent, {})[v.holder.resource] = None
        asks = [
            f"ask {agent} to release {', '.join(resources)}: gitcoord request-help --to {agent} "
            f'--resource {shlex.quote(next(iter(resources)))} "please release it when you can"'
            for agent, resources in held.items()
        ]
        first = next(iter(next(iter(held.values()))))
        return (
            f"{'; '.join(asks)}; or wait for it: gitcoord claim {shlex.quote(first)} --wait 600. "
            "Commits made under an override must carry its Coord-Override trailer."
        )


@dataclass(frozen=True)
class CommitInfo:
    sha: str
    agent: str | None
    tokens: dict[str, int]
    override: str
    paths: list[str]


class Override(NamedTuple):
    """An override as pre-commit recorded it: who, for which paths, and why."""

    actor: str
    paths: frozenset[str]
    reason: str


@dataclass
class CoordFacts:
    """What the coord history says beyond the live claims: which claims were taken from
    their holders (a takeover, a forced release), and which error records are overrides."""

    superseded: set[str] = field(default_factory=set)
    overrides: dict[str, Override] = field(default_factory=dict)
    tip: str | None = None
    _claims: dict[str, dict[str, Any] | None] = field(default_factory=dict)

    def claim(self, repo: LeanRepo, claim_id: str) -> dict[str, Any] | None:
        """A claim record as it was while it existed (live now or long released), or None."""
        if claim_id not in self._claims:
            self._claims[claim_id] = _claim_from_history(repo, self.tip, claim_id) if self.tip else None
        return self._claims[claim_id]


Judge = tuple[ClaimIndex, "CoordFacts"]


def judge_for(repo: LeanRepo) -> Callable[[], Judge]:
    """What every commit is judged against (the live claims, the coord history's facts), read
    on first use and then kept: once per hook run however many refs a push updates, and not at
    all for a push of the coord branch alone."""
    return cache(lambda: (ClaimIndex(repo.claims(), ignorecase=repo.ignorecase), coord_facts(repo)))


def verify_range(
    repo: LeanRepo,
    rev_args: Sequence[str],
    *,
    options: Sequence[str] = (),
    judge: Callable[[], Judge] | None = None,
) -> Report:
    """Check the non-merge commits `git rev-list OPTIONS REV_ARGS` names against the local coord claims.

    `rev_args` are revisions only (a user's REVRANGE: never read as options);
    `options` are the hooks' own rev-list options (--not, --remotes, --all).
    """
    index, facts = (judge or judge_for(repo))()
    report = Report()
    for info in _commits(repo, rev_args, options):
        report.commits.append(info.sha)
        found = check_commit(repo, info, index, facts)
        if found and overridden(info, found, facts):
            report.overridden.append({"commit": info.sha, "reason": info.override})
            continue
        report.violations += found
    return report


def check_commit(repo: LeanRepo, info: CommitInfo, index: ClaimIndex, facts: CoordFacts) -> list[Violation]:
    """The commit's violations, judged against the claims live now.

    A path under another agent's live exclusive claim is a violation unless the
    commit carries the fencing token of a claim of its own agent that covered the
    path (it was made under that claim). Even then it is a violation when that
    claim was taken away (a takeover, a forced release) and the path's holder now
    has a higher token. Commit dates are not trusted: the committer sets them.
    """
    out: list[Violation] = []
    for path in info.paths:
        seen: set[str] = set()
        for holder in index.covering(path):
            if holder.agent == info.agent or holder.id in seen:
                continue
            own = _own_claim_covering(repo, info, path, facts)
            if own is not None and own[0] in facts.superseded and holder.token > own[1]:
                out.append(Violation(info.sha, path, info.agent, "stale_token", holder, own[1]))
            elif own is None and holder.mode == "exclusive":
                out.append(Violation(info.sha, path, info.agent, "claimed", holder))
            else:
                continue
            seen.add(holder.id)
    return out


def _own_claim_covering(
    repo: LeanRepo, info: CommitInfo, path: str, facts: CoordFacts
) -> tuple[str, int] | None:
    """(id, token) of a claim named in the commit's trailers that its agent held on `path`."""
    for claim_id, token in info.tokens.items():
        record = facts.claim(repo, claim_id)
        if (
            record is not None
            and info.agent
            and record.get("agent") == info.agent
            and record.get("token") == token
            and covers(parse_resource(str(record.get("resource"))), path, ignorecase=repo.ignorecase)
        ):
            return claim_id, token
    return None


def _claim_from_history(repo: LeanRepo, tip: str, claim_id: str) -> dict[str, Any] | None:
    """The last version of a claim file on the coord branch, even after its release."""
    path = f".coord/claims/{claim_id}.toml"
    last = repo.git("log", "-1", "--format=%H", tip, "--", path).decode().strip()
    for revision in (f"{last}:{path}", f"{last}^:{path}"):  # written there, or deleted there
        if not last:
            break
        # The blob's id comes from the tree; its contents may be missing (a partial clone).
        blob = run_plain(repo.cwd, "rev-parse", "--verify", "--quiet", revision)
        if blob.returncode != 0:
            continue
        found = run_plain(repo.cwd, "cat-file", "blob", blob.stdout.decode().strip())
        if found.returncode != 0:
            raise records_unreadable(repo.cwd, f"{path} as of {last[:12]}", blob.stdout.decode().strip())
        try:
            return tomllib.loads(found.stdout.decode())
        except (tomllib.TOMLDecodeError, UnicodeDecodeError):
            return None
    return None


def overridden(info: CommitInfo, found: Sequence[Violation], facts: CoordFacts) -> bool:
    """Does the commit carry an override on record that covers all its violations?

    The trailer names the record (`Coord-Override: E-12 reason`); the record must have
    been written by an override (not by `log-error`), by the committer, for these paths,
    with this reason. Anything less is a forged trailer.
    """
    record_id, _, reason = info.override.partition(" ")
    override = facts.overrides.get(record_id)
    if override is None or not reason or reason != override.reason:
        return False
    return is_committer(override.actor, info.agent) and all(v.path in override.paths for v in found)


def coord_facts(repo: LeanRepo) -> CoordFacts:
    """One pass over the coord history's takeovers, forced releases and overrides."""
    tip = repo.coord_tip()
    facts = CoordFacts(tip=tip)
    if tip is None:
        return facts
    out = repo.git(
        "log",
        "-z",
        "--format=%B",
        "--grep=^Coord-Takeover: ",
        "--grep=^Coord-Released: ",
        "--grep=^Coord-Action: override$",
        tip,
    )
    reasons: dict[str, str] = {}
    for body in out.decode(errors="replace").split("\0"):
        trailers = parse_trailers(body)
        for key in ("Coord-Takeover", "Coord-Released"):
            for value in trailers.get(key, []):
                facts.superseded.update(part.split(" ")[0] for part in value.split(", ") if part)
        if trailers.get("Coord-Action") == ["override"] and trailers.get("Coord-Override"):
            for value in trailers.get("Coord-Records", []):
                reasons.update((r, trailers["Coord-Override"][-1].strip()) for r in override_ids(value))
    if reasons:
        facts.overrides = {
            str(r["id"]): Override(str(r.get("agent", "")), _override_paths(r), reasons[str(r["id"])])
            for r in repo.records("errors")
            if r.get("id") in reasons
        }
    return facts


def _override_paths(record: dict[str, Any]) -> frozenset[str]:
    """The paths an override record covers: the JSON list pre-commit put in its trace."""
    import json

    try:
        listed = json.loads(str(record.get("trace", "")))
    except ValueError:
        return frozenset()
    return frozenset(p for p in listed if isinstance(p, str)) if isinstance(listed, list) else frozenset()


def _commits(repo: LeanRepo, rev_args: Sequence[str], options: Sequence[str]) -> list[CommitInfo]:
    try:
        # --end-of-options: a "revision" such as --output=FILE must never be taken as an option.
        out = repo.git(
            "log", "--no-merges", "-z", "--format=%H%x1f%B", *options, "--end-of-options", *rev_args, "--"
        )
    except GitcoordError as exc:
        raise InvalidInput(
            f"cannot read the commits of {quoted(' '.join(rev_args), 200)}: "
            f"{quoted(exc.message.rpartition(': ')[2], 200)}",
            hint="give a revision range git understands, such as origin/main..HEAD.",
        ) from exc
    infos = []
    for item in out.decode(errors="replace").split("\0"):
        if not item.strip():
            continue
        sha, _, body = item.lstrip("\n").partition("\x1f")
        infos.append(_commit_info(repo, sha, body))
    return infos


def _commit_info(repo: LeanRepo, sha: str, body: str) -> CommitInfo:
    trailers = parse_trailers(body)
    tokens = {}
    for value in trailers.get("Coord-Claim", []):
        match = _TOKEN.fullmatch(value.strip())
        if match:
            tokens[f"{match.group(1)}-{match.group(2)}"] = int(match.group(3))
    agent = (trailers.get("Coord-Agent") or [""])[-1].strip() or None
    override = (trailers.get("Coord-Override") or [""])[-1].strip()
    diff = repo.git("diff-tree", "-r", "-z", "-M", "--root", "--no-commit-id", "--name-status", sha)
    return CommitInfo(sha, agent, tokens, override, parse_name_status(diff))


# -- the hooks -----------------------------------------------------------------------------------


def _refuse(report: Report, mode: str, where: str) -> int:
    if report.clean:
        return 0
    sys.stderr.write(f"gitcoord: {where}: {report.render()}\n")
    if mode == "warn":
        sys.stderr.write("gitcoord: mode warn: not refused.\n")
        return 0
    sys.stderr.write(f"hint: {report.hint()}\n")
    return 1


def run_pre_push(repo: LeanRepo, mode: str, args: Sequence[str], stdin: bytes) -> int:
    """pre-push: verify what each pushed ref adds (the coord branch itself is exempt)."""
    if mode == "off":
        return 0
    if repo.remote:
        from gitcoord.hooks.precommit import fetch_coord

        fetch_coord(repo)
    judge = judge_for(repo)
    code = 0
    for line in stdin.decode(errors="replace").splitlines():
        parts = line.split()
        if len(parts) != 4 or is_zero_oid(parts[1]) or parts[2] == f"refs/heads/{repo.branch}":
            continue
        local, theirs = parts[1], parts[3]
        if not is_zero_oid(theirs) and _exists(repo, theirs):
            report = verify_range(repo, [local, f"^{theirs}"], judge=judge)
        else:  # a new ref: what no remote has yet (another remote may hold the history already)
            report = verify_range(repo, [local], options=["--not", "--remotes", "--not"], judge=judge)
        code = max(code, _refuse(report, mode, "push refused"))
    if not stdin.strip():
        code = max(code, _framework_pre_push(repo, mode, judge))
    return code


def _framework_pre_push(repo: LeanRepo, mode: str, judge: Callable[[], Judge]) -> int:
    """pre-push run by the pre-commit framework: the pushed ref comes in its variables, not on stdin.

    The framework describes only the first ref of a push, so a push of several refs is
    checked on that one here; the server's pre-receive sees them all.
    """
    env = os.environ
    if env.get("PRE_COMMIT_REMOTE_BRANCH") == f"refs/heads/{repo.branch}":
        return 0  # the coord branch itself is exempt, as on stdin
    to, start = env.get("PRE_COMMIT_TO_REF", ""), env.get("PRE_COMMIT_FROM_REF", "")
    if to:
        report = verify_range(
            repo, [to, *([f"^{start}"] if start and not is_zero_oid(start) else [])], judge=judge
        )
    elif local := env.get("PRE_COMMIT_LOCAL_BRANCH", ""):
        # A push of a whole new history: no range, so what no remote has yet.
        report = verify_range(repo, [local], options=["--not", "--remotes", "--not"], judge=judge)
    else:
        return 0
    return _refuse(report, mode, "push refused")


def run_pre_receive(repo: LeanRepo, mode: str, stdin: bytes) -> int:
    """pre-receive (bare remote): refuse a push whose new commits violate the claims."""
    if mode == "off":
        return 0
    judge = judge_for(repo)
    code = 0
    for line in stdin.decode(errors="replace").splitlines():
        parts = line.split()
        if len(parts) == 3 and not is_zero_oid(parts[1]) and parts[2] == f"refs/heads/{repo.branch}":
            code = max(code, _refuse_unsigned_acts(repo, mode, parts[0], parts[1]))
        # The coord branch and the agents' own refs (refs/coord/) hold records, not code.
        if (
            len(parts) != 3
            or is_zero_oid(parts[1])
            or parts[2] == f"refs/heads/{repo.branch}"
            or parts[2].startswith("refs/coord/")
        ):
            continue
        old, new = parts[0], parts[1]
        report = (
            verify_range(repo, [new, f"^{old}"], judge=judge)
            if not is_zero_oid(old)
            else verify_range(repo, [new], options=["--not", "--all", "--not"], judge=judge)
        )
        code = max(code, _refuse(report, mode, f"push to {parts[2]} refused"))
    return code


def _refuse_unsigned_acts(repo: LeanRepo, mode: str, old: str, new: str) -> int:
    """The coord branch's fence (issue 11): with allowed signers committed at HEAD, a push that
    adds a human act no listed key signed is refused (reported in mode warn)."""
    from gitcoord.hooks.run import with_site

    with_site()
    from gitcoord.signing import Authority

    authority = Authority.load(repo.cwd)
    if not authority.configured:
        return 0
    acts = authority.unsigned_acts([new, f"^{old}"] if not is_zero_oid(old) else [new])
    if not acts:
        return 0
    for act in acts:
        sys.stderr.write(
            f"gitcoord: coord push refused: commit {act['commit'][:12]}: {act['action']} by "
            f"{act['actor']} is {act['signature']}.\n"
        )
    if mode == "warn":
        sys.stderr.write("gitcoord: mode warn: not refused.\n")
        return 0
    sys.stderr.write(
        f"hint: human acts are signed by a key in {authority.path}; make them with gitcoord "
        "and your signing key set up.\n"
    )
    return 1


def _exists(repo: LeanRepo, sha: str) -> bool:
    try:
        repo.git("cat-file", "-e", f"{sha}^{{commit}}")
    except GitcoordError:
        return False
    return True
