"""Review of issue 13's warm priming and the MCP server's kept reader: bugs found, each proven here.

Real console script, real warm server, real git. A call through the server must give what the
same call in-process gives, whatever the caller's environment is next to the server's.
"""

from __future__ import annotations

import contextlib
import itertools
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest

from gitcoord.mcp import Tools
from tests.conftest import World, git, make_repo, plant_records, run, wait_for
from tests.warm_helpers import SCRIPT, Warm, call, git_grandparents, git_spy, mask_times


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


READS = [["claims"], ["claims", "--json"], ["status"], ["status", "--json"], ["inbox", "--json"]]


def _home_with_identity(root: Path) -> Path:
    """A HOME whose XDG git config names the agent and the committer (no ~/.gitconfig)."""
    home = root / "xdg-home"
    (home / ".config" / "git").mkdir(parents=True)
    (home / ".config" / "git" / "config").write_text(
        "[coord]\n\tagent = xdgagent\n[user]\n\tname = X\n\temail = x@example.com\n"
    )
    return home


@pytest.mark.parametrize(
    "variant",
    ["tz", "agent", "skew", "xdg-home", "lang-c", "lc-all-c", "git-dir"],
)
def test_reads_through_the_server_match_in_process_when_the_callers_env_differs(
    tmp_path: Path, warm: Warm, variant: str
) -> None:
    spy_env, spy_log = git_spy(tmp_path)
    repo = make_repo(tmp_path / "repo")
    base = dict(warm.env, **spy_env, GITCOORD_AGENT="alpha", TZ="UTC", LANG="C.UTF-8")
    server = warm.start(tmp_path)
    assert call(repo, "init", env=base).code == 0
    assert call(repo, "claim", "src/café.py", "-m", "naïve ✓ work", env=base).code == 0
    assert call(repo, "send", "--to", "beta", "grüße", env=base).code == 0
    cwd = repo
    env = dict(base)
    unset: list[str] = []
    if variant == "tz":
        env["TZ"] = "Asia/Tokyo"
    elif variant == "agent":
        env["GITCOORD_AGENT"] = "beta"
    elif variant == "skew":
        env["GITCOORD_CLOCK_SKEW_SECONDS"] = str(10 * 24 * 3600)  # every lease long expired
    elif variant == "xdg-home":
        env["HOME"] = str(_home_with_identity(tmp_path))
        unset = ["GITCOORD_AGENT", "GIT_CONFIG_GLOBAL", "XDG_CONFIG_HOME"]
        del env["GITCOORD_AGENT"]
    elif variant == "lang-c":
        env["LANG"] = "C"
    elif variant == "lc-all-c":
        env["LC_ALL"] = "C"
    elif variant == "git-dir":
        cwd = tmp_path
        env.update(GIT_DIR=str(repo / ".git"), GIT_WORK_TREE=str(repo))
    for args in READS:
        spy_log.unlink(missing_ok=True)
        served = call(cwd, *args, env=env, unset=unset)
        # A C locale turns on Python's UTF-8 mode (sys.flags, in the key): another server's call.
        assert variant.endswith("-c") or git_grandparents(spy_log) == {server}, "served"
        local = call(cwd, *args, env=env, unset=unset, warm=False)
        assert served.code == 0, served.err
        seen = [(r.code, mask_times(r.out), mask_times(r.err)) for r in (served, local)]
        assert seen[0] == seen[1], args


@pytest.mark.parametrize("branch", ["x y", "x missing", "a b"])
def test_a_record_naming_a_branch_with_a_space_does_not_crash_status(local_repo: Path, branch: str) -> None:
    """`cat-file --batch` echoes a missing name, so "refs/heads/x y^{commit} missing" has three
    words, as a found object's answer does: it was parsed as one (int("missing"), exit 1)."""
    assert run(local_repo, "start", "--role", "tester", agent="alpha").code == 0
    # `start` wrote the agent's own ref; planted on the shared ref with the same count, it wins.
    record = git(local_repo, "show", "refs/coord/agents/alpha:.coord/agents/alpha.toml")
    record = re.sub(r'(?m)^branch = ".*"$', f"branch = {branch!r}".replace("'", '"'), record)
    plant_records(local_repo, {".coord/agents/alpha.toml": re.sub(r'(?m)^head = ".*"$', 'head = ""', record)})
    res = run(local_repo, "status", "--json", agent="alpha")
    assert (res.code, res.err) == (0, ""), res.err
    assert '"conflicts": []' in res.out


def _mcp_claims(tools: Tools) -> dict[str, str]:
    found = tools.typed(lambda c: c.claims(fetch=True))
    return {view["resource"]: view["agent"] for view in found}


def test_the_kept_reader_follows_a_repository_recloned_in_place(world: World) -> None:
    """An agent removes its clone and clones again at the same path while its MCP server runs: a
    reader kept from before sits in a deleted directory and answers "missing" for everything."""
    pytest.importorskip("mcp", reason="the official `mcp` SDK is not installed")
    a, b = world.clones[0], world.clones[1]
    tools = Tools(a, "alpha")
    try:
        tools.call(lambda c: c.claim(["src/a.py"]))
        assert run(b, "claim", "src/b.py", agent="beta").code == 0
        shutil.rmtree(a)
        git(world.root, "clone", "-q", str(world.remote), str(a))
        assert _mcp_claims(tools) == {"src/a.py": "alpha", "src/b.py": "beta"}
        tools.call(lambda c: c.release(["src/a.py"]))
        assert _mcp_claims(tools) == {"src/b.py": "beta"}
    finally:
        tools.reader.close()


def test_the_kept_reader_survives_a_repack_by_another_process(world: World) -> None:
    """Objects the reader found loose or in a pack move into a new pack (gc, repack -a -d, prune)."""
    pytest.importorskip("mcp", reason="the official `mcp` SDK is not installed")
    a, b = world.clones[0], world.clones[1]
    tools = Tools(a, "alpha")
    try:
        tools.call(lambda c: c.claim(["src/a.py"]))
        for n in range(2):
            assert run(a, "claim", f"src/c{n}.py", agent="gamma").code == 0
            assert run(b, "claim", f"src/b{n}.py", agent="beta").code == 0
            git(a, "gc", "-q", "--prune=now")
            seen = _mcp_claims(tools)
            assert (
                seen["src/a.py"] == "alpha"
                and seen[f"src/b{n}.py"] == "beta"
                and seen[f"src/c{n}.py"] == "gamma"
            )
    finally:
        tools.reader.close()


def test_a_first_calls_floor_is_not_measured_while_its_server_starts(tmp_path: Path) -> None:
    """calls.measure: the first call starts a server that imports and primes itself (hundreds of ms
    of CPU) right after the call ends; a floor timed then shares the machine with it, so the
    first-call ratio came out lower than it is. Every floor must find the server listening."""
    sys.path.insert(0, str(Path(__file__).parent / "bench"))
    try:
        import calls
        from run import World, pin_environment
    finally:
        sys.path.pop(0)

    before = dict(os.environ)
    pin_environment(tmp_path)  # it sets HOME and the git config for the whole process: undone below
    listening: list[tuple[str, bool]] = []

    class Watched(calls.Session):  # type: ignore[misc]
        def floor(self, command: str) -> float:
            directory = self.runtime / "gitcoord"
            listening.append((command, directory.exists() and any(directory.glob("*.sock"))))
            return float(super().floor(command))

    world = World(tmp_path / "w")
    calls._seed_tasks(world.first, 8)
    session = Watched(world.first)
    try:
        calls.measure(session, 1)
    finally:
        session.close()
        os.environ.clear()
        os.environ.update(before)
    assert len(listening) == 2 * len(calls.COMMANDS)
    assert [c for c, ready in listening if not ready] == []


@pytest.mark.parametrize("agents", [3, 16, 24])
def test_the_steady_teams_claims_spread_over_the_whole_claim_period(agents: int) -> None:
    """scale.py --steady: "each agent ... claims or releases its file every 24 s, the agents'
    schedules spread over the period". The claims were shifted by the check-in period's share
    (12 s / n), so the whole team claimed within half of every 24 s and not at all in the rest."""
    sys.path.insert(0, str(Path(__file__).parent / "bench"))
    try:
        import scale
    finally:
        sys.path.pop(0)
    plans = [scale._schedule(i, agents, 240.0) for i in range(agents)]
    for every, what in ((scale.CHECK_IN_EVERY, "check-in"), (scale.CLAIM_EVERY, "claim-or-release")):
        firsts = sorted(next(at for at, w in plan if w == what) % every for plan in plans)
        gaps = [b - a for a, b in zip(firsts, [*firsts[1:], firsts[0] + every], strict=True)]
        assert max(gaps) == pytest.approx(every / agents), (what, firsts)
        for plan in plans:  # and each agent keeps its own rhythm
            times = [at for at, w in plan if w == what]
            assert all(b - a == pytest.approx(every) for a, b in itertools.pairwise(times))


def test_a_dependency_upgraded_under_a_running_server_is_never_served(tmp_path: Path, warm: Warm) -> None:
    """`pip install -U` of a library gitcoord imports (here tomli_w, which writes the config of
    `init`) while a server runs: the server has the old one imported, an in-process call the new
    one. The key held gitcoord's own code and the interpreter, not the libraries on sys.path."""
    import tomli_w

    spy_env, spy_log = git_spy(tmp_path)
    site = tmp_path / "site"  # a directory on the path that pip installs into
    site.mkdir()
    warm.env.update(spy_env, PYTHONPATH=str(site))
    server = warm.start(tmp_path)
    upgraded = site / "tomli_w"
    shutil.copytree(Path(tomli_w.__file__).parent, upgraded, ignore=shutil.ignore_patterns("__pycache__"))
    with (upgraded / "__init__.py").open("a") as init:
        init.write("\n_dumps = dumps\ndef dumps(*a, **k):\n    return '# upgraded\\n' + _dumps(*a, **k)\n")

    served, local = make_repo(tmp_path / "served"), make_repo(tmp_path / "local")
    spy_log.unlink(missing_ok=True)
    assert call(served, "init", env=warm.env, agent="alpha").code == 0
    assert server not in git_grandparents(spy_log), "the old server served the call"
    assert call(local, "init", env=warm.env, agent="alpha", warm=False).code == 0
    config = ".coord/config.toml"
    assert "# upgraded" in (local / config).read_text()
    assert (served / config).read_text() == (local / config).read_text()


def _silent_server(path: Path) -> Iterator[None]:
    """A listener at the server's socket that takes each request and never answers (a server
    stopped or swamped): the client's wait for the child's pid ends in a timeout, an OSError."""
    listener = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    listener.bind(str(path))
    listener.listen(8)
    held: list[socket.socket] = []

    def accept() -> None:
        with contextlib.suppress(OSError):
            while True:
                held.append(listener.accept()[0])

    thread = threading.Thread(target=accept, daemon=True)
    thread.start()
    try:
        yield
    finally:
        listener.shutdown(socket.SHUT_RDWR)
        listener.close()
        for conn in held:
            conn.close()


def test_a_call_the_server_never_answers_runs_in_process_and_still_dies_of_sigterm(
    tmp_path: Path, warm: Warm
) -> None:
    """After the handshake time the client runs the call in-process (nothing was run for it), but
    with its signal catchers still installed: SIGTERM and Ctrl-C were noted in a list and
    ignored, so a waiting claim could not be stopped but by SIGKILL. (The handshake is shortened
    from its 30 s: what is tested is what follows it.)"""
    spy_env, spy_log = git_spy(tmp_path)
    repo = make_repo(tmp_path / "repo")
    warm.env.update(spy_env)
    warm.start(tmp_path)
    assert call(repo, "init", env=warm.env, agent="alpha").code == 0
    assert call(repo, "claim", "src/x.py", env=warm.env, agent="alpha").code == 0
    path = warm.socket()
    assert path is not None
    warm.stop()
    path.unlink()
    spy_log.unlink(missing_ok=True)
    env = dict(os.environ, **warm.env, GITCOORD_AGENT="beta", GITCOORD_WARM_HANDSHAKE_SECONDS="2")
    with contextlib.contextmanager(_silent_server)(path):
        proc = subprocess.Popen(
            [str(SCRIPT), "claim", "src/x.py", "--wait", "100"],
            cwd=repo,
            env=env,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            start_new_session=True,
        )
        try:
            # In-process once git runs as its own child (the spy names git's parent).
            wait_for(
                lambda: (
                    spy_log.exists()
                    and any(line.split()[0] == str(proc.pid) for line in spy_log.read_text().splitlines())
                ),
                "the call to run git in-process",
            )
            proc.send_signal(signal.SIGTERM)
            proc.wait(timeout=60)
        finally:
            proc.kill()
            proc.wait()
    assert proc.returncode == -signal.SIGTERM
