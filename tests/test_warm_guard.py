"""The editor guard through the warm server (issue 13): every edit after an agent's first is served.

The committed launcher runs `python -P -m gitcoord guard --format claude|codex`. That entry is the
console script's twin: it hands the call to a warm server of the same interpreter and flags, and the
answer is the one an in-process run gives. Real console entry, real server, real git; a spying
`git` on PATH tells which process ran each call (a served call's git runs in a child of the server).
"""

from __future__ import annotations

import json
import marshal
import os
import shlex
import shutil
import socket
import struct
import subprocess
import sys
from pathlib import Path

import pytest

from tests.conftest import run, wait_for
from tests.warm_helpers import Warm, call, git_grandparents, git_spy

LAUNCHED = [sys.executable, "-P", "-m", "gitcoord"]  # what `.coord/gitcoord` runs


def _edit(repo: Path, path: str) -> str:
    return json.dumps(
        {
            "cwd": str(repo),
            "hook_event_name": "PreToolUse",
            "tool_name": "Edit",
            "tool_input": {"file_path": str(repo / path), "old_string": "a", "new_string": "b"},
        }
    )


def _launched(repo: Path, env: dict[str, str], *args: str, stdin: str = "") -> tuple[int, str, str]:
    """The launcher's command, as an editor runs it: pipes, no terminal (served unless `env` turns
    the warm path off)."""
    res = call(repo, *args, env=env, input=stdin, warm=env.get("GITCOORD_WARM") != "0", command=LAUNCHED)
    return res.code, res.out, res.err


def _server(warm: Warm) -> int:
    wait_for(lambda: warm.socket() is not None and warm.server_pid() is not None, "the warm server")
    pid = warm.server_pid()
    assert pid is not None
    return pid


def test_the_launcher_s_guard_is_served_and_answers_as_in_process(
    tmp_path: Path, local_repo: Path, warm: Warm
) -> None:
    assert run(local_repo, "claim", "src/held.py", agent="beta").code == 0
    spy_env, spy_log = git_spy(tmp_path)
    served_env = dict(warm.env, **spy_env, GITCOORD_AGENT="alpha")
    local_env = dict(served_env, GITCOORD_WARM="0")
    # The first edit runs in-process and starts a server under the launcher's own flags (-P).
    first = _launched(local_repo, served_env, "guard", "--format", "claude", stdin=_edit(local_repo, "a.py"))
    assert first == (0, "", "")
    server = _server(warm)
    calls = [
        (["guard", "--format", "claude"], _edit(local_repo, "src/held.py")),  # beta's: denied
        (["guard", "--format=codex"], _edit(local_repo, "src/held.py")),
        (["guard", "--format", "claude"], _edit(local_repo, "src/free.py")),  # nobody's: allowed
        (["guard", "--format", "claude"], "not json"),  # allowed, with a warning
        (["guard", "--format", "vim"], _edit(local_repo, "src/held.py")),  # the CLI's usage error
    ]
    answers = []
    for args, stdin in calls:
        spy_log.unlink(missing_ok=True)
        served = _launched(local_repo, served_env, *args, stdin=stdin)
        if stdin != "not json" and args[-1] != "vim":  # neither runs git
            assert git_grandparents(spy_log) == {server}, (args, "served by the warm server")
        spy_log.unlink(missing_ok=True)
        local = _launched(local_repo, local_env, *args, stdin=stdin)
        assert server not in git_grandparents(spy_log)
        assert served == local, args
        answers.append(served)
    assert "beta" in answers[0][1] and json.loads(answers[0][1])
    assert "beta" in answers[1][1]
    assert answers[2] == (0, "", "")
    assert answers[3][0] == 0 and "allowing it" in answers[3][2]
    assert answers[4][0] == 2 and "Traceback" not in answers[4][2]
    assert warm.server_pid() == server, "one server served every call"


@pytest.mark.skipif(shutil.which("script") is None, reason="needs util-linux script")
def test_the_guard_is_served_from_a_terminal_and_other_calls_are_not(
    tmp_path: Path, local_repo: Path, warm: Warm
) -> None:
    """An editor's hooks run with its terminal as their controlling terminal; a served child has
    none. The guard prompts for nothing, so it is served; a call that may prompt runs in-process."""
    assert run(local_repo, "claim", "src/held.py", agent="beta").code == 0
    spy_env, spy_log = git_spy(tmp_path)
    env = dict(os.environ, **warm.env, **spy_env, GITCOORD_AGENT="alpha")
    edit = tmp_path / "edit.json"
    edit.write_text(_edit(local_repo, "src/held.py"))
    assert _launched(local_repo, dict(warm.env, GITCOORD_AGENT="alpha"), "--version")[0] == 0
    server = _server(warm)

    def in_terminal(command: str) -> str:
        res = subprocess.run(
            ["script", "-q", "-e", "-c", command, "/dev/null"],
            cwd=local_repo,
            env=env,
            stdin=subprocess.DEVNULL,
            capture_output=True,
            text=True,
            timeout=300,
        )
        assert res.returncode == 0, (res.stdout, res.stderr)
        return res.stdout

    spy_log.unlink(missing_ok=True)
    guard = shlex.join([*LAUNCHED, "guard", "--format", "claude"])
    out = in_terminal(f"{guard} < {shlex.quote(str(edit))}")
    assert "beta" in out
    assert git_grandparents(spy_log) == {server}
    spy_log.unlink()
    out = in_terminal(shlex.join([*LAUNCHED, "claims", "--json"]))
    assert "src/held.py" in out
    assert git_grandparents(spy_log) and server not in git_grandparents(spy_log)


@pytest.mark.parametrize(
    "body",
    [
        b"\x00garbage",  # not marshal data
        marshal.dumps(["not", "a", "dict"]),
        marshal.dumps({"key": "k", "argv": ["gitcoord", 3], "env": {}, "umask": 18, "pid": 1}),
        marshal.dumps({"key": "k", "argv": ["gitcoord"], "env": {"A": b"bytes"}, "umask": 18, "pid": 1}),
    ],
)
def test_a_request_that_is_not_a_client_s_is_dropped_and_the_server_serves_on(
    local_repo: Path, warm: Warm, body: bytes
) -> None:
    env = dict(warm.env, GITCOORD_AGENT="alpha")
    assert _launched(local_repo, env, "--version")[0] == 0
    server = _server(warm)
    path = warm.socket()
    assert path is not None
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as sock:
        sock.connect(str(path))
        cwd = os.open(local_repo, os.O_RDONLY | os.O_DIRECTORY)
        try:
            socket.send_fds(sock, [struct.pack("!I", len(body))], [0, 1, 2, cwd])
        finally:
            os.close(cwd)
        sock.sendall(body)
        sock.settimeout(60)
        assert sock.recv(100) == b"", "no child for it: the server closed the connection"
    code, out, _ = _launched(local_repo, env, "claims", "--json")
    assert code == 0 and json.loads(out) == []
    assert warm.server_pid() == server


def test_python_m_without_p_runs_in_process_and_starts_no_server(local_repo: Path, warm: Warm) -> None:
    """Without -P the caller's directory is first on sys.path: a server started from there would
    import from it for every later call, so such a call never starts one (nor uses one)."""
    for _ in range(2):
        res = call(
            local_repo,
            "claims",
            "--json",
            env=warm.env,
            agent="alpha",
            command=[sys.executable, "-m", "gitcoord"],
        )
        assert (res.code, json.loads(res.out)) == (0, [])
    assert warm.socket() is None and warm.server_pid() is None


def test_warning_and_x_options_are_part_of_the_key() -> None:
    def key(*flags: str) -> str:
        code = "from gitcoord.warm.keys import warm_key; print(warm_key())"
        return subprocess.run(
            [sys.executable, *flags, "-c", code], capture_output=True, text=True, check=True
        ).stdout.strip()

    plain = key()
    assert key() == plain
    assert len({plain, key("-W", "error"), key("-X", "tracemalloc")}) == 3
