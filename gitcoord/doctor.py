"""`gitcoord doctor`: is coordination healthy here? Each finding comes with its fix.

Checks, in order: the config file, the agent identity, the remote (reachable,
holds the coord branch), the coord branch (exists, format, local copy), the
git hooks, malformed records, and this machine's clock against the newest
coord commits.

A finding is `ok`, `warning` (worth knowing, coordination still works) or
`problem` (coordination is broken or unenforced here). `gitcoord doctor`
exits 0 when there is no problem and 3 when there is at least one: a problem
is a refusal to call the setup healthy, the same code as any other refusal.

Clock skew can only be seen in one direction: a clock *behind* the newest
commits on the coord branch shows as commits "from the future". A clock
ahead looks the same as a quiet branch, so it is not reported.
"""

from __future__ import annotations

import os
import re
import shlex
from collections.abc import Sequence
from datetime import datetime
from pathlib import Path
from typing import Any, Literal

from gitcoord.config import Config
from gitcoord.constants import CONFIG_PATH
from gitcoord.coordinator import Coordinator
from gitcoord.errors import GitcoordError, InvalidInput
from gitcoord.records import Agent, Claim, Decision, ErrorRecord, HelpRequest, Message, Summary, Task

Level = Literal["ok", "warning", "problem"]
RemoteState = Literal["ok", "local", "unreachable", "missing"]
SKEW_TOLERANCE_SECONDS = 60
RECENT_COMMITS = 50
MODELS = (Agent, Claim, Task, HelpRequest, Message, ErrorRecord, Decision)


def _finding(check: str, level: Level, message: str, fix: str = "") -> dict[str, str]:
    return {"check": check, "level": level, "message": message, "fix": fix}


def diagnose(repo: Path) -> dict[str, Any]:
    """Run every check on the repository at `repo`; {healthy, remote_unreachable, findings}."""
    findings: list[dict[str, str]] = []
    unavailable = False
    coord = _open(repo, findings)
    if coord is not None:
        try:
            findings.append(_identity(coord))
            remote = _remote(coord, findings)
            unavailable = remote == "unreachable"
            snap_ok = _coord_branch(coord, findings, fetch=remote == "ok")
            findings.append(_hooks(coord))
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
    where = CONFIG_PATH if coord.top and (coord.top / CONFIG_PATH).exists() else "defaults (no file)"
    findings.append(_finding("config", "ok", f"{where}; coord branch {coord.config.coord.branch!r}."))
    return coord


def _open_on_defaults(repo: Path, exc: InvalidInput, findings: list[dict[str, str]]) -> Coordinator | None:
    fix = exc.hint or f"fix {CONFIG_PATH} (see README, Configuration) or delete it to use the defaults."
    try:
        coord = Coordinator(repo, config=Config())
    except InvalidInput:
        findings.append(_finding("config", "problem", f"{exc.message} No other check can run without it.", fix))
        return None
    findings.append(_finding("config", "problem", f"{exc.message} The checks below use the defaults.", fix))
    return coord


def _identity(coord: Coordinator) -> dict[str, str]:
    try:
        agent = coord.agent
    except GitcoordError as exc:
        return _finding("identity", "problem", exc.message, exc.hint or "")
    if agent:
        return _finding("identity", "ok", f"acting as agent {agent!r}.")
    return _finding("identity", "warning", f"no agent identity: commands act as {coord.human()}.",
                    "agents: set GITCOORD_AGENT or run `gitcoord start --agent NAME` in their worktree.")


def _remote(coord: Coordinator, findings: list[dict[str, str]]) -> RemoteState:
    """Remote mode: can we reach it, and does it hold the coord branch? "ok" when fetching will work."""
    remote = coord.store.remote
    if remote is None:
        findings.append(_finding("remote", "ok", "local mode (no remote): agents share this repository."))
        return "local"
    branch = coord.store.branch
    # No prompt for credentials: doctor would wait on the terminal instead of reporting.
    res = coord.git.run("ls-remote", remote, f"refs/heads/{branch}",
                        timeout=coord.config.store.remote_timeout_seconds, env={"GIT_TERMINAL_PROMPT": "0"})
    if res.returncode != 0:
        said = res.stderr.strip().splitlines()[-1] if res.stderr.strip() else f"exit {res.returncode}"
        findings.append(_finding("remote", "problem", f"remote {remote!r} is unreachable: {said}",
                                 f"check the network and `git remote -v`, then `git fetch {remote}`."))
        return "unreachable"
    if not res.stdout.strip():
        findings.append(_finding("remote", "problem", f"remote {remote!r} has no {branch!r} branch.",
                                 "run `gitcoord init` once (it creates and pushes the branch)."))
        return "missing"
    findings.append(_finding("remote", "ok", f"remote {remote!r} is reachable and holds {branch!r}."))
    return "ok"


def _coord_branch(coord: Coordinator, findings: list[dict[str, str]], *, fetch: bool) -> bool:
    try:
        snap = coord.snapshot(fetch=fetch)
    except GitcoordError as exc:
        findings.append(_finding("coord-branch", "problem", exc.message, exc.hint or ""))
        return False
    if not snap.exists:
        findings.append(_finding("coord-branch", "problem", f"there is no {coord.store.branch!r} branch here.",
                                 "run `gitcoord init`."))
        return False
    meta = snap.meta
    if meta.format != 1:
        findings.append(_finding("coord-branch", "problem", f"the coord branch has format {meta.format}; "
                                 "this gitcoord reads format 1.", "upgrade gitcoord on this machine."))
        return False
    findings.append(_finding("coord-branch", "ok", f"coord branch at rev {meta.rev} ({(snap.commit or '')[:10]})."))
    return True


def _hooks(coord: Coordinator) -> dict[str, str]:
    mode = coord.config.hooks.mode
    if mode == "off" and coord.top is not None:
        return _finding("hooks", "warning", "hooks.mode is off: commits are not checked against claims.",
                        "set hooks.mode = \"others\" in .coord/config.toml.")
    from gitcoord.hooks.install import CLIENT_HOOKS, SERVER_HOOKS, hooks_dir

    if coord.top is None:
        # The shared remote: its pre-receive fence catches pushes made with --no-verify.
        where = hooks_dir(coord.common_dir)
        faults = _hook_faults(where, SERVER_HOOKS)
        if faults:
            return _finding("hooks", "warning", f"bare repository: {'; '.join(faults)}, so a push made with "
                            "--no-verify is not checked here.", "run `gitcoord hooks install --server` in this "
                            "repository.")
        return _finding("hooks", "ok", f"bare repository: pre-receive fence installed in {where}.")
    where = hooks_dir(coord.top)
    framework = _run_by_framework(coord.top, where)
    faults = _hook_faults(where, [name for name in CLIENT_HOOKS if name not in framework])
    if faults and framework:
        missing = sorted(set(CLIENT_HOOKS) - framework)
        return _finding("hooks", "problem", f"the pre-commit framework runs gitcoord's {', '.join(sorted(framework))} "
                        f"hook(s) but not {', '.join(missing)} (in {where}).",
                        "add " + ", ".join(FRAMEWORK_IDS[n] for n in missing) + " to .pre-commit-config.yaml, then "
                        "`pre-commit install " + " ".join(f"-t {n}" for n in missing) + "`.")
    if faults:
        return _finding("hooks", "problem", f"{'; '.join(faults)} (in {where}): commits touching others' claims "
                        "are not refused.", "run `gitcoord hooks install`.")
    how = " through the pre-commit framework" if framework else ""
    return _finding("hooks", "ok", f"hooks installed in {where}{how} (mode {mode}).")


# The ids of .pre-commit-hooks.yaml, by the git hook each one runs in.
FRAMEWORK_IDS = {"pre-commit": "gitcoord-claims", "prepare-commit-msg": "gitcoord-trailers",
                 "pre-push": "gitcoord-verify"}


def _run_by_framework(top: Path, where: Path) -> set[str]:
    """The client hooks the pre-commit framework installed and runs gitcoord's entry in."""
    try:
        config = (top / ".pre-commit-config.yaml").read_text(encoding="utf-8", errors="replace")
    except OSError:
        return set()
    found = set()
    for name, hook_id in FRAMEWORK_IDS.items():
        try:
            script = (where / name).read_text(encoding="utf-8", errors="replace")[:400]
        except OSError:
            continue
        if "File generated by pre-commit" in script and re.search(
                rf"^\s*(?:-\s*)?id:\s*['\"]?{re.escape(hook_id)}['\"]?\s*(?:#.*)?$", config, re.MULTILINE):
            found.add(name)
    return found


def _hook_faults(where: Path, names: Sequence[str]) -> list[str]:
    """Why git would not run gitcoord's hook of each name: absent, not executable, or its Python gone."""
    from gitcoord.hooks.install import is_ours

    missing = [name for name in names if not is_ours(where / name)]
    faults = [f"gitcoord's {', '.join(missing)} hook is not installed"] if missing else []
    for name in (n for n in names if n not in missing):
        path = where / name
        if not os.access(path, os.X_OK):
            faults.append(f"the {name} hook is not executable, so git skips it")
        python = _hook_interpreter(path)
        if python and not os.access(python, os.X_OK):
            faults.append(f"the {name} hook runs {python}, which no longer exists")
    return faults


def _hook_interpreter(path: Path) -> str:
    """The Python an installed hook execs (its `exec PYTHON -P -m gitcoord.hooks` line)."""
    try:
        lines = path.read_text(encoding="utf-8", errors="replace").splitlines()
        line = next(x for x in lines if x.startswith("exec ") and "gitcoord.hooks" in x)
        return shlex.split(line)[1]
    except (OSError, StopIteration, ValueError, IndexError):
        return ""


def _signing(coord: Coordinator) -> dict[str, str]:
    """Are human acts signed? Without allowed signers anyone who runs gitcoord can act as a person."""
    authority = coord.authority
    if not authority.configured:
        return _finding("signing", "warning", "human acts (approve, reject, forced release) are not signed: any "
                        "process that runs gitcoord without an agent identity can make them.",
                        "commit a file of reviewers' keys (git's allowed signers format) and name it in "
                        ".coord/config.toml: [review] allowed_signers = \".coord/allowed_signers\"")
    if not authority.principals():
        return _finding("signing", "problem", f"review.allowed_signers names {authority.path}, which is missing or "
                        "empty at HEAD: no human act can be verified.", f"commit {authority.path} with the "
                        "reviewers' keys (PRINCIPAL ssh-ed25519 AAAA...).")
    return _finding("signing", "ok", f"human acts are signed; allowed signers: {', '.join(authority.principals())}.")


def _records(coord: Coordinator) -> dict[str, str]:
    """Read every record once; what the readers would skip as malformed."""
    from gitcoord.store import ROOT

    snap = coord.snapshot()
    _ = snap.meta  # meta.toml is read lazily; a damaged one is skipped like any record
    for model in MODELS:
        snap.records(model)
    for name, entry in snap.entries(f"{ROOT}/{Summary.directory}").items():
        if entry.is_tree:
            snap.records(Summary, subdir=name)
    if snap.skipped:
        listed = ", ".join(snap.skipped[:10]) + (" ..." if len(snap.skipped) > 10 else "")
        return _finding("records", "problem", f"{len(snap.skipped)} malformed record(s), ignored by every "
                        f"command: {listed}", f"inspect with `git show {coord.store.branch}:PATH`; fix or delete "
                        "the file with a commit on the coord branch (or let its owner write it again).")
    return _finding("records", "ok", "every record parses.")


def _clock(coord: Coordinator) -> dict[str, str]:
    now = coord.store.clock()
    times = [datetime.fromisoformat(e["time"]) for e in coord.store.history(limit=RECENT_COMMITS)]
    if not times:
        return _finding("clock", "ok", "no coord commits to compare the clock with.")
    ahead = (max(times) - now).total_seconds()
    if ahead > SKEW_TOLERANCE_SECONDS:
        return _finding("clock", "problem", f"this machine's clock is at least {int(ahead)}s behind the newest "
                        "coord commit: leases would look longer here than they are.",
                        "enable time synchronisation (NTP: `timedatectl set-ntp true`).")
    return _finding("clock", "ok", "clock agrees with the coord history (within "
                    f"{SKEW_TOLERANCE_SECONDS}s).")


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
