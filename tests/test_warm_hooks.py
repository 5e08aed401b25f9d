"""Installed hooks through the warm server (issue 13): every commit after an agent's first is served.

An installed hook starts `python -S -P -c BOOT` (no `site`: the hook modules are stdlib-only). That
entry hands the hook to a warm server started under the same flags, whose child runs the hook with
the caller's directory, environment and streams; the commit's outcome is the one an in-process hook
gives. Real `git commit` and `git push` through the installed scripts and a real server. Which
process ran a hook is told by git's own trace (`GIT_TRACE2_EVENT`, its `cmd_ancestry`): the git a
hook runs in-process is a grandchild of the `git commit`, a served hook's is not. (A spying `git`
first on PATH cannot tell: git puts its own exec-path first on a hook's PATH.)
"""

from __future__ import annotations

import json
import os
import shlex
import shutil
import subprocess
from pathlib import Path

import pytest

from tests.conftest import git, run, wait_for
from tests.warm_helpers import Warm, call, git_grandparents, git_spy


def agent_git(repo: Path, env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    """`git ARGS` as an agent's tool runs it: pipes, no controlling terminal, `env` over ours."""
    return subprocess.run(
        ["git", *args],
        cwd=repo,
        env={**os.environ, **env},
        capture_output=True,
        text=True,
        timeout=300,
        start_new_session=True,
    )


def _commit(repo: Path, env: dict[str, str], *args: str) -> tuple[int, str]:
    res = agent_git(repo, env, "commit", "-q", *args)
    return res.returncode, res.stderr


def _stage(repo: Path, path: str, text: str) -> None:
    (repo / path).parent.mkdir(parents=True, exist_ok=True)
    (repo / path).write_text(text)
    git(repo, "add", path)


def _hooks_server(warm: Warm) -> int:
    """The pid of the server the hooks started: the one running under -S."""
    found: list[int] = []

    def started() -> bool:
        for lock in warm.directory.glob("*.lock") if warm.directory.exists() else []:
            text = lock.read_text().strip()
            if text and "-S" in _cmdline(int(text)) and lock.with_suffix(".sock").exists():
                found.append(int(text))
                return True
        return False

    wait_for(started, "the hooks' warm server")
    return found[0]


def _cmdline(pid: int) -> list[str]:
    try:
        return Path(f"/proc/{pid}/cmdline").read_bytes().decode().split("\0")
    except OSError:
        return []


class Trace:
    """git's trace2 events of the calls made with `env`: which hooks' gits ran, and who ran them."""

    def __init__(self, tmp_path: Path) -> None:
        self.path = tmp_path / "trace2.json"
        self.env = {"GIT_TRACE2_EVENT": str(self.path)}

    def events(self) -> list[dict[str, object]]:
        if not self.path.exists():
            return []
        return [json.loads(line) for line in self.path.read_text().splitlines() if line.strip()]

    def hook_parents(self) -> set[str]:
        """The parent of each interpreter that ran a git ("git" when the hook ran in-process, where
        git started it; the server's name when a child of the server ran it)."""
        found = set()
        for event in self.events():
            ancestry = event.get("ancestry")
            if (
                event.get("event") == "cmd_ancestry"
                and isinstance(ancestry, list)
                and len(ancestry) > 1
                and str(ancestry[0]).startswith("python")
            ):
                found.add(str(ancestry[1]))
        return found

    def served(self) -> bool:
        parents = self.hook_parents()
        assert parents, "a hook ran git"
        return "git" not in parents

    def count(self, command: str) -> int:
        return sum(
            1
            for event in self.events()
            if event.get("event") == "start" and (event.get("argv") or [None, None])[1:2] == [command]  # type: ignore[index]
        )

    def clear(self) -> None:
        self.path.unlink(missing_ok=True)


def test_hooks_are_served_and_refuse_or_let_through_as_in_process(
    tmp_path: Path, local_repo: Path, warm: Warm
) -> None:
    assert run(local_repo, "hooks", "install").code == 0
    assert run(local_repo, "claim", "src/held.py", agent="beta").code == 0
    assert run(local_repo, "claim", "src/mine.py", agent="alpha").code == 0
    trace = Trace(tmp_path)
    served = dict(warm.env, **trace.env, GITCOORD_AGENT="alpha")
    local = dict(served, GITCOORD_WARM="0")
    # The first commit runs its hooks in-process and starts the hooks' server (under -S).
    _stage(local_repo, "notes.txt", "first\n")
    assert _commit(local_repo, served, "-m", "first") == (0, "")
    server = _hooks_server(warm)
    maps = Path(f"/proc/{server}/maps").read_text()
    assert "pydantic_core" not in maps, "the hooks' server imports no installed library"

    _stage(local_repo, "src/held.py", "x\n")
    trace.clear()
    refused = _commit(local_repo, served, "-m", "edits beta's file")
    assert trace.served(), "the pre-commit ran in a child of the server"
    trace.clear()
    refused_here = _commit(local_repo, local, "-m", "edits beta's file")
    assert not trace.served()
    assert refused == refused_here
    assert refused[0] == 1 and "src/held.py: beta's exclusive claim C-" in refused[1]

    git(local_repo, "reset", "-q", "src/held.py")
    _stage(local_repo, "src/mine.py", "mine\n")
    trace.clear()
    assert _commit(local_repo, served, "-m", "edits my file") == (0, "")
    assert trace.served()
    # The served pre-commit left the trailers for this very `git commit`: prepare-commit-msg
    # applied them in the shell, with no second interpreter (which would read the repo again).
    # (None at all once the served pre-commit's kept answers hold: `kept.SavedWorkspace`.)
    assert trace.count("rev-parse") <= 1
    assert trace.count("interpret-trailers") == 1
    message = git(local_repo, "log", "-1", "--format=%B")
    assert "Coord-Agent: alpha" in message and "Coord-Claim: C-" in message
    # Each hand-off was used up: emptied by the shell (no `rm` process), so no later commit with
    # the same pid could take its trailers.
    handoffs = list((local_repo / ".git" / "gitcoord-state").glob("trailers.*"))
    assert handoffs and all(path.read_text() == "" for path in handoffs)
    assert _hooks_server(warm) == server, "one server served every commit"


def test_a_served_pre_push_reads_the_push_from_its_standard_input(
    tmp_path: Path, local_repo: Path, warm: Warm
) -> None:
    """pre-push learns what is pushed on stdin: the served child reads the caller's."""
    remote = tmp_path / "code.git"
    git(tmp_path, "init", "-q", "--bare", str(remote))
    git(local_repo, "remote", "add", "code", str(remote))
    assert run(local_repo, "hooks", "install").code == 0
    assert run(local_repo, "claim", "src/held.py", agent="beta").code == 0
    env = dict(warm.env, GITCOORD_AGENT="alpha")
    _stage(local_repo, "first.txt", "1\n")
    assert _commit(local_repo, env, "-m", "first")[0] == 0
    _hooks_server(warm)
    _stage(local_repo, "src/held.py", "x\n")
    assert _commit(local_repo, env, "--no-verify", "-m", "past the hook")[0] == 0
    trace = Trace(tmp_path)
    outcomes = []
    for warm_on in ("1", "0"):
        trace.clear()
        res = agent_git(
            local_repo,
            {**env, **trace.env, "GITCOORD_WARM": warm_on},
            "push",
            "-q",
            "code",
            "HEAD:refs/heads/main",
        )
        assert trace.served() == (warm_on == "1")
        outcomes.append((res.returncode, res.stderr))
    assert outcomes[0] == outcomes[1]
    assert outcomes[0][0] != 0 and "src/held.py" in outcomes[0][1]
    assert git(remote, "branch", "--list") == "", "nothing reached the remote"


@pytest.mark.skipif(shutil.which("script") is None, reason="needs util-linux script")
def test_a_commit_from_a_terminal_runs_its_hooks_in_process(
    tmp_path: Path, local_repo: Path, warm: Warm
) -> None:
    """A person's commit in a terminal may need a prompt (a push of an override record): its hooks
    run in-process, as a CLI call from a terminal does."""
    assert run(local_repo, "hooks", "install").code == 0
    env = dict(warm.env, GITCOORD_AGENT="alpha")
    _stage(local_repo, "first.txt", "1\n")
    assert _commit(local_repo, env, "-m", "first")[0] == 0
    _hooks_server(warm)
    trace = Trace(tmp_path)
    _stage(local_repo, "second.txt", "2\n")
    res = subprocess.run(
        ["script", "-q", "-e", "-c", shlex.join(["git", "commit", "-q", "-m", "second"]), "/dev/null"],
        cwd=local_repo,
        env=dict(os.environ, **env, **trace.env),
        stdin=subprocess.DEVNULL,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert res.returncode == 0, (res.stdout, res.stderr)
    assert not trace.served()
    assert "Coord-Agent: alpha" in git(local_repo, "log", "-1", "--format=%B")


def test_a_served_hook_run_names_the_hand_off_by_its_caller_s_parent(
    tmp_path: Path, local_repo: Path, warm: Warm
) -> None:
    """`gitcoord hook-run` (the launcher's way in when it finds no interpreter) through the CLI's
    server: pre-commit leaves the trailers under the caller's parent's pid, as in-process, never
    the server's (a later commit's prepare-commit-msg could pick up a file named by the server)."""
    assert run(local_repo, "claim", "src/mine.py", agent="alpha").code == 0
    _stage(local_repo, "src/mine.py", "mine\n")
    server = warm.start(local_repo)
    spy_env, spy_log = git_spy(tmp_path)
    res = call(local_repo, "hook-run", "pre-commit", "-", "-", env=dict(warm.env, **spy_env), agent="alpha")
    assert res.code == 0, res.err
    assert git_grandparents(spy_log) == {server}, "served"
    state = local_repo / ".git" / "gitcoord-state"
    assert [p.name for p in state.glob("trailers.*")] == [f"trailers.{os.getpid()}"]
    assert "Coord-Claim: C-" in (state / f"trailers.{os.getpid()}").read_text()


def test_start_refreshes_hooks_an_earlier_gitcoord_wrote(local_repo: Path) -> None:
    """Hooks written before the hooks had a server run in-process (their boot imports
    `gitcoord.hooks.run`); `start` rewrites them with today's boot, keeping interpreter and mode."""
    assert run(local_repo, "hooks", "install", "--mode", "strict").code == 0
    hooks = local_repo / ".git" / "hooks"
    names = ("pre-commit", "prepare-commit-msg", "pre-push", "post-merge")
    today = {name: (hooks / name).read_text() for name in names}
    new_boot = "from gitcoord.warm.client import hook_entry; hook_entry()"
    old_boot = "from gitcoord.hooks.run import entry; entry()"
    for name, text in today.items():
        assert new_boot in text and " strict " in text
        (hooks / name).write_text(text.replace(new_boot, old_boot))
    res = run(local_repo, "start", "--json", agent="alpha")
    assert res.code == 0, res.err
    assert sorted(json.loads(res.out)["hooks"]["installed"]) == sorted(today)
    assert {name: (hooks / name).read_text() for name in today} == today
    assert all(os.access(hooks / name, os.X_OK) for name in today)
    again = run(local_repo, "start", "--json", agent="alpha")
    assert json.loads(again.out)["hooks"]["installed"] == []
