"""What the MCP server keeps between calls besides its reader (gitcoord.mcp_reader.KeptWorkspace):
the repository's directories and git's config, re-checked by stats at every call.

Real git throughout; `GIT_TRACE` counts the git processes a call starts, so "kept" is shown by
the absence of `rev-parse` and `config`, and "re-checked" by the next call seeing an edit.
"""

from __future__ import annotations

import os
import shutil
import sys
import time
from collections.abc import Callable
from pathlib import Path

import pytest

from gitcoord import kept
from gitcoord.mcp import Tools

from .conftest import World, git, run, wait_for
from .warm_helpers import edit_in_place, settled

pytest.importorskip("mcp", reason="the official `mcp` SDK is not installed")


def _holders(tools: Tools) -> dict[str, str]:
    found = tools.typed(lambda c: c.claims(fetch=False))
    return {view["resource"]: view["agent"] for view in found}


def _claim(tools: Tools, resource: str) -> None:
    tools.call(lambda c: c.claim([resource]))


def _git_commands(monkeypatch: pytest.MonkeyPatch, tmp: Path, call: Callable[[], object]) -> list[str]:
    """The git commands (`rev-parse`, `config`...) `call` started, in order."""
    trace = tmp / f"trace-{time.monotonic_ns()}"
    monkeypatch.setenv("GIT_TRACE", str(trace))
    try:
        call()
    finally:
        monkeypatch.delenv("GIT_TRACE")
    lines = trace.read_text().splitlines() if trace.exists() else []
    return [line.split("trace: built-in: git ")[1].split()[0] for line in lines if "built-in: git " in line]


def test_kept_directories_and_config_are_used_and_a_config_edit_is_seen_next_call(
    world: World, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    a = world.clones[0]
    git(a, "config", "coord.agent", "alpha")
    tools = Tools(a, None)  # the identity comes from git's config: an edit must reach the next call
    try:
        settled(a / ".git" / "config", Path(os.environ["GIT_CONFIG_GLOBAL"]))
        _claim(tools, "src/a.py")
        seen = _git_commands(monkeypatch, tmp_path, lambda: _claim(tools, "src/a2.py"))
        assert "rev-parse" not in seen and "config" not in seen, seen  # both kept
        # An editor saving the file in place: same inode, same size.
        edit_in_place(a / ".git" / "config", "alpha", "gamma")
        _claim(tools, "src/b.py")
        # `git config`: a new file renamed over the old one.
        git(a, "config", "coord.agent", "delta")
        _claim(tools, "src/c.py")
        assert _holders(tools) == {
            "src/a.py": "alpha",
            "src/a2.py": "alpha",
            "src/b.py": "gamma",
            "src/c.py": "delta",
        }
    finally:
        tools.reader.close()


def test_a_global_config_edit_is_seen_next_call(world: World, monkeypatch: pytest.MonkeyPatch) -> None:
    a = world.clones[0]
    global_config = Path(os.environ["GIT_CONFIG_GLOBAL"])
    git(a, "config", "--global", "coord.agent", "alpha")
    tools = Tools(a, None)
    try:
        settled(a / ".git" / "config", global_config)
        _claim(tools, "src/a.py")
        edit_in_place(global_config, "alpha", "omega")
        _claim(tools, "src/b.py")
        assert _holders(tools) == {"src/a.py": "alpha", "src/b.py": "omega"}
    finally:
        tools.reader.close()


def test_a_config_with_includes_is_read_at_every_call(
    world: World, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """git's includes name files (and `includeIf` conditions, the checked-out branch among them)
    that no stat of the known config files covers: such a config is never kept."""
    a = world.clones[0]
    extra = tmp_path / "extra.cfg"
    extra.write_text("[coord]\n\tagent = alpha\n")
    git(a, "config", "include.path", str(extra))
    tools = Tools(a, None)
    try:
        settled(a / ".git" / "config", extra)
        _claim(tools, "src/a.py")
        edit_in_place(extra, "alpha", "kappa")
        seen = _git_commands(monkeypatch, tmp_path, lambda: _claim(tools, "src/b.py"))
        assert "config" in seen and "rev-parse" not in seen, seen
        assert _holders(tools) == {"src/a.py": "alpha", "src/b.py": "kappa"}
    finally:
        tools.reader.close()


def test_a_config_file_changed_within_the_racy_window_is_read_again(
    world: World, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A file stamped within RACY_SECONDS of the read may change again with the same stamp and
    size (coarse time stamps): it is not kept. A window longer than the test makes every file racy."""
    monkeypatch.setattr(kept, "RACY_SECONDS", 10**6)
    a = world.clones[0]
    tools = Tools(a, "alpha")
    try:
        _claim(tools, "src/a.py")
        seen = _git_commands(monkeypatch, tmp_path, lambda: _claim(tools, "src/b.py"))
        assert "config" in seen and "rev-parse" not in seen, seen
    finally:
        tools.reader.close()


def test_a_repository_moved_away_is_a_clear_error_and_found_again_when_back(world: World) -> None:
    a = world.clones[0]
    tools = Tools(a, "alpha")
    try:
        _claim(tools, "src/a.py")
        moved = a.with_name("a-moved")
        a.rename(moved)
        with pytest.raises(Exception, match=rf"^bad input \(exit 2\): the directory {a} no longer exists\."):
            _claim(tools, "src/b.py")
        moved.rename(a)
        _claim(tools, "src/b.py")
        assert _holders(tools) == {"src/a.py": "alpha", "src/b.py": "alpha"}
    finally:
        tools.reader.close()


def test_a_git_dir_replaced_under_the_same_work_tree_is_found_again(world: World) -> None:
    """`.git` removed and made again: the kept directories name the same paths, but they are other
    files now, so the repository is found again (here: a new repository without the coord branch)."""
    a = world.clones[0]
    tools = Tools(a, "alpha")
    try:
        _claim(tools, "src/a.py")
        tools.mirrors.wait()  # what the server does after an answer (the mirror, the turns file) is done
        shutil.rmtree(a / ".git")
        git(a, "init", "-q")
        with pytest.raises(Exception, match=r"coord branch does not exist"):
            _claim(tools, "src/b.py")
        assert run(a, "claim", "src/b.py", agent="alpha").code != 0  # the CLI says the same
    finally:
        tools.reader.close()


def test_a_linked_worktree_moved_and_repaired_is_found_again(world: World, tmp_path: Path) -> None:
    """A worktree's `.git` file names its git dir: `git worktree move` rewrites it (and the git
    dir's `gitdir`); the server, started in the new place, keeps working there."""
    a = world.clones[0]
    first = tmp_path / "wt1"
    git(a, "worktree", "add", "-q", str(first))
    tools = Tools(first, "alpha")
    try:
        _claim(tools, "src/a.py")
        git(a, "worktree", "move", str(first), str(tmp_path / "wt2"))
        with pytest.raises(Exception, match=r"^bad input \(exit 2\): the directory .* no longer exists\."):
            _claim(tools, "src/b.py")
        git(a, "worktree", "move", str(tmp_path / "wt2"), str(first))
        _claim(tools, "src/b.py")
        assert _holders(tools) == {"src/a.py": "alpha", "src/b.py": "alpha"}
    finally:
        tools.reader.close()


HOLD_MIRROR = """#!/bin/sh
# Holds every update of refs/heads/coord until the test says go (a file), so that what waits
# for it shows: the ref move runs, and the test reads the refs, while it is held.
case "$1" in prepared) ;; *) exit 0 ;; esac
grep -q ' refs/heads/coord$' || exit 0
touch "{held}"
n=0
while [ ! -e "{go}" ] && [ $n -lt 1200 ]; do sleep 0.05; n=$((n + 1)); done
"""


def test_the_answer_does_not_wait_for_the_mirror_and_the_next_call_does(world: World, tmp_path: Path) -> None:
    """After a push, refs/heads/coord follows the remote's tip in a thread of its own: the claim
    is answered while that `update-ref` is held, and the next call starts only once it is done."""
    import threading

    a = world.clones[0]
    held, go = tmp_path / "held", tmp_path / "go"
    hook = a / ".git" / "hooks" / "reference-transaction"
    hook.write_text(HOLD_MIRROR.format(held=held, go=go))
    hook.chmod(0o755)
    tools = Tools(a, "alpha")
    before = git(a, "rev-parse", "refs/heads/coord")
    answered = threading.Event()
    claim = threading.Thread(target=lambda: (_claim(tools, "src/a.py"), answered.set()))
    try:
        claim.start()
        wait_for(answered.is_set, "the claim's answer, while the mirror's update-ref is held", timeout=30)
        wait_for(held.exists, "the mirror's update-ref, held by the hook", timeout=30)
        landed = git(a, "rev-parse", "refs/remotes/origin/coord")
        assert landed != before and git(a, "rev-parse", "refs/heads/coord") == before
        seen: list[dict[str, str]] = []
        following = threading.Thread(target=lambda: seen.append(_holders(tools)))
        following.start()
        go.touch()
        following.join(timeout=60)
        assert seen == [{"src/a.py": "alpha"}]
        assert git(a, "rev-parse", "refs/heads/coord") == landed
    finally:
        go.touch()
        claim.join(timeout=60)
        tools.close()


def test_the_server_leaves_no_mirror_move_behind(world: World) -> None:
    """`gitcoord mcp` over stdio: when the client goes away, refs/heads/coord is the remote's tip."""
    anyio = pytest.importorskip("anyio")
    from mcp import ClientSession, StdioServerParameters
    from mcp.client.stdio import stdio_client

    a = world.clones[0]

    async def session() -> None:
        params = StdioServerParameters(
            command=sys.executable,
            args=["-m", "gitcoord", "-C", str(a), "mcp", "--agent", "alpha"],
            env=dict(os.environ),
        )
        async with stdio_client(params) as (read, write), ClientSession(read, write) as s:
            await s.initialize()
            result = await s.call_tool("claim", {"resources": ["src/a.py"]})
            assert not result.is_error, result.content

    anyio.run(session)
    tip = git(world.remote, "rev-parse", "refs/heads/coord")
    assert git(a, "rev-parse", "refs/heads/coord") == tip == git(a, "rev-parse", "refs/remotes/origin/coord")


def test_one_mirror_worker_moves_the_branch_call_after_call(world: World) -> None:
    """The mirror moves go to one worker kept for the server's life (no thread started per
    answer), in order: after each call's move, refs/heads/coord is that call's landing."""
    import threading

    a = world.clones[0]
    tools = Tools(a, "alpha")
    others = set(threading.enumerate())
    workers: set[threading.Thread] = set()
    try:
        for n in range(3):
            _claim(tools, f"src/m{n}.py")
            tools.mirrors.wait()
            assert git(a, "rev-parse", "refs/heads/coord") == git(a, "rev-parse", "refs/remotes/origin/coord")
            workers |= {t for t in set(threading.enumerate()) - others if t.name == "gitcoord-mirror"}
        assert len(workers) == 1 and next(iter(workers)).is_alive()
    finally:
        tools.close()
    assert not any(t.is_alive() for t in workers), "closing the tools ends their worker"
