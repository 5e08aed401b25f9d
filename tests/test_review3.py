"""Review of issue 13's warm priming and the MCP server's kept reader: bugs found, each proven here.

Real console script, real warm server, real git. A call through the server must give what the
same call in-process gives, whatever the caller's environment is next to the server's.
"""

from __future__ import annotations

import os
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.conftest import make_repo
from tests.warm_helpers import SCRIPT, Warm, call, git_grandparents, git_spy, warm_dir


@pytest.fixture
def warm(tmp_path: Path) -> Iterator[Warm]:
    with warm_dir(tmp_path) as found:
        yield found


def _on_pty(cwd: Path, args: list[str], env: dict[str, str]) -> tuple[int, str]:
    """`gitcoord ARGS` writing to a pseudo-terminal it does not control (its own session, as a
    harness that records a terminal runs it): output is drawn for a person, the warm path is open."""
    master, slave = os.openpty()
    full = dict(os.environ, **env)
    proc = subprocess.Popen(
        [str(SCRIPT), *args],
        cwd=cwd,
        env=full,
        stdin=subprocess.DEVNULL,
        stdout=slave,
        stderr=slave,
        start_new_session=True,
    )
    os.close(slave)
    chunks = []
    while True:
        try:
            data = os.read(master, 65536)
        except OSError:  # EIO: every writer closed the terminal
            break
        if not data:
            break
        chunks.append(data)
    os.close(master)
    return proc.wait(timeout=300), b"".join(chunks).decode(errors="replace")


def test_local_times_on_a_terminal_follow_the_callers_tz_not_the_servers(tmp_path: Path, warm: Warm) -> None:
    spy_env, spy_log = git_spy(tmp_path)
    repo = make_repo(tmp_path / "repo")
    warm.env.update(spy_env, TZ="UTC")  # the server starts under the first caller's zone
    server = warm.start(tmp_path)
    env = dict(warm.env, GITCOORD_AGENT="alpha")
    assert call(repo, "init", env=env).code == 0
    assert call(repo, "claim", "src/a.py", env=env).code == 0  # `start` then shows its lease's end
    spy_log.unlink(missing_ok=True)

    tokyo = dict(env, TZ="Asia/Tokyo")
    code, served = _on_pty(repo, ["start", "--role", "tester"], tokyo)
    assert git_grandparents(spy_log) == {server}, "the call was served"
    code_local, local = _on_pty(repo, ["start", "--role", "tester"], dict(tokyo, GITCOORD_WARM="0"))
    assert (code, code_local) == (0, 0), served + local
    assert "JST" in local, local
    assert "JST" in served and " UTC" not in served, served
