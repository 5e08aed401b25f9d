"""A served pre-commit's staged paths (issue 13): its `git diff-index` starts the moment the
server's child is forked (`hooks.run.start_staged`), before the child has taken the caller's place.

Real `git commit` through the installed hooks and a real hooks' server. What must not change: the
listing runs in the caller's directory, with the caller's environment (its PATH, its index), with
the signals an in-process listing gets, and after a legacy hook that stages more.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
from pathlib import Path

import pytest

from tests.conftest import git, run, wait_for
from tests.test_warm_hooks import Trace, _commit, _hooks_server, _stage
from tests.warm_helpers import Warm

# Run first by the hook (as `pre-commit.legacy`): stages beta's file into the commit's index.
STAGING_LEGACY = """#!/bin/sh
mkdir -p src && echo changed > src/held.py && git add src/held.py
"""
# `git` on the caller's PATH (and git's exec path): notes the signal state it was started with, then runs git.
GIT_WRAPPER = """#!/bin/sh
line="$1 $(grep -E '^(SigBlk|SigIgn):' /proc/$$/status | tr '\\n' ' ')"
echo "$line" >> "{log}"
exec {git} "$@"
"""


def _served(local_repo: Path, warm: Warm, trace: Trace, **extra: str) -> dict[str, str]:
    """Hooks installed, beta holding src/held.py, the hooks' server up: alpha's env."""
    assert run(local_repo, "hooks", "install").code == 0
    assert run(local_repo, "claim", "src/held.py", agent="beta").code == 0
    env = dict(warm.env, **trace.env, GITCOORD_AGENT="alpha", **extra)
    _stage(local_repo, "first.txt", "1\n")
    assert _commit(local_repo, env, "-m", "first") == (0, "")
    _hooks_server(warm)
    return env


def test_a_legacy_hook_that_stages_more_is_seen_by_a_served_pre_commit(
    tmp_path: Path, local_repo: Path, warm: Warm
) -> None:
    trace = Trace(tmp_path)
    env = _served(local_repo, warm, trace)
    legacy = local_repo / ".git" / "hooks" / "pre-commit.legacy"
    legacy.write_text(STAGING_LEGACY)
    legacy.chmod(0o755)
    _stage(local_repo, "notes.txt", "mine\n")
    trace.clear()
    code, err = _commit(local_repo, env, "-m", "notes only, as far as alpha knows")
    assert trace.served(), "the pre-commit ran in a child of the server"
    assert code == 1 and "src/held.py: beta's exclusive claim C-" in err
    trace.clear()
    assert _commit(local_repo, dict(env, GITCOORD_WARM="0"), "-m", "the same in-process") == (code, err)
    assert not trace.served()


@pytest.mark.parametrize(
    "how", [["-a", "-m", "all"], ["-m", "named", "--", "src/held.py"]], ids=["all", "named-path"]
)
def test_a_served_pre_commit_lists_the_index_git_commits_from(
    tmp_path: Path, local_repo: Path, warm: Warm, how: list[str]
) -> None:
    """`commit -a` and `commit PATH` commit a temporary index (GIT_INDEX_FILE): the early listing
    reads that one, as in-process."""
    (local_repo / "src").mkdir(exist_ok=True)
    (local_repo / "src" / "held.py").write_text("before\n")
    git(local_repo, "add", "src/held.py")
    git(local_repo, "commit", "-q", "--no-verify", "-m", "held.py exists")
    trace = Trace(tmp_path)
    env = _served(local_repo, warm, trace)
    (local_repo / "src" / "held.py").write_text("after\n")  # changed in the work tree, not staged
    trace.clear()
    code, err = _commit(local_repo, env, *how)
    assert trace.served()
    assert code == 1 and "src/held.py: beta's exclusive claim C-" in err


def test_the_served_listing_runs_the_caller_s_git_with_default_signals(
    tmp_path: Path, local_repo: Path, warm: Warm
) -> None:
    """The server ignores SIGINT and its child blocks the forwarded signals until it is the
    caller: the listing started meanwhile must not inherit either (a Ctrl-C must stop it)."""
    log = tmp_path / "signals.log"
    wrapper = tmp_path / "bin"
    wrapper.mkdir()
    real = shutil.which("git")
    assert real
    (wrapper / "git").write_text(GIT_WRAPPER.format(log=log, git=real))
    (wrapper / "git").chmod(0o755)
    trace = Trace(tmp_path)
    # git puts its exec path first on a hook's PATH: the wrapper's directory is that path.
    path = f"{wrapper}{os.pathsep}{os.environ['PATH']}"
    env = _served(local_repo, warm, trace, PATH=path, GIT_EXEC_PATH=str(wrapper))

    def listing(extra: dict[str, str]) -> str:
        log.unlink(missing_ok=True)
        _stage(local_repo, f"notes-{len(extra)}.txt", "x\n")
        trace.clear()
        assert _commit(local_repo, dict(env, **extra), "-m", "notes") == (0, "")
        lines = [line for line in log.read_text().splitlines() if line.startswith("diff-index ")]
        assert len(lines) == 1, log.read_text()
        return lines[0]

    served = _signals(listing({}))
    assert trace.served()
    in_process = _signals(listing({"GITCOORD_WARM": "0"}))
    assert not trace.served()
    assert served == in_process == (0, 0)


# The signals a caller forwards or a pipe raises, as bits of /proc's Sig* masks (bit N-1: signal N).
_CALLER_BITS = sum(1 << (sig - 1) for sig in (1, 2, 3, 13, 15, 25))  # HUP INT QUIT PIPE TERM XFSZ


def _signals(line: str) -> tuple[int, int]:
    """(blocked, ignored) of the signals that matter to a caller. glibc's posix_spawn leaves its
    two internal signals (32, 33) ignored in what it starts, which no git uses."""
    fields = line.split()
    blocked = int(fields[fields.index("SigBlk:") + 1], 16)
    ignored = int(fields[fields.index("SigIgn:") + 1], 16)
    return blocked, ignored & _CALLER_BITS


# A legacy pre-commit that leaves a process of the call's group running after the hook exits.
LINGERING_LEGACY = """#!/bin/sh
sleep 300 >/dev/null 2>&1 < /dev/null &
echo $! >> "{pid}"
"""


def test_a_process_the_hook_leaves_running_outlives_a_served_commit(
    tmp_path: Path, local_repo: Path, warm: Warm
) -> None:
    """The server tells the caller the child's exit code as the child exits, before reaping it; the
    caller then goes, which must not read as a caller killed mid-call (whose call's group the server
    kills): what the hook left running lives on, as in-process."""
    trace = Trace(tmp_path)
    env = _served(local_repo, warm, trace)
    pid_file = tmp_path / "lingering.pid"
    legacy = local_repo / ".git" / "hooks" / "pre-commit.legacy"
    legacy.write_text(LINGERING_LEGACY.format(pid=pid_file))
    legacy.chmod(0o755)
    _stage(local_repo, "notes.txt", "mine\n")
    trace.clear()
    assert _commit(local_repo, env, "-m", "notes") == (0, "")
    assert trace.served()
    lingering = int(pid_file.read_text().split()[0])
    try:
        # The server has reaped the child by now or will: either way the sleep must stay.
        wait_for(lambda: not _alive(lingering) or _reaped(warm), "the server's reap")
        assert _alive(lingering), "the hook's background process was killed"
        assert _commit(local_repo, env, "--allow-empty", "-m", "and again") == (0, "")
        assert _alive(lingering)
    finally:  # each commit's legacy hook left one
        for left in pid_file.read_text().split():
            with contextlib.suppress(ProcessLookupError):
                os.kill(int(left), signal.SIGKILL)


def _alive(pid: int) -> bool:
    """Running, not dead (a zombie nobody has reaped yet is dead)."""
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0] != "Z"
    except OSError:
        return False


def _reaped(warm: Warm) -> bool:
    """No child of the hooks' server is left (each call's child was reaped)."""
    server = _hooks_server(warm)
    return not Path(f"/proc/{server}/task/{server}/children").read_text().split()
