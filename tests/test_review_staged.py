"""Adversarial review of the served pre-commit's staged paths (commits 7c606b6..2539b84).

Real `git commit` through installed hooks, in-process and through a real hooks' server.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import World, fetches, git, run
from tests.test_warm_hooks import Trace, _commit, _hooks_server, _stage
from tests.test_warm_staged import _served
from tests.warm_helpers import Warm


@pytest.mark.parametrize("served", [True, False], ids=["served", "in-process"])
def test_an_intent_to_add_path_is_not_judged(
    tmp_path: Path, local_repo: Path, warm: Warm, served: bool
) -> None:
    """`git add -N` marks a file to add later; `git commit` leaves it out of the commit. The
    porcelain `git diff --cached` hides it; `git diff-index --cached` lists it as added."""
    trace = Trace(tmp_path)
    env = _served(local_repo, warm, trace)
    if not served:
        env["GITCOORD_WARM"] = "0"
    (local_repo / "src").mkdir(exist_ok=True)
    (local_repo / "src" / "held.py").write_text("later\n")
    git(local_repo, "add", "-N", "src/held.py")
    _stage(local_repo, "notes.txt", "mine\n")
    trace.clear()
    code, err = _commit(local_repo, env, "-m", "notes only")
    assert trace.served() == served
    assert (code, err) == (0, "")
    assert git(local_repo, "show", "--name-only", "--format=", "HEAD").split() == ["notes.txt"]


def test_a_commit_with_nothing_staged_does_not_fetch(world: World) -> None:
    """hooks.fetch = true, the remote out of reach (offline): rewording the last commit (`commit
    --amend -m`) or an empty commit has no path to judge. Before 7c606b6.. the hook returned
    before reading the claims; now it reads them (and fetches, waiting up to the fetch timeout)
    before it knows there is nothing staged, and warns on every such commit."""
    a = world.root / "a"
    config = a / ".coord" / "config.toml"
    config.write_text(config.read_text().replace("fetch = false", "fetch = true"))
    assert run(a, "hooks", "install").code == 0
    env = {"GITCOORD_WARM": "0", "GITCOORD_AGENT": "alpha"}
    git(a, "add", ".coord/config.toml")
    assert _commit(a, env, "-m", "fetch the coord branch before each commit") == (0, "")
    world.remote.rename(world.root / "moved.git")
    trace = world.root / "git-trace.log"
    env["GIT_TRACE"] = str(trace)
    assert _commit(a, env, "--amend", "-m", "reworded") == (0, "")
    assert _commit(a, env, "--allow-empty", "-m", "empty") == (0, "")
    assert fetches(trace) == 0


# A parent of last resort (PR_SET_CHILD_SUBREAPER) that never reaps an orphan, as a container's
# PID 1 that is not an init: runs `git` commands sent one JSON line at a time, and answers
# "zombies" with the pids of the dead children it was handed and never started.
REAPER = r"""
import ctypes, json, os, subprocess, sys
assert ctypes.CDLL(None, use_errno=True).prctl(36, 1, 0, 0, 0) == 0
for line in sys.stdin:
    asked = json.loads(line)
    if asked == "zombies":
        found = []
        for pid in filter(str.isdigit, os.listdir("/proc")):
            try:
                stat = open(f"/proc/{pid}/stat").read().rpartition(")")[2].split()
            except OSError:
                continue
            if stat[0] == "Z" and int(stat[1]) == os.getpid():
                found.append(int(pid))
        print(json.dumps(found), flush=True)
        continue
    res = subprocess.run(asked["argv"], cwd=asked["cwd"], env=asked["env"], capture_output=True, text=True)
    print(json.dumps([res.returncode, res.stderr]), flush=True)
"""


class Reaper:
    def __init__(self) -> None:
        self.proc = subprocess.Popen(
            [sys.executable, "-c", REAPER], stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True
        )

    def ask(self, what: object) -> Any:
        assert self.proc.stdin is not None and self.proc.stdout is not None
        self.proc.stdin.write(json.dumps(what) + "\n")
        self.proc.stdin.flush()
        return json.loads(self.proc.stdout.readline())

    def commit(self, repo: Path, env: dict[str, str], *args: str) -> tuple[int, str]:
        code, err = self.ask({"argv": ["git", "commit", "-q", *args], "cwd": str(repo), "env": env})
        return int(code), str(err)

    def close(self) -> None:
        self.proc.kill()
        self.proc.wait()


@pytest.mark.parametrize("served", [pytest.param(True, id="served"), pytest.param(False, id="in-process")])
@pytest.mark.parametrize("why", ["legacy-hook", "mode-off"])
def test_a_served_pre_commit_leaves_no_process_behind(
    tmp_path: Path, local_repo: Path, warm: Warm, served: bool, why: str
) -> None:
    """A pre-commit whose listing started at fork but is not waited for (a legacy hook runs first,
    or hooks.mode is off): the child exits and its git, orphaned, is handed to whoever is the
    parent of last resort. A container's PID 1 that does not reap (an agent's harness) keeps one
    zombie per commit; in-process, the hook waits for every git it starts."""
    assert run(local_repo, "hooks", "install").code == 0
    env = dict(os.environ, **warm.env, GITCOORD_AGENT="alpha")
    if not served:
        env["GITCOORD_WARM"] = "0"
    reaper = Reaper()
    try:
        _stage(local_repo, "first.txt", "1\n")
        # Under the reaper: the server the first commit starts, and so its children, descend from it.
        assert reaper.commit(local_repo, dict(env, GITCOORD_WARM="1"), "-m", "first") == (0, "")
        _hooks_server(warm)
        if why == "legacy-hook":
            legacy = local_repo / ".git" / "hooks" / "pre-commit.legacy"
            legacy.write_text("#!/bin/sh\nexit 0\n")
            legacy.chmod(0o755)
        else:
            assert run(local_repo, "hooks", "install", "--mode", "off").code == 0
        before = set(reaper.ask("zombies"))
        _stage(local_repo, "second.txt", "2\n")
        assert reaper.commit(local_repo, env, "-m", "second") == (0, "")
        left = [pid for pid in reaper.ask("zombies") if pid not in before]
        assert left == []
    finally:
        reaper.close()
