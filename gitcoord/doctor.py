"""`gitcoord doctor`: is coordination healthy here? Each finding comes with its fix.

Checks, in order: the config file (and edits to it not yet committed, and
whether claims ignore case), the agent identity, the remote (reachable,
holds the coord branch), the coord branch (exists, format, local copy), the
git hooks, the editor guard (its configured command is run once on a probe
call), malformed records, and this machine's clock against the newest coord
commits.

A finding is `ok`, `warning` (worth knowing, coordination still works) or
`problem` (coordination is broken or unenforced here). `gitcoord doctor`
exits 0 when there is no problem and 3 when there is at least one: a problem
is a refusal to call the setup healthy, the same code as any other refusal.

Clock skew can only be seen in one direction: a clock *behind* the newest
commits on the coord branch shows as commits "from the future". A clock
ahead looks the same as a quiet branch, so it is not reported.
"""

from __future__ import annotations

from datetime import datetime
from pathlib import Path
from typing import Any, Literal

from gitcoord.config import Config
from gitcoord.constants import CONFIG_PATH
from gitcoord.coordinator import Coordinator
from gitcoord.doctor_guards import check_editor_guards, check_hooks, finding
from gitcoord.errors import GitcoordError, InvalidInput
from gitcoord.records import Agent, Claim, Decision, ErrorRecord, HelpRequest, Message, Summary, Task
from gitcoord.workspace import COMMITTED_ONLY, HEAD_CONFIG

RemoteState = Literal["ok", "local", "unreachable", "missing"]
SKEW_TOLERANCE_SECONDS = 60
RECENT_COMMITS = 50
MODELS = (Agent, Claim, Task, HelpRequest, Message, ErrorRecord, Decision)


def diagnose(repo: Path) -> dict[str, Any]:
    """Run every check on the repository at `repo`; {healthy, remote_unreachable, findings}."""
    findings: list[dict[str, str]] = []
    unavailable = False
    coord = _open(repo, findings)
    if coord is not None:
        try:
            findings.append(_config_edits(coord))
            findings.append(_case(coord))
            findings.append(_identity(coord))
            remote = _remote(coord, findings)
            unavailable = remote == "unreachable"
            snap_ok = _coord_branch(coord, findings, fetch=remote == "ok")
            findings += _ref_locks(coord)
            findings.append(check_hooks(coord))
            findings += check_editor_guards(coord)
            findings.append(_signing(coord))
            if snap_ok:
                findings.append(_records(coord))
                findings.append(_clock(coord))
        finally:
            coord.close()
    healthy = not any(f["level"] == "problem" for f in findings)
    return {"healthy": healthy, "remote_unreachable": unavailable, "findings": findings}


def _open(repo: Path, findings: list[dict[str, str]]) -> Coordinator | None:
    """The Coordinator; a config that cannot be used is a finding, and the defaults stand in for it.

    None when not even the defaults help (the file is not TOML at all, so nothing opens).
    """
    try:
        coord = Coordinator(repo)
    except InvalidInput as exc:
        if CONFIG_PATH not in exc.render():
            raise  # not a repository: nothing to diagnose (exit 2)
        return _open_on_defaults(repo, exc, findings)
    where = {
        CONFIG_PATH: CONFIG_PATH,
        HEAD_CONFIG: f"{HEAD_CONFIG} (the work tree has no {CONFIG_PATH})",
    }.get(coord.workspace.source, "defaults (no file)")
    findings.append(finding("config", "ok", f"{where}; coord branch {coord.store.branch!r}."))
    return coord


def _open_on_defaults(repo: Path, exc: InvalidInput, findings: list[dict[str, str]]) -> Coordinator | None:
    fix = exc.hint or f"fix {CONFIG_PATH} (see README, Configuration) or delete it to use the defaults."
    try:
        coord = Coordinator(repo, config=Config())
    except InvalidInput:
        findings.append(
            finding("config", "problem", f"{exc.message} No other check can run without it.", fix)
        )
        return None
    findings.append(finding("config", "problem", f"{exc.message} The checks below use the defaults.", fix))
    return coord


def _config_edits(coord: Coordinator) -> dict[str, str]:
    """Edits to the work tree's config that HEAD does not have: they apply in this clone only."""
    workspace = coord.workspace
    try:
        _ = coord.config  # HEAD's values of the keys only HEAD may set, validated
    except GitcoordError as exc:
        return finding(
            "config-edits", "problem", exc.message, exc.hint or f"fix {CONFIG_PATH} with a commit."
        )
    if workspace.source != CONFIG_PATH:
        return finding("config-edits", "ok", "no work-tree edits: the committed config is used as it is.")
    if coord.git.read_object(HEAD_CONFIG) is None:
        return finding(
            "config-edits",
            "warning",
            f"{CONFIG_PATH} is not committed: other clones do not use it.",
            f"commit {CONFIG_PATH} on the code branch so the whole team uses it.",
        )
    keys = _differing_keys(workspace.table, workspace.committed_table)
    if not keys:
        return finding("config-edits", "ok", f"{CONFIG_PATH} matches HEAD's.")
    message = (
        f"uncommitted edits to {CONFIG_PATH} ({', '.join(keys)}): commit them so the whole team uses them."
    )
    ignored = [k for k in keys if tuple(k.split(".", 1)) in COMMITTED_ONLY]
    if ignored:
        verb = "is" if len(ignored) == 1 else "are"
        message += (
            f" {', '.join(ignored)} {verb} read from HEAD only: until committed the edit has no effect."
        )
    return finding(
        "config-edits",
        "warning",
        message,
        f"commit {CONFIG_PATH} (or `git checkout -- {CONFIG_PATH}` to drop the edits).",
    )


def _differing_keys(ours: dict[str, Any], theirs: dict[str, Any]) -> list[str]:
    """The `section.key` names whose values differ (a top-level value is named alone)."""
    keys = []
    for section in sorted(set(ours) | set(theirs)):
        a, b = ours.get(section), theirs.get(section)
        if isinstance(a, dict) and isinstance(b, dict):
            keys += [f"{section}.{key}" for key in sorted(set(a) | set(b)) if a.get(key) != b.get(key)]
        elif a != b:
            keys += (
                [f"{section}.{key}" for key in sorted(a if isinstance(a, dict) else b or {})]
                if isinstance(a, dict) or isinstance(b, dict)
                else [section]
            )
    return keys


def _case(coord: Coordinator) -> dict[str, str]:
    """`claims.ignorecase` is the team's; a clone whose file system ignores case should know."""
    team = coord.ignorecase
    if not team and coord.workspace.git_setting("core.ignorecase", "false").lower() == "true":
        return finding(
            "case",
            "warning",
            "this clone's file system ignores case (core.ignorecase = true) but the "
            "team's config compares claimed paths case-sensitively (claims.ignorecase is not true): a "
            "claim on Src/API.py does not cover src/api.py, which is the same file here.",
            f"set `[claims] ignorecase = true` in {CONFIG_PATH} and commit it, if any teammate's "
            "file system ignores case.",
        )
    how = "ignoring case" if team else "case-sensitively"
    return finding(
        "case",
        "ok",
        f"claimed paths compare {how} (claims.ignorecase = {str(team).lower()}), on every machine alike.",
    )


def _identity(coord: Coordinator) -> dict[str, str]:
    try:
        agent = coord.agent
    except GitcoordError as exc:
        return finding("identity", "problem", exc.message, exc.hint or "")
    if agent:
        return finding("identity", "ok", f"acting as agent {agent!r}.")
    return finding(
        "identity",
        "warning",
        f"no agent identity: commands act as {coord.human()}.",
        "agents: set GITCOORD_AGENT or run `gitcoord start --agent NAME` in their worktree.",
    )


def _remote(coord: Coordinator, findings: list[dict[str, str]]) -> RemoteState:
    """Remote mode: can we reach it, and does it hold the coord branch? "ok" when fetching will work."""
    remote = coord.store.remote
    if remote is None:
        findings.append(finding("remote", "ok", "local mode (no remote): agents share this repository."))
        return "local"
    branch = coord.store.branch
    # No prompt for credentials: doctor would wait on the terminal instead of reporting.
    res = coord.git.run(
        "ls-remote",
        remote,
        f"refs/heads/{branch}",
        timeout=coord.config.store.remote_timeout_seconds,
        env={"GIT_TERMINAL_PROMPT": "0"},
    )
    if res.returncode != 0:
        said = res.stderr.strip().splitlines()[-1] if res.stderr.strip() else f"exit {res.returncode}"
        findings.append(
            finding(
                "remote",
                "problem",
                f"remote {remote!r} is unreachable: {said}",
                f"check the network and `git remote -v`, then `git fetch {remote}`.",
            )
        )
        return "unreachable"
    if not res.stdout.strip():
        findings.append(
            finding(
                "remote",
                "problem",
                f"remote {remote!r} has no {branch!r} branch.",
                "run `gitcoord init` once (it creates and pushes the branch).",
            )
        )
        return "missing"
    findings.append(finding("remote", "ok", f"remote {remote!r} is reachable and holds {branch!r}."))
    return "ok"


def _coord_branch(coord: Coordinator, findings: list[dict[str, str]], *, fetch: bool) -> bool:
    try:
        snap = coord.snapshot(fetch=fetch)
    except GitcoordError as exc:
        findings.append(finding("coord-branch", "problem", exc.message, exc.hint or ""))
        return False
    if not snap.exists:
        findings.append(
            finding(
                "coord-branch",
                "problem",
                f"there is no {coord.store.branch!r} branch here.",
                "run `gitcoord init`.",
            )
        )
        return False
    meta = snap.meta
    try:  # a newer format was refused by the snapshot itself
        snap.require_current_format(coord.store.branch)
    except GitcoordError as exc:
        findings.append(finding("coord-branch", "problem", exc.message, exc.hint or ""))
        return False
    findings.append(
        finding("coord-branch", "ok", f"coord branch at rev {meta.rev} ({(snap.commit or '')[:10]}).")
    )
    return True


def _ref_locks(coord: Coordinator) -> list[dict[str, str]]:
    """A lock file left on the coord branch (or its tracking ref) by a git that died blocks every write.

    Silent when there is none: a lock is rare, and the healthy report stays short."""
    from gitcoord.cas import stale_lock_message

    store = coord.store
    refs = [store.ref, *([store.tracking_ref] if store.remote else [])]
    held = [f"{ref}.lock" for ref in refs if (coord.common_dir / f"{ref}.lock").exists()]
    if not held:
        return []
    paths = " and ".join(str(coord.common_dir / name) for name in held)
    return [
        finding(
            "ref-locks",
            "problem",
            " ".join(stale_lock_message(name) for name in held),
            f"make sure no git process is running in this repository, then remove {paths}.",
        )
    ]


def _signing(coord: Coordinator) -> dict[str, str]:
    """Are human acts signed? Without allowed signers anyone who runs gitcoord can act as a person."""
    authority = coord.authority
    if not authority.configured:
        return finding(
            "signing",
            "warning",
            "human acts (approve, reject, forced release) are not signed: any "
            "process that runs gitcoord without an agent identity can make them.",
            "commit a file of reviewers' keys (git's allowed signers format) and name it in "
            '.coord/config.toml: [review] allowed_signers = ".coord/allowed_signers"',
        )
    if not authority.principals():
        return finding(
            "signing",
            "problem",
            f"review.allowed_signers names {authority.path}, which is missing or "
            "empty at HEAD: no human act can be verified.",
            f"commit {authority.path} with the reviewers' keys (PRINCIPAL ssh-ed25519 AAAA...).",
        )
    return finding(
        "signing", "ok", f"human acts are signed; allowed signers: {', '.join(authority.principals())}."
    )


def _records(coord: Coordinator) -> dict[str, str]:
    """Read every record once; what the readers would skip as malformed."""
    from gitcoord.cache import RecordsUnreadable
    from gitcoord.store import ROOT

    snap = coord.snapshot()
    try:
        _ = snap.meta  # meta.toml is read lazily; a damaged one is skipped like any record
        for model in MODELS:
            snap.records(model)
        for name, entry in snap.entries(f"{ROOT}/{Summary.directory}").items():
            if entry.is_tree:
                snap.records(Summary, subdir=name)
    except RecordsUnreadable as exc:  # every command that needs them exits 4 until they can be read
        return finding("records", "problem", exc.message, exc.hint or "")
    if snap.skipped:
        listed = ", ".join(snap.skipped[:10]) + (" ..." if len(snap.skipped) > 10 else "")
        return finding(
            "records",
            "problem",
            f"{len(snap.skipped)} malformed record(s) (not TOML, a missing "
            "or impossible value), ignored by every "
            f"command: {listed}",
            f"inspect with `git show {coord.store.branch}:PATH`; fix or delete "
            "the file with a commit on the coord branch (or let its owner write it again).",
        )
    return finding("records", "ok", "every record parses.")


def _clock(coord: Coordinator) -> dict[str, str]:
    now = coord.store.clock()
    times = [datetime.fromisoformat(e["time"]) for e in coord.store.history(limit=RECENT_COMMITS)]
    if not times:
        return finding("clock", "ok", "no coord commits to compare the clock with.")
    ahead = (max(times) - now).total_seconds()
    if ahead > SKEW_TOLERANCE_SECONDS:
        return finding(
            "clock",
            "problem",
            f"this machine's clock is at least {int(ahead)}s behind the newest "
            "coord commit: leases would look longer here than they are.",
            "enable time synchronisation (NTP: `timedatectl set-ntp true`).",
        )
    return finding("clock", "ok", f"clock agrees with the coord history (within {SKEW_TOLERANCE_SECONDS}s).")


def render(report: dict[str, Any]) -> None:
    """The findings for a person: one line each, the fix below a problem or warning."""
    from gitcoord import output

    marks = {"ok": ("ok     ", "green"), "warning": ("warning", "yellow"), "problem": ("PROBLEM", "red")}
    for f in report["findings"]:
        mark, style = marks[f["level"]]
        output.say(f"{mark} {f['check']}: {f['message']}", style=style if f["level"] != "ok" else "")
        if f["fix"] and f["level"] != "ok":
            output.say(f"        fix: {f['fix']}")
    if report["healthy"]:
        output.say("healthy.", style="green")
