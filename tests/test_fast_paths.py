"""The lean in-process path (issue 13): what a call does NOT pay for, checked with real processes.

A call ends with `os._exit` after flushing its streams, so its output must still arrive whole (to a
slow reader, to a file) and a closed pipe must still be a quiet exit 0. No call runs `git version`
(GitPython's import probe). The editor guard and the git hooks never import click, pydantic or
GitPython, and a command imports only its own area's module.
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import subprocess
import sys
import time
from pathlib import Path

from .conftest import GITCOORD, World, run, wait_for

HEAVY = ("click", "pydantic", "git", "rich")


def _env(agent: str | None = None, **extra: str) -> dict[str, str]:
    env = dict(os.environ, **extra)
    if agent:
        env["GITCOORD_AGENT"] = agent
    return env


def _imported(stderr: str) -> set[str]:
    """The modules a `python -X importtime` run imported, from its stderr."""
    found = set()
    for line in stderr.splitlines():
        if line.startswith("import time:") and "|" in line:
            found.add(line.rsplit("|", 1)[1].strip())
    return found


def _top(modules: set[str]) -> set[str]:
    return {m.split(".")[0] for m in modules}


def _git_commands(trace: Path) -> list[list[str]]:
    """The argv of every git process a run started, from its GIT_TRACE2_EVENT file."""
    argvs = []
    for line in trace.read_text().splitlines():
        event = json.loads(line)
        if event.get("event") == "start":
            argvs.append(event["argv"][1:])
    return argvs


# -- os._exit after flushing -------------------------------------------------------------------


def test_exit_codes_and_messages_unchanged_in_a_process(local_repo: Path) -> None:
    bad = subprocess.run(
        [*GITCOORD, "-C", str(local_repo), "claim", "../outside.py"],
        capture_output=True,
        text=True,
        env=_env("alpha"),
    )
    assert bad.returncode == 2, bad.stderr
    assert bad.stderr.startswith("gitcoord: ") and "Traceback" not in bad.stderr
    unknown = subprocess.run([*GITCOORD, "no-such-command"], capture_output=True, text=True)
    assert unknown.returncode == 2 and "No such command" in unknown.stderr
    version = subprocess.run([*GITCOORD, "--version"], capture_output=True, text=True)
    assert version.returncode == 0 and "version" in version.stdout
    missing = subprocess.run(
        [*GITCOORD, "-C", str(local_repo / "nope"), "claims"], capture_output=True, text=True
    )
    assert missing.returncode == 2
    assert missing.stderr.startswith("gitcoord: -C ")
    assert missing.stderr.endswith(": the directory does not exist.\n")


def _many_claims(repo: Path) -> None:
    names = [f"src/module_{i:04d}/file_with_a_rather_long_name.py" for i in range(300)]
    assert run(repo, "claim", *names, "-m", "x" * 60, agent="alpha").code == 0


def _steady(text: str) -> str:
    """The output without the seconds a lease has left, which tick between two runs."""
    return re.sub(r'"seconds_left": \d+', '"seconds_left": N', text)


def test_output_complete_to_a_slow_reader_and_to_a_file(local_repo: Path, tmp_path: Path) -> None:
    _many_claims(local_repo)
    expected = _steady(run(local_repo, "claims", "--json").out)
    assert len(expected) > 100_000  # several pipe buffers: the exit must wait for the reader
    proc = subprocess.Popen(
        [*GITCOORD, "-C", str(local_repo), "claims", "--json"], stdout=subprocess.PIPE, env=_env("beta")
    )
    assert proc.stdout is not None
    got = bytearray()
    time.sleep(0)  # the reader starts late and reads in small bites
    while chunk := proc.stdout.read(4096):
        got += chunk
    assert proc.wait(timeout=120) == 0
    assert _steady(got.decode()) == expected
    target = tmp_path / "out.json"
    with target.open("w") as fh:
        code = subprocess.run(
            [*GITCOORD, "-C", str(local_repo), "claims", "--json"], stdout=fh, env=_env("beta")
        ).returncode
    assert code == 0 and _steady(target.read_text()) == expected


def test_closed_pipe_exits_0_quietly(local_repo: Path) -> None:
    _many_claims(local_repo)
    read, write = os.pipe()
    os.close(read)  # nobody will ever read: every write fails with EPIPE
    try:
        res = subprocess.run(
            [*GITCOORD, "-C", str(local_repo), "claims", "--json"],
            stdout=write,
            stderr=subprocess.PIPE,
            text=True,
            env=_env("beta"),
        )
    finally:
        os.close(write)
    assert (res.returncode, res.stderr) == (0, "")


def test_small_output_to_a_closed_pipe_exits_0_quietly(local_repo: Path) -> None:
    """Output small enough to sit in the buffer until the end: the final flush meets the EPIPE."""
    read, write = os.pipe()
    os.close(read)
    try:
        res = subprocess.run([*GITCOORD, "--version"], stdout=write, stderr=subprocess.PIPE, text=True)
    finally:
        os.close(write)
    assert (res.returncode, res.stderr) == (0, "")


# -- no `git version` ----------------------------------------------------------------------------


def test_claim_and_check_in_run_no_git_version(world: World, tmp_path: Path) -> None:
    a = world.clones[0]
    for args in (("claim", "src/x.py", "-m", "why"), ("check-in", "-m", "working"), ("claims",)):
        trace = tmp_path / f"trace-{args[0]}.json"
        res = subprocess.run(
            [*GITCOORD, "-C", str(a), *args],
            capture_output=True,
            text=True,
            env=_env("alpha", GIT_TRACE2_EVENT=str(trace)),
        )
        assert res.returncode == 0, res.stderr
        commands = _git_commands(trace)
        assert commands, "the trace saw no git process at all"
        assert ["version"] not in commands, commands


# -- the guard and the hooks never through click --------------------------------------------------


def test_guard_imports_no_click_pydantic_gitpython(local_repo: Path) -> None:
    assert run(local_repo, "claim", "src/api/", "-m", "refactoring", agent="alpha").code == 0
    call = {
        "cwd": str(local_repo),
        "hook_event_name": "PreToolUse",
        "tool_name": "Edit",
        "tool_input": {"file_path": str(local_repo / "src/api/h.py")},
    }
    res = subprocess.run(
        [sys.executable, "-X", "importtime", "-P", "-m", "gitcoord", "guard", "--format", "claude"],
        input=json.dumps(call),
        cwd=local_repo,
        capture_output=True,
        text=True,
        env=_env("beta"),
    )
    assert res.returncode == 0
    assert json.loads(res.stdout)["hookSpecificOutput"]["permissionDecision"] == "deny"
    assert not _top(_imported(res.stderr)) & set(HEAVY), sorted(_top(_imported(res.stderr)) & set(HEAVY))


def test_guard_bad_usage_still_answered_by_click() -> None:
    res = subprocess.run([*GITCOORD, "guard", "--format", "vim"], input="{}", capture_output=True, text=True)
    assert res.returncode == 2
    assert "Invalid value for '--format'" in res.stderr


def test_pre_commit_hook_imports_no_click_pydantic_gitpython(local_repo: Path) -> None:
    (local_repo / "free.py").write_text("x\n")
    subprocess.run(["git", "add", "free.py"], cwd=local_repo, check=True)
    res = subprocess.run(
        [sys.executable, "-X", "importtime", "-P", "-m", "gitcoord.hooks", "pre-commit", "-", "-"],
        cwd=local_repo,
        capture_output=True,
        text=True,
        env=_env("beta"),
    )
    assert res.returncode == 0, res.stderr
    assert not _top(_imported(res.stderr)) & set(HEAVY)


# -- a command imports only its own area -----------------------------------------------------------


def test_claim_imports_only_its_area(local_repo: Path) -> None:
    res = subprocess.run(
        [sys.executable, "-X", "importtime", "-m", "gitcoord", "-C", str(local_repo), "claim", "a.py"],
        capture_output=True,
        text=True,
        env=_env("alpha"),
    )
    assert res.returncode == 0, res.stderr
    modules = _imported(res.stderr)
    others = {f"gitcoord.commands.{m}" for m in ("publishing", "agents", "journal", "automatic", "help")}
    assert not modules & others, sorted(modules & others)
    assert "git" not in _top(modules)  # GitPython: nothing on this path needs it


def test_the_lazy_table_names_every_command_of_every_area() -> None:
    """Each command the table names is that area's attribute, and every area's command is named."""
    import importlib

    from gitcoord.cli import AREAS, TABLE

    listed = {}
    for area in AREAS:
        module = importlib.import_module(f"gitcoord.commands.{area}")
        for command in module.COMMANDS:
            attr = next(name for name, value in vars(module).items() if value is command)
            listed[command.name] = f"{area}:{attr}"
    assert listed == TABLE


def test_the_lazy_group_finds_what_the_table_lacks_and_lists_in_area_order() -> None:
    import click

    from gitcoord.commands.lazy import LazyGroup

    group = LazyGroup(name="g", package="gitcoord.commands", areas=("journal", "claims"), table={})
    ctx = click.Context(group)
    assert group.get_command(ctx, "claim") is not None  # not in the table: every area is looked at
    assert list(group.commands)[:2] == ["log-error", "errors"]  # journal first, as `areas` says
    assert group.get_command(ctx, "no-such") is None


def test_a_killed_tree_never_acts_on_its_child_s_death(tmp_path: Path) -> None:
    """`kill_tree` stops the parent before it kills the children. Killed children first, a parent
    that reacts to their end (as git push updates its tracking ref when receive-pack goes) could
    act before its own kill, as a stale `refs/remotes/...lock` once showed. Here the parent writes
    a file when its child ends; it never may."""
    from gitcoord.processes import kill_tree

    for n in range(20):
        marker = tmp_path / f"acted-{n}"
        proc = subprocess.Popen(["sh", "-c", f"sleep 300 & wait; echo acted > '{marker}'"])
        wait_for(lambda p=proc: len(_children(p.pid)) == 1, "the child started")
        kill_tree(proc)
        assert proc.returncode == -9
        assert not marker.exists(), f"round {n}: the parent acted on its child's death before its kill"


def _children(pid: int) -> list[int]:
    found: list[int] = []
    for task in Path(f"/proc/{pid}/task").glob("*"):
        with contextlib.suppress(OSError, ValueError):
            found += [int(c) for c in (task / "children").read_text().split()]
    return found
