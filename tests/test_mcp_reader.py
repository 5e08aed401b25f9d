"""The MCP server's kept `git cat-file --batch` (gitcoord.mcp.Tools): it never makes a call stale.

Real git throughout: a bare remote, clones, other agents writing through the CLI in other
processes between two tool calls, a reader killed with SIGKILL, a SHA-256 repository.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest

from gitcoord.mcp import Tools

from .conftest import World
from .test_field_objects import FORMATS, HEX, make_world

pytest.importorskip("mcp", reason="the official `mcp` SDK is not installed")


def _claimed(tools: Tools) -> dict[str, str]:
    """resource -> agent of every live claim, as the `claims` tool's body sees them."""
    found = tools.typed(lambda c: c.claims(fetch=True))
    return {view["resource"]: view["agent"] for view in found}


def _cli(cwd: Path, agent: str, *args: str) -> None:
    """The CLI in a process of its own, as another agent runs it."""
    env = dict(os.environ, GITCOORD_AGENT=agent, GITCOORD_WARM="0")
    res = subprocess.run(
        [sys.executable, "-m", "gitcoord", "-C", str(cwd), *args], env=env, capture_output=True
    )
    assert res.returncode == 0, res.stderr


def _reader_pid(tools: Tools) -> int:
    reader = tools.reader._reader
    assert reader is not None and reader.alive()
    return reader._proc.pid


def test_a_write_by_another_process_between_two_calls_is_seen(world: World) -> None:
    a, b = world.clones[0], world.clones[1]
    tools = Tools(a, "alpha")
    try:
        tools.call(lambda c: c.claim(["src/a.py"]))
        kept = _reader_pid(tools)
        # Another agent in another clone, and another in this one, each a process of its own.
        _cli(b, "beta", "claim", "src/b.py")
        _cli(a, "gamma", "claim", "src/c.py")
        assert _claimed(tools) == {"src/a.py": "alpha", "src/b.py": "beta", "src/c.py": "gamma"}
        # And the overlap check of a write through the kept reader sees them too.
        with pytest.raises(Exception, match=r"(?s)refused.*src/b.py overlaps beta"):
            tools.call(lambda c: c.claim(["src/b.py"]))
        assert _reader_pid(tools) == kept  # one reader throughout, not one per call
    finally:
        tools.reader.close()


def test_a_killed_reader_is_replaced_by_the_next_call(world: World) -> None:
    a = world.clones[0]
    tools = Tools(a, "alpha")
    try:
        tools.call(lambda c: c.claim(["src/a.py"]))
        dead = _reader_pid(tools)
        os.kill(dead, signal.SIGKILL)
        os.waitpid(dead, 0)  # reaped here: the server's next call finds it gone
        assert _claimed(tools) == {"src/a.py": "alpha"}
        assert _reader_pid(tools) != dead
        tools.call(lambda c: c.release(["src/a.py"]))
        assert _claimed(tools) == {}
    finally:
        tools.reader.close()


@FORMATS
def test_the_kept_reader_serves_either_object_format(tmp_path: Path, fmt: str) -> None:
    _, a, b = make_world(tmp_path, fmt)
    tools = Tools(a, "alpha")
    try:
        tools.call(lambda c: c.claim(["src/a.py"]))
        _cli(b, "beta", "claim", "src/b.py")
        assert _claimed(tools) == {"src/a.py": "alpha", "src/b.py": "beta"}
        tip = tools.call(lambda c: c.git.check("rev-parse", "refs/heads/coord").decode().strip())
        assert len(str(tip)) == HEX[fmt]
    finally:
        tools.reader.close()


def test_the_turns_file_is_saved_after_the_answer_and_before_the_next_call(world: World) -> None:
    """The writer's turns (`gitcoord.turns`) are saved by the server's worker, not on the answer's
    path; the next call waits for it, so its write reads the landing the last one made."""
    from gitcoord import turns

    a = world.clones[0]
    common = Path(a) / ".git"
    tools = Tools(a, "alpha")
    held: list[object] = []
    run_later = tools.mirrors.later
    tools.mirrors.later = held.append  # type: ignore[method-assign]  # held until released below
    try:
        before = turns.load(common)
        tools.call(lambda c: c.claim(["src/a.py"]))
        tip = subprocess.run(
            ["git", "rev-parse", "refs/remotes/origin/coord"], cwd=a, capture_output=True, text=True
        ).stdout.strip()
        assert held, "the claim's answer came with nothing left for the worker"
        assert turns.load(common) == before  # answered before the file was written
        tools.mirrors.later = run_later  # type: ignore[method-assign]
        for job in held:
            run_later(job)  # type: ignore[arg-type]
        tools.call(lambda c: c.claims())  # waits for the worker, as every call does
        saved = turns.load(common)
        assert saved.last == tip and saved.streak == before.streak + 1
    finally:
        tools.close()
