"""`gitcoord demo`: three agents coordinate through a throwaway shared repository.

The demo builds a world in a temporary directory (a bare remote, a clone per
agent and one for the human), installs the git hooks in every clone, then
runs alpha, beta and gamma as three concurrent processes
(`python -m gitcoord.demo agent NAME CLONE`) through the scenario of the
original design: startup protocol, claims, a refused conflict, a commit
refused by the hook, a help request answered, errors logged and resolved, a
decision approved by the human, check-ins and daily summaries. It ends with
`status` and the HTML dashboard.

Everything runs with a pinned git identity, and HOME / GIT_CONFIG_GLOBAL point
into the world, so the user's own configuration is neither read nor touched.
The agents wait for each other through the coord branch itself (polling with
a fetch), exactly as real agents would. Example::

    from gitcoord.demo import run_demo
    exit_code = run_demo(keep=None)
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import tempfile
import threading
import time
import traceback
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import IO, Any

from gitcoord.coordinator import Coordinator
from gitcoord.errors import GitcoordError, InvalidInput, Refused
from gitcoord.git import Git

AGENTS = ("alpha", "beta", "gamma")
COLOURS = {"alpha": "cyan", "beta": "magenta", "gamma": "yellow", "human": "green", "demo": "bold"}
ROLES = {"alpha": "content modules", "beta": "backend API", "gamma": "data and infrastructure"}
IDENTITY = {
    "GIT_AUTHOR_NAME": "gitcoord demo",
    "GIT_AUTHOR_EMAIL": "liz@demo.invalid",
    "GIT_COMMITTER_NAME": "gitcoord demo",
    "GIT_COMMITTER_EMAIL": "liz@demo.invalid",
}
# How long one agent waits for another's step before giving up (the whole demo stays under a minute).
STEP_TIMEOUT = 30.0
AGENT_TIMEOUT = 50.0
POLL = 0.25


class DemoFailed(GitcoordError):
    """A step of the demo did not happen as scripted (exit 1: it is a bug, not bad input)."""


# -- output ---------------------------------------------------------------------------------


class Printer:
    """Lines with a coloured speaker on a terminal, plain `speaker: text` through a pipe."""

    def __init__(self, stream: IO[str] | None = None) -> None:
        self.stream = stream or sys.stdout
        self.lock = threading.Lock()
        self.rich = self.stream.isatty()

    def line(self, who: str, text: str) -> None:
        with self.lock:
            if self.rich:
                from rich.console import Console
                from rich.markup import escape

                colour = COLOURS.get(who, "")
                Console(file=self.stream, highlight=False).print(f"[{colour}]{who:>6}[/] {escape(text)}")
            else:
                self.stream.write(f"{who:>6}: {text}\n")
                self.stream.flush()


# -- the world ------------------------------------------------------------------------------


def world_env(root: Path) -> dict[str, str]:
    """The environment of everything the demo runs: a pinned identity, a private HOME."""
    home = root / "home"
    home.mkdir(parents=True, exist_ok=True)
    gitconfig = home / ".gitconfig"
    gitconfig.write_text(
        "[user]\n\tname = gitcoord demo\n\temail = liz@demo.invalid\n"
        '[init]\n\tdefaultBranch = main\n[protocol "file"]\n\tallow = always\n',
        encoding="utf-8",
    )
    env = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith("GIT_") and k not in ("GITCOORD_AGENT", "GITCOORD_CLOCK_SKEW_SECONDS")
    }
    env.update(
        IDENTITY,
        HOME=str(home),
        GIT_CONFIG_GLOBAL=str(gitconfig),
        GIT_CONFIG_NOSYSTEM="1",
        PYTHONUNBUFFERED="1",
    )
    return env


@contextmanager
def _environment(env: dict[str, str]) -> Iterator[None]:
    """Run the in-process part of the demo under `env`, then put the caller's back."""
    saved = dict(os.environ)
    os.environ.clear()
    os.environ.update(env)
    try:
        yield
    finally:
        os.environ.clear()
        os.environ.update(saved)


def _git(cwd: Path, *args: str) -> str:
    return Git(cwd).check(*args).decode().strip()


def build_world(root: Path) -> dict[str, Path]:
    """A seed repository, its bare remote, and a clone per agent plus one for the human."""
    seed = root / "seed"
    seed.mkdir()
    _git(seed, "init", "-q")
    (seed / "README.md").write_text(
        "# Ascent Basecamp\n\nCourse modules, backend and data.\n", encoding="utf-8"
    )
    for folder in ("modules/power", "backend", "data"):
        (seed / folder).mkdir(parents=True)
        (seed / folder / ".keep").write_text("", encoding="utf-8")
    _git(seed, "add", ".")
    _git(seed, "commit", "-q", "-m", "Initial layout")
    remote = root / "remote.git"
    _git(root, "clone", "-q", "--bare", str(seed), str(remote))
    shutil.rmtree(seed)
    clones = {name: root / name for name in (*AGENTS, "human")}
    for path in clones.values():
        _git(root, "clone", "-q", str(remote), str(path))
    return {"remote": remote, **clones}


def _install_hooks(clone: Path) -> bool:
    try:
        from gitcoord.hooks.install import install
    except ImportError:
        return False
    install(clone)
    return True


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
        return _git(self.clone, "log", "-1", "--format=%(trailers:only,unfold)").replace("\n", "; ")


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
    _summary(agent, "LMS routes, JWT auth", "Frontend login", blockers="None")


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
    guard = subprocess.run(
        [sys.executable, "-m", "gitcoord", "guard", "--format", "claude"],
        cwd=agent.clone,
        input=json.dumps(call),
        capture_output=True,
        text=True,
        check=False,
    )
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


# -- the conductor ----------------------------------------------------------------------------


def _pump(proc: subprocess.Popen[str], name: str, printer: Printer) -> None:
    assert proc.stdout is not None
    for raw in proc.stdout:
        printer.line(name, raw.rstrip("\n"))


def _spawn_agents(
    world: dict[str, Path], env: dict[str, str], printer: Printer
) -> list[tuple[str, subprocess.Popen[str], threading.Thread]]:
    running = []
    for name in AGENTS:
        proc = subprocess.Popen(
            [sys.executable, "-m", "gitcoord.demo", "agent", name, str(world[name])],
            env=dict(env, GITCOORD_AGENT=name),
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
        )
        pump = threading.Thread(target=_pump, args=(proc, name, printer), daemon=True)
        pump.start()
        running.append((name, proc, pump))
    return running


def _act_as_human(human: Coordinator, printer: Printer, running: list[Any]) -> None:
    """While the agents run, review beta's decision as a person would."""
    deadline = time.monotonic() + AGENT_TIMEOUT
    while time.monotonic() < deadline and any(p.poll() is None for _, p, _ in running):
        human.snapshot(fetch=True)
        proposed = human.decisions(status="proposed")
        for decision in proposed:
            done = human.approve_decision(decision.id, note="Approved: go with JWT, short expiry.")
            printer.line("human", f"approved {done.id} '{done.title}' as {done.reviewed_by}")
            return
        time.sleep(POLL)


def _finish(running: list[Any], printer: Printer) -> list[str]:
    failed = []
    for name, proc, pump in running:
        try:
            code = proc.wait(timeout=AGENT_TIMEOUT)
        except subprocess.TimeoutExpired:
            proc.kill()
            code = proc.wait()
            printer.line("demo", f"{name} did not finish in {AGENT_TIMEOUT:.0f}s and was stopped")
        pump.join(timeout=5)
        if code != 0:
            failed.append(name)
    return failed


def _dashboard(human: Coordinator, root: Path, printer: Printer) -> Path | None:
    try:
        from gitcoord.dashboard import write_dashboard
    except ImportError:
        printer.line("demo", "(dashboard skipped: gitcoord.dashboard is not available in this version)")
        return None
    return write_dashboard(human, root / "dashboard.html")


def _check_keep(keep: Path) -> Path:
    keep = keep.resolve()
    if keep.exists() and (not keep.is_dir() or any(keep.iterdir())):
        raise InvalidInput(
            f"{keep} exists and is not an empty directory.",
            hint="name a new directory for --keep, or empty that one.",
        )
    keep.mkdir(parents=True, exist_ok=True)
    return keep


def run_demo(keep: Path | None = None, *, printer: Printer | None = None) -> int:
    """Run the whole demo; 0 when every agent did its part. `keep`: leave the world there."""
    printer = printer or Printer()
    root = _check_keep(keep) if keep is not None else Path(tempfile.mkdtemp(prefix="gitcoord-demo-"))
    started = time.monotonic()
    try:
        env = world_env(root)
        with _environment(env):
            return _run_in(root, env, printer, started, kept=keep is not None)
    finally:
        if keep is None:
            shutil.rmtree(root, ignore_errors=True)


def _run_in(root: Path, env: dict[str, str], printer: Printer, started: float, *, kept: bool) -> int:
    printer.line(
        "demo",
        f"building a throwaway world in {root}: a bare remote, clones for alpha, beta, gamma and the human",
    )
    world = build_world(root)
    with Coordinator(world["human"]) as human:
        human.init()
        printer.line("demo", "coord branch created and pushed (every record below is a commit on it)")
        hooked = all(_install_hooks(world[name]) for name in AGENTS)
        printer.line(
            "demo",
            "git hooks installed in the three clones"
            if hooked
            else "(hook step skipped: gitcoord.hooks is not available in this version)",
        )
        task = human.add_task(
            "Write the battery module",
            resources=["modules/power/battery.md"],
            assign="alpha",
            priority="high",
        )
        printer.line("human", f"queued task {task.id} for alpha: {task.title}")
        printer.line("demo", "starting alpha, beta and gamma as three concurrent processes")
        running = _spawn_agents(world, env, printer)
        _act_as_human(human, printer, running)
        failed = _finish(running, printer)
        human.snapshot(fetch=True)
        printer.line("demo", "gitcoord status:")
        from gitcoord.briefing import render_status

        render_status(human.status(fetch=True))
        page = _dashboard(human, root, printer)
    elapsed = time.monotonic() - started
    if failed:
        printer.line("demo", f"FAILED: {', '.join(failed)} did not complete their part ({elapsed:.1f}s)")
        return 1
    _closing(world, page, printer, elapsed, kept=kept)
    return 0


def _closing(
    world: dict[str, Path], page: Path | None, printer: Printer, elapsed: float, *, kept: bool
) -> None:
    printer.line("demo", f"done in {elapsed:.1f}s: three agents, no lost write, no overlapping edit.")
    if kept:
        if page is not None:
            printer.line("demo", f"dashboard: {page}")
        printer.line("demo", f"audit trail: git -C {world['human']} log --format='%s' origin/coord")
    else:
        printer.line(
            "demo",
            "the world was removed; run `gitcoord demo --keep DIR` to keep it and open DIR/dashboard.html",
        )


def _main(argv: list[str]) -> int:
    if len(argv) == 3 and argv[0] == "agent" and argv[1] in SCRIPTS:
        return agent_main(argv[1], Path(argv[2]))
    print(
        "usage: python -m gitcoord.demo agent alpha|beta|gamma CLONE   (or: gitcoord demo)", file=sys.stderr
    )
    return 2


if __name__ == "__main__":
    sys.exit(_main(sys.argv[1:]))
