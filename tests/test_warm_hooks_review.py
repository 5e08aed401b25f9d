"""Review probes: served hooks against in-process hooks, real git."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

import pytest

from tests.conftest import World, git, run
from tests.test_warm_hooks import Trace, _commit, _hooks_server, _stage, agent_git
from tests.warm_helpers import Warm, _alive


def _start(repo: Path, warm: Warm, env: dict[str, str]) -> None:
    _stage(repo, "first.txt", "1\n")
    assert _commit(repo, env, "-m", "first")[0] == 0
    _hooks_server(warm)


def _both(tmp_path: Path, warm: Warm, agent: str = "alpha") -> tuple[Trace, dict[str, str], dict[str, str]]:
    trace = Trace(tmp_path)
    served = dict(warm.env, **trace.env, GITCOORD_AGENT=agent)
    return trace, served, dict(served, GITCOORD_WARM="0")


def test_auto_mode_served(tmp_path: Path, local_repo: Path, warm: Warm) -> None:
    assert run(local_repo, "hooks", "install", "--mode", "auto").code == 0
    trace, served, local = _both(tmp_path, warm)
    _start(local_repo, warm, served)
    for n, env in enumerate((served, local)):
        _stage(local_repo, f"src/new{n}.py", "x\n")
        trace.clear()
        res = _commit(local_repo, env, "-m", f"new {n}")
        assert trace.served() == (env is served)
        assert res == (0, ""), res
        body = git(local_repo, "log", "-1", "--format=%B")
        assert "Coord-Claim: C-" in body, body
    claims = run(local_repo, "claims", "--json").json()
    assert {"src/new0.py", "src/new1.py"} <= {c["resource"] for c in claims if c["agent"] == "alpha"}


def test_override_served(tmp_path: Path, local_repo: Path, warm: Warm) -> None:
    assert run(local_repo, "hooks", "install").code == 0
    assert run(local_repo, "claim", "src/held.py", agent="beta").code == 0
    trace, served, local = _both(tmp_path, warm)
    _start(local_repo, warm, served)
    out = []
    for n, env in enumerate((served, local)):
        _stage(local_repo, "src/held.py", f"{n}\n")
        trace.clear()
        res = _commit(local_repo, dict(env, GITCOORD_OVERRIDE="urgent fix"), "-m", f"ovr {n}")
        assert trace.served() == (env is served)
        body = git(local_repo, "log", "-1", "--format=%B")
        out.append((res[0], "override recorded" in res[1], "Coord-Override: E-" in body))
    assert out[0] == out[1] == (0, True, True), out


@pytest.mark.parametrize("how", ["-a", "paths"])
def test_commit_a_and_paths_served(tmp_path: Path, local_repo: Path, warm: Warm, how: str) -> None:
    assert run(local_repo, "hooks", "install").code == 0
    assert run(local_repo, "claim", "src/held.py", agent="beta").code == 0
    trace, served, local = _both(tmp_path, warm)
    _stage(local_repo, "src/held.py", "0\n")
    assert _commit(local_repo, served, "--no-verify", "-m", "tracked")[0] == 0
    _start(local_repo, warm, served)
    (local_repo / "src/held.py").write_text("changed\n")
    extra = ["-a"] if how == "-a" else ["--", "src/held.py"]
    out = []
    for env in (served, local):
        trace.clear()
        res = (
            _commit(local_repo, env, "-m", "edit", *extra[:1])
            if how == "-a"
            else _commit(local_repo, env, "-m", "edit", *extra)
        )
        assert trace.served() == (env is served)
        out.append(res)
    assert out[0] == out[1]
    assert out[0][0] == 1 and "src/held.py" in out[0][1], out


def test_worktree_and_separate_git_dir(tmp_path: Path, local_repo: Path, warm: Warm) -> None:
    assert run(local_repo, "hooks", "install").code == 0
    assert run(local_repo, "claim", "src/mine.py", agent="alpha").code == 0
    trace, served, local = _both(tmp_path, warm)
    _start(local_repo, warm, served)
    wt = tmp_path / "wt"
    git(local_repo, "worktree", "add", "-q", str(wt))
    for env in (served, local):
        _stage(wt, "src/mine.py", f"{env is served}\n")
        trace.clear()
        assert _commit(wt, env, "-m", "wt") == (0, "")
        assert trace.served() == (env is served)
        body = git(wt, "log", "-1", "--format=%B")
        assert "Coord-Claim: C-" in body, body
        print(trace.count("rev-parse"), trace.count("interpret-trailers"))


def test_legacy_served(tmp_path: Path, local_repo: Path, warm: Warm) -> None:
    hook = local_repo / ".git/hooks/pre-commit"
    hook.write_text('#!/bin/sh\necho "legacy out $1"\necho "legacy err" >&2\nexit 3\n')
    hook.chmod(0o755)
    assert run(local_repo, "hooks", "install").code == 0
    trace, served, local = _both(tmp_path, warm)
    (local_repo / ".git/hooks/pre-commit.legacy").chmod(0o644)
    _start(local_repo, warm, served)
    (local_repo / ".git/hooks/pre-commit.legacy").chmod(0o755)
    out = []
    for env in (served, local):
        _stage(local_repo, "x.txt", "x\n")
        trace.clear()
        res = agent_git(local_repo, env, "commit", "-q", "-m", "x")
        out.append((res.returncode, res.stdout, res.stderr))
    assert out[0] == out[1], out
    assert out[0][0] != 0 and "legacy err" in out[0][2]


@pytest.mark.parametrize("served_on", [True, False])
@pytest.mark.parametrize("signum", [9, 15])
def test_a_killed_commit_leaves_no_hook_running(
    tmp_path: Path, local_repo: Path, warm: Warm, served_on: bool, signum: int
) -> None:
    """An agent's tool that times out kills the commit's process group: the hook goes with it."""
    from tests.conftest import wait_for

    assert run(local_repo, "hooks", "install").code == 0
    _trace, served, local = _both(tmp_path, warm)
    _start(local_repo, warm, served)
    marker = tmp_path / "legacy.pid"
    legacy = local_repo / ".git/hooks/pre-commit.legacy"
    legacy.write_text(f"#!/bin/sh\necho $$ > {marker}.tmp\nmv {marker}.tmp {marker}\nexec sleep 600\n")
    legacy.chmod(0o755)
    _stage(local_repo, "x.txt", "x\n")
    proc = subprocess.Popen(
        ["git", "commit", "-q", "-m", "x"],
        cwd=local_repo,
        env=dict(os.environ, **(served if served_on else local)),
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,
    )
    wait_for(marker.exists, "the legacy hook")
    hook = int(marker.read_text())
    os.killpg(proc.pid, signum)
    proc.wait()
    try:
        wait_for(lambda: not _alive(hook), "the hook to die with its commit", timeout=60)
    finally:
        if _alive(hook):
            os.kill(hook, 9)


def test_served_pre_receive_in_a_bare_remote_fences_as_in_process(
    tmp_path: Path, world: World, warm: Warm
) -> None:
    """pre-receive sees the pushed objects only through git's quarantine variables."""
    a, b = world.clones[0], world.clones[1]
    assert run(a, "claim", "core/", agent="alpha").code == 0
    assert run(world.remote, "hooks", "install", "--server").code == 0
    trace = Trace(tmp_path)
    env = dict(warm.env, **trace.env, GITCOORD_AGENT="beta")
    # A first push (in-process) starts the server; later ones are served.
    _stage(b, "docs/ok.md", "ok\n")
    assert _commit(b, env, "--no-verify", "-m", "ok")[0] == 0
    first = agent_git(b, env, "push", "-q", "origin", "HEAD:main")
    assert first.returncode == 0, first.stderr
    _hooks_server(warm)
    _stage(b, "core/engine.py", "x\n")
    assert _commit(b, env, "--no-verify", "-m", "sneaky")[0] == 0
    out = []
    for warm_on in ("1", "0"):
        trace.clear()
        res = agent_git(
            b, {**env, "GITCOORD_WARM": warm_on}, "push", "-q", "--no-verify", "origin", "HEAD:main"
        )
        served = not any(parent.startswith("git") for parent in trace.hook_parents())
        assert served == (warm_on == "1"), trace.hook_parents()
        out.append((res.returncode != 0, "refused" in res.stderr))
    assert out[0] == out[1] == (True, True), out
    assert git(world.remote, "rev-list", "--count", "main") == "2"
