"""`gitcoord demo`: three agents coordinate through a throwaway shared repository.

The demo builds a world in a temporary directory (a bare remote, a clone per
agent and one for the human), installs the git hooks in every clone, then
runs alpha, beta and gamma as three concurrent processes
(`python -m gitcoord.demo_scenario agent NAME CLONE`, gitcoord.demo_scenario) through the scenario of the
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
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import IO, Any

from gitcoord.coordinator import Coordinator
from gitcoord.demo_scenario import POLL
from gitcoord.errors import InvalidInput
from gitcoord.git import Git

AGENTS = ("alpha", "beta", "gamma")
COLOURS = {"alpha": "cyan", "beta": "magenta", "gamma": "yellow", "human": "green", "demo": "bold"}
IDENTITY = {
    "GIT_AUTHOR_NAME": "gitcoord demo",
    "GIT_AUTHOR_EMAIL": "liz@demo.invalid",
    "GIT_COMMITTER_NAME": "gitcoord demo",
    "GIT_COMMITTER_EMAIL": "liz@demo.invalid",
}
AGENT_TIMEOUT = 50.0
DEFAULT_PAGE = "gitcoord-demo.html"


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
    remote = root / "ascent-basecamp.git"  # the dashboard's title is the remote's name
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
            [sys.executable, "-m", "gitcoord.demo_scenario", "agent", name, str(world[name])],
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


def _dashboard(human: Coordinator, root: Path, out: Path, printer: Printer, *, kept: bool) -> Path | None:
    """The page where the user ran the demo (it outlives the world), and in a kept world too."""
    try:
        from gitcoord.dashboard import write_dashboard
    except ImportError:
        printer.line("demo", "(dashboard skipped: gitcoord.dashboard is not available in this version)")
        return None
    if kept:
        write_dashboard(human, root / "dashboard.html")
    return write_dashboard(human, out)


def _check_out(out: Path | None) -> Path:
    """Where the page goes: `out`, else gitcoord-demo.html in the current directory; checked
    before anything is built, so a bad path costs no 15-second run."""
    out = Path(os.path.abspath(out if out is not None else DEFAULT_PAGE))
    if out.is_dir():
        raise InvalidInput(
            f"{out} is a directory: --out names the page's file.",
            hint=f"for instance: gitcoord demo --out {out / DEFAULT_PAGE}",
        )
    top = _work_tree(out.parent)
    if top is not None:  # a committed `gitcoord-demo.html -> ~/.bashrc` is not written through
        from gitcoord.safepath import check_inside

        check_inside(top, out)
    return out


def _work_tree(directory: Path) -> Path | None:
    """The top of the git work tree holding `directory`, if any, spelled as `directory` is
    (`--show-cdup`, not the resolved `--show-toplevel`: /tmp may be a link to /private/tmp)."""
    if not directory.is_dir():
        return None
    res = subprocess.run(
        ["git", "-C", str(directory), "rev-parse", "--show-cdup"], capture_output=True, text=True, check=False
    )
    if res.returncode != 0 or not res.stdout.endswith("\n"):
        return None  # not in a work tree (or a bare repository): nothing of a repository to protect
    return Path(os.path.normpath(directory / res.stdout.strip()))


def _check_keep(keep: Path) -> Path:
    keep = keep.resolve()
    if keep.exists() and (not keep.is_dir() or any(keep.iterdir())):
        raise InvalidInput(
            f"{keep} exists and is not an empty directory.",
            hint="name a new directory for --keep, or empty that one.",
        )
    keep.mkdir(parents=True, exist_ok=True)
    return keep


def run_demo(keep: Path | None = None, *, out: Path | None = None, printer: Printer | None = None) -> int:
    """Run the whole demo; 0 when every agent did its part. `keep`: leave the world there;
    `out`: where the dashboard goes (gitcoord-demo.html in the current directory)."""
    printer = printer or Printer()
    page = _check_out(out)
    root = _check_keep(keep) if keep is not None else Path(tempfile.mkdtemp(prefix="gitcoord-demo-"))
    started = time.monotonic()
    try:
        env = world_env(root)
        with _environment(env):
            return _run_in(root, env, page, printer, started, kept=keep is not None)
    finally:
        if keep is None:
            shutil.rmtree(root, ignore_errors=True)


def _run_in(
    root: Path, env: dict[str, str], out: Path, printer: Printer, started: float, *, kept: bool
) -> int:
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
        page = _dashboard(human, root, out, printer, kept=kept)
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
    if page is not None:
        printer.line("demo", f"dashboard: {page} (open it in a browser)")
    if kept:
        printer.line("demo", f"audit trail: git -C {world['human']} log --format='%s' origin/coord")
    else:
        printer.line("demo", "the world was removed; `gitcoord demo --keep DIR` keeps it to explore")
