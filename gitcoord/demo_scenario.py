"""The demo's scenario: what alpha, beta and gamma each do, one process per agent (`gitcoord demo`).

gitcoord.demo builds the world and starts `python -m gitcoord.demo_scenario agent NAME CLONE` for
each agent; the scripts here then play the original design's scenario through a real Coordinator
in that clone: startup protocol, claims, a refused conflict, a commit refused by the hook, a help
request answered, errors logged and resolved, a decision for the human, check-ins, summaries and
the auto mode, and a conflict caught before the merge (alpha and beta reword one line of the README
on their own pushed branches; the radar names it at check-in and beta rebases on alpha). Agents
wait for each other through the coord branch itself (polling with a fetch).
"""

from __future__ import annotations

import subprocess
import sys
import time
import traceback
from collections.abc import Callable
from pathlib import Path
from typing import Any

from gitcoord.coordinator import Coordinator
from gitcoord.errors import GitcoordError, Refused
from gitcoord.git import Git

ROLES = {"alpha": "content modules", "beta": "backend API", "gamma": "data and infrastructure"}
# How long one agent waits for another's step before giving up (the whole demo stays under a minute).
STEP_TIMEOUT = 30.0
POLL = 0.25


class DemoFailed(GitcoordError):
    """A step of the demo did not happen as scripted (exit 1: it is a bug, not bad input)."""


# -- the agents' scripts (each runs in its own process) ---------------------------------------


class Agent:
    """What an agent script needs: its Coordinator, its clone, a voice, and patience."""

    def __init__(self, name: str, clone: Path) -> None:
        self.name, self.clone = name, clone
        self.coord = Coordinator(clone, agent=name)

    def say(self, text: str) -> None:
        print(text, flush=True)

    def wait_for(self, what: str, found: Callable[[], Any]) -> Any:
        """Poll the coord branch (fetching) until `found()` answers something truthy."""
        deadline = time.monotonic() + STEP_TIMEOUT
        while time.monotonic() < deadline:
            self.coord.snapshot(fetch=True)
            value = found()
            if value:
                return value
            time.sleep(POLL)
        raise DemoFailed(f"{self.name} waited {STEP_TIMEOUT:.0f}s for {what} in vain.")

    def commit(self, path: str, text: str, subject: str) -> tuple[bool, str]:
        """Write a file and commit it through the installed hooks; (committed, what git said)."""
        target = self.clone / path
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_text(text, encoding="utf-8")
        git = Git(self.clone)
        git.check("add", path)
        res = git.run("commit", "-q", "-m", subject)
        return res.returncode == 0, (res.stderr or res.stdout.decode()).strip()

    def trailers(self) -> str:
        return (
            Git(self.clone)
            .check("log", "-1", "--format=%(trailers:only,unfold)")
            .decode()
            .strip()
            .replace("\n", "; ")
        )


def _startup(agent: Agent) -> dict[str, Any]:
    from gitcoord.agent_utils import startup_protocol

    agent.coord.start(role=ROLES[agent.name])
    ctx = startup_protocol(agent.name, repo_path=agent.clone)
    agent.say(
        f"startup: session {ctx['session_id']}, {len(ctx['active_claims'])} active claims, "
        f"{len(ctx['help_requests'])} help requests, {len(ctx['my_tasks'])} tasks for me"
    )
    return ctx


def run_alpha(agent: Agent) -> None:
    """Content: takes its queued task, asks gamma for data, finishes the module."""
    from gitcoord.agent_utils import check_in, release_resource, request_help

    ctx = _startup(agent)
    task = agent.coord.next_task()
    res = task.resources[0]
    agent.say(f"took task {task.id} '{task.title}': claimed {res} (was in my_tasks: {bool(ctx['my_tasks'])})")
    check_in("alpha", res, 30, "Writing the module", repo_path=agent.clone)
    agent.say(f"check-in on {res}: 30% 'Writing the module'")
    ok, said = agent.commit(res, "# Battery basics\n\nDraft.\n", "Draft the battery module")
    agent.say(
        f"commit of {res} accepted by the hook, trailers: {agent.trailers()}"
        if ok
        else f"commit failed: {said}"
    )
    helped = request_help(
        "alpha", "gamma", "Need ghost cohort data for power modules", priority="high", repo_path=agent.clone
    )
    agent.say(f"asked gamma for help: {helped['id']} (high) 'Need ghost cohort data for power modules'")
    answer = agent.wait_for(
        "gamma's answer",
        lambda: next(
            (h for h in agent.coord.help_requests() if h.id == helped["id"] and h.status == "resolved"), None
        ),
    )
    agent.say(f"{answer.id} resolved by {answer.resolved_by}: {answer.resolution_note}")
    for message in agent.coord.inbox():
        agent.say(f"inbox: {message.id} from {message.from_agent}: {message.body}")
    agent.coord.mark_read()
    # The demo shows beta running into this claim: hold it until beta has (beta logs an error next).
    agent.wait_for("beta to meet the claim", lambda: any(e.agent == "beta" for e in agent.coord.errors()))
    check_in("alpha", res, 90, "Assessment questions written", repo_path=agent.clone)
    agent.say(f"check-in on {res}: 90%")
    agent.coord.done_task(task.id, note="module drafted with the cohort data")
    agent.say(f"task {task.id} done; its claim on {res} released")
    # The original API still answers False for what alpha no longer holds.
    agent.say(
        f"release_resource again -> {release_resource('alpha', res, 'Complete', repo_path=agent.clone)}"
    )
    nxt = "modules/power/solar.md"
    agent.coord.claim([nxt], minutes=45, message="next: the solar module")
    agent.say(f"claimed {nxt} for the next module (still held at the end: see status)")
    _branch_work(agent, ALPHA_README, "Reword the course summary")
    agent.coord.check_in(message="README reworded on alpha-docs, not merged yet")
    agent.say("pushed branch alpha-docs (README.md reworded), not merged")
    _summary(agent, "Battery module drafted", "Solar module", messages="Thanks gamma for the cohort data")


def run_beta(agent: Agent) -> None:
    """Backend: meets alpha's claim twice (claim, then hook), logs an error and a decision."""
    from gitcoord.agent_utils import claim_resource, log_decision, log_error

    _startup(agent)
    api = "backend/lms_routes.py"
    agent.say(f"claim_resource({api!r}) -> {claim_resource('beta', api, 20, repo_path=agent.clone)}")
    agent.wait_for(
        "alpha's claim on the battery module",
        lambda: any(
            c["agent"] == "alpha" and c["resource"] == "modules/power/battery.md"
            for c in agent.coord.claims()
        ),
    )
    try:
        agent.coord.claim(["modules/power/"], message="wiring the module API")
        agent.say("claimed modules/power/ (unexpected!)")
    except Refused as exc:
        agent.say(f"claim modules/power/ refused: {exc.message.splitlines()[-1].strip()}")
    ok, said = agent.commit("modules/power/battery.md", "# my version\n", "Overwrite the battery module")
    if ok:
        raise DemoFailed("the pre-commit hook let beta commit alpha's claimed file.")
    agent.say(
        "git commit of modules/power/battery.md refused by the hook: "
        + next((ln for ln in said.splitlines() if "battery.md:" in ln), said.splitlines()[0]).strip()
    )
    Git(agent.clone).check("rm", "-q", "--cached", "modules/power/battery.md")
    (agent.clone / "modules/power/battery.md").unlink()
    try:
        raise RuntimeError("GET /api/lms/modules returned 500: missing await on db.fetch")
    except RuntimeError as exc:
        error = log_error(
            "beta",
            "code_error",
            "API endpoint returning 500",
            severity="high",
            stack_trace=traceback.format_exc(),
            resource=api,
            repo_path=agent.clone,
        )
        agent.say(f"logged error {error['id']} (code_error, high): {exc}")
    ok, said = agent.commit(
        api, "async def modules(db):\n    return await db.fetch('modules')\n", "Fix the modules endpoint"
    )
    agent.say(f"commit of {api} accepted by the hook" if ok else f"commit failed: {said}")
    agent.coord.resolve_error(error["id"], "added the missing await; endpoint returns 200")
    agent.say(f"resolved {error['id']}")
    decision = log_decision(
        "beta",
        "api_design",
        "Use JWT tokens for authentication",
        "Better for SPA, stateless API",
        impact="high",
        alternatives=["server-side sessions"],
        repo_path=agent.clone,
    )
    agent.say(f"proposed decision {decision['id']}: Use JWT tokens for authentication (high impact)")
    agent.coord.check_in([api], progress=70, message="waiting for the JWT decision")
    agent.say(f"check-in on {api}: 70%")
    approved = agent.wait_for(
        "the human's review",
        lambda: next(
            (d for d in agent.coord.decisions() if d.id == decision["id"] and d.status != "proposed"), None
        ),
    )
    agent.say(f"{approved.id} {approved.status} by {approved.reviewed_by}: {approved.review_note}")
    agent.coord.implement_decision(approved.id)
    agent.say(f"{approved.id} implemented")
    agent.coord.release([api], message="endpoints done")
    agent.say(f"released {api}")
    _conflict_caught(agent)
    _summary(agent, "LMS routes, JWT auth", "Frontend login", blockers="None")


# alpha and beta reword the same line of the README, each on its own branch.
ALPHA_README = "# Ascent Basecamp\n\nCourse modules for the power unit: battery and solar.\n"
BETA_README = "# Ascent Basecamp\n\nCourse modules, served by the LMS API with JWT sign-in.\n"
BOTH_README = (
    "# Ascent Basecamp\n\nCourse modules for the power unit: battery and solar.\n"
    "They are served by the LMS API with JWT sign-in.\n"
)


def _branch_work(agent: Agent, text: str, subject: str) -> None:
    """Start `<agent>-docs` from the remote's default branch, commit the README, push the branch."""
    branch = f"{agent.name}-docs"
    git = Git(agent.clone)
    git.check("switch", "-q", "-c", branch, "origin/HEAD")
    ok, said = agent.commit("README.md", text, subject)
    if not ok:
        raise DemoFailed(f"{agent.name}'s commit of README.md failed: {said}")
    git.check("push", "-q", "origin", branch)


def _conflict_caught(agent: Agent) -> None:
    """beta's branch changes the line alpha's branch changed: the radar names it before any merge,
    and beta rebases on alpha's branch, keeping both sentences."""
    from gitcoord.conflicts import radar
    from gitcoord.records import Agent as AgentRecord

    agent.wait_for(
        "alpha's pushed branch",
        lambda: any(
            a.name == "alpha" and a.branch == "alpha-docs"
            for a in agent.coord.snapshot().records(AgentRecord)
        ),
    )
    _branch_work(agent, BETA_README, "Say where the modules are served")
    found = agent.coord.check_in(message="README on beta-docs")["conflicts"]
    if not found:
        raise DemoFailed("beta's check-in named no coming conflict with alpha's branch.")
    first = found[0]
    agent.say(
        f"check-in, before any merge: coming conflict: {first['path']} with {first['with']}'s branch "
        f"{first['branch']}; next: {first['next']}"
    )
    for pair in radar(agent.coord)["pairs"]:
        agent.say(
            f"gitcoord conflicts: {pair['a']} ({pair['a_branch']}) x {pair['b']} ({pair['b_branch']}): "
            f"conflict in {', '.join(pair['conflicts'])}"
        )
    git = Git(agent.clone)
    git.check("reset", "-q", "--hard", "origin/alpha-docs")
    ok, said = agent.commit(
        "README.md", BOTH_README, "Say where the modules are served, after alpha's wording"
    )
    if not ok:
        raise DemoFailed(f"beta's commit on top of alpha-docs failed: {said}")
    git.check("push", "-q", "--force", "origin", "beta-docs")
    left = agent.coord.check_in(message="beta-docs rebased on alpha-docs")["conflicts"]
    if left:
        raise DemoFailed(f"beta's branch still conflicts after the rebase: {left}")
    agent.say(
        "rebased beta-docs on alpha-docs keeping both sentences, pushed: check-in names no conflict now"
    )


def run_gamma(agent: Agent) -> None:
    """Infrastructure: answers the help request addressed to it."""
    _startup(agent)
    request = agent.wait_for(
        "a help request",
        lambda: next(
            (h for h in agent.coord.help_requests(open_only=True) if h.to == "gamma" and h.status == "open"),
            None,
        ),
    )
    agent.coord.ack_help(request.id)
    agent.say(f"acknowledged {request.id} from {request.from_agent}: {request.message}")
    data = "data/ghost_cohorts.json"
    agent.coord.claim([data], minutes=10, message=f"for {request.id}")
    agent.say(f"claimed {data}")
    error = agent.coord.log_error(
        "dependency", "cohort export is missing the 'region' column", severity="medium", resource=data
    )
    agent.say(f"logged error {error.id} (dependency, medium)")
    ok, said = agent.commit(
        data,
        '[{"cohort": "ghost-1", "region": "north", "learners": 24}]\n',
        "Ghost cohort data for the power modules",
    )
    agent.say(f"commit of {data} accepted by the hook" if ok else f"commit failed: {said}")
    agent.coord.resolve_error(error.id, "regenerated the export with the region column")
    agent.say(f"resolved {error.id}")
    agent.coord.resolve_help(request.id, f"ghost cohorts are in {data}")
    agent.coord.send(request.from_agent, f"{data} is committed; 1 cohort, 24 learners.")
    agent.say(f"resolved {request.id} and left a message for {request.from_agent}")
    agent.coord.release([data], message="data delivered")
    agent.say(f"released {data}")
    _auto_mode(agent)
    _summary(agent, "Ghost cohort data for alpha", "Cohort dashboards")


GUARD_ATTEMPTS = 3  # the editor's edit, retried as the guard's denial asks when the store was slow


def _auto_mode(agent: Agent) -> None:
    """hooks.mode = "auto" in gamma's clone: its editor's first edit and its commit claim by themselves."""
    import json

    (agent.clone / ".coord").mkdir(exist_ok=True)
    (agent.clone / ".coord" / "config.toml").write_text('[hooks]\nmode = "auto"\n', encoding="utf-8")
    agent.say("switched this clone to hooks.mode = auto: edits and commits claim what they touch")
    edited, unseen = "data/README.md", "data/schema.md"
    call = {
        "cwd": str(agent.clone),
        "hook_event_name": "PreToolUse",
        "tool_name": "Write",
        "tool_input": {"file_path": str(agent.clone / edited), "content": "# Cohort data\n"},
    }
    for attempt in range(1, GUARD_ATTEMPTS + 1):
        guard = subprocess.run(
            [sys.executable, "-m", "gitcoord", "guard", "--format", "claude"],
            cwd=agent.clone,
            input=json.dumps(call),
            capture_output=True,
            text=True,
            check=False,
        )
        # On a busy machine the claim may take longer than the guard may wait (an editor's hook
        # timeout): the guard then denies and says to retry the edit, as an agent would.
        if "gave no answer within" not in guard.stdout or attempt == GUARD_ATTEMPTS:
            break
        agent.say("the guard's claim outlasted its time limit on this busy machine: retrying the edit")
    if guard.stdout.strip():
        raise DemoFailed(f"the guard denied gamma's first edit in auto mode: {guard.stdout.strip()}")
    claimed = {c["resource"]: c for c in agent.coord.claims() if c["agent"] == agent.name and c.get("auto")}
    if edited not in claimed:
        raise DemoFailed(f"the guard allowed {edited} without claiming it in auto mode.")
    agent.say(
        f"editor's first edit of {edited} allowed and claimed by itself: {claimed[edited]['id']} "
        f"('{claimed[edited]['message']}')"
    )
    (agent.clone / edited).write_text("# Cohort data\n", encoding="utf-8")
    (agent.clone / unseen).write_text("cohort, region, learners\n", encoding="utf-8")
    Git(agent.clone).check("add", edited, unseen)
    ok, said = agent.commit(unseen, "cohort, region, learners\n", "Describe the cohort data")
    if not ok:
        raise DemoFailed(f"gamma's commit in auto mode failed: {said}")
    auto = [c["id"] for c in agent.coord.claims() if c["resource"] == unseen and c.get("auto")]
    agent.say(f"commit claimed {unseen} by itself ({', '.join(auto)}), trailers: {agent.trailers()}")
    released = agent.coord.release([edited, unseen], message="cohort docs done")
    agent.say(f"released {', '.join(c.id for c in released)}")


def _summary(
    agent: Agent, completed: str, next_tasks: str, *, blockers: str = "", messages: str = ""
) -> None:
    from gitcoord.agent_utils import write_daily_summary

    write_daily_summary(
        agent.name,
        4,
        completed=completed,
        next_tasks=next_tasks,
        messages=messages,
        blockers=blockers or "None",
        metrics="commits=1",
        repo_path=agent.clone,
    )
    agent.say("daily summary written (day 4)")


SCRIPTS: dict[str, Callable[[Agent], None]] = {"alpha": run_alpha, "beta": run_beta, "gamma": run_gamma}


def agent_main(name: str, clone: Path) -> int:
    """Entry of one agent process: run its script; 0 when every step happened."""
    agent = Agent(name, clone)
    try:
        SCRIPTS[name](agent)
    except GitcoordError as exc:
        print(f"FAILED: {exc.render()}", flush=True)
        return 1
    finally:
        agent.coord.close()
    return 0


def _main(argv: list[str]) -> int:
    if len(argv) == 3 and argv[0] == "agent" and argv[1] in SCRIPTS:
        return agent_main(argv[1], Path(argv[2]))
    print(
        "usage: python -m gitcoord.demo_scenario agent alpha|beta|gamma CLONE   (or: gitcoord demo)",
        file=sys.stderr,
    )
    return 2


if __name__ == "__main__":
    sys.exit(_main(sys.argv[1:]))
