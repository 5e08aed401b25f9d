"""Per-call figures: each agent-facing call against its lean limit, first call and later calls (issue 13).

    python tests/bench/calls.py [--quick]      (also part of tests/bench/run.py, key `calls`)
    python tests/bench/calls.py --priming      (later calls, an unprimed server against a primed one)

An agent runs `gitcoord` through the console script, without a terminal. Its first call of a
session finds no warm server (it runs in-process and starts one); its later calls are served by
the warm server. Each call's **lean limit** is measured in the same run, right after it: the
interpreter start with one TOML parse, plus the git plumbing that call needs, done by hand:

- writes (`claim`, `release`, `task next`): hash-object, mktree, commit-tree and a
  `push --force-with-lease` to the same kind of remote (file://);
- writes that fetch first (`start`, `check-in`): the same, after a `git fetch` of the coord branch;
- reads (`claims`, `status`, `inbox`): a `git fetch` of the coord branch, rev-parse and one
  `cat-file --batch` of the records' tree.

Targets: later calls <= 1.5x their lean limit, first calls <= 3x. `growth` repeats the later calls
on a repository with many records and a long coord history and gives the ratios to the small one.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from run import (  # type: ignore[import-not-found]
    World,
    add_history,
    bulk_write,
    gitcoord_command,
    many_records,
    median,
    others_claims,
    pin_environment,
)

COMMANDS = ["start", "claim", "check-in", "claims", "status", "inbox", "task next", "release"]
WRITES = {"claim", "release", "task next"}
FETCH_WRITES = {"start", "check-in"}
TARGET_LATER, TARGET_FIRST = 1.5, 3.0
TOML = 'import tomllib; tomllib.loads(\'id = "C-1"\\nagent = "a"\\nresource = "x.py"\\ntoken = 1\\n\')'


def _timed(
    cmd: Sequence[str], cwd: Path, env: dict[str, str], input: bytes | None = None
) -> tuple[float, str]:
    """One process without a controlling terminal, as an agent's tool call runs: (ms, stdout)."""
    start = time.perf_counter()
    res = subprocess.run(
        list(cmd), cwd=cwd, env=env, input=input, capture_output=True, start_new_session=True
    )
    ms = (time.perf_counter() - start) * 1000
    if res.returncode != 0:
        raise RuntimeError(f"{' '.join(cmd)} exited {res.returncode}: {res.stderr.decode(errors='replace')}")
    return ms, res.stdout.decode(errors="replace").strip()


class Session:
    """One clone, one agent, one private runtime directory for its warm server."""

    def __init__(self, clone: Path, primed: bool = True) -> None:
        self.clone = clone
        self.runtime = Path(tempfile.mkdtemp(prefix="gwb-", dir="/tmp"))
        self.env = dict(os.environ, GITCOORD_AGENT="bencher", XDG_RUNTIME_DIR=str(self.runtime))
        self.env.pop("GITCOORD_WARM", None)
        if not primed:
            self.env["GITCOORD_WARM_PRIME"] = "0"  # its server skips priming: the figures before it
        self.floor_parent: str | None = None
        self.n = 0

    def args(self, command: str, i: int) -> list[str]:
        words = command.split()
        if command in ("claim", "release"):
            words.append(f"bench/f{i}.py")
        return [*gitcoord_command(), *words]

    def call(self, command: str, i: int) -> float:
        return _timed(self.args(command, i), self.clone, self.env)[0]

    # -- the server ---------------------------------------------------------------------------

    def stop_server(self) -> None:
        """No server and no socket: the next call is a session's first."""
        directory = self.runtime / "gitcoord"
        for lock in directory.glob("*.lock") if directory.exists() else []:
            pid = int(lock.read_text().strip() or 0)
            if pid and _alive(pid):
                os.kill(pid, signal.SIGKILL)
                _wait(lambda pid=pid: not _alive(pid), "the server to die")
        shutil.rmtree(directory, ignore_errors=True)

    def wait_server(self) -> None:
        directory = self.runtime / "gitcoord"
        _wait(lambda: directory.exists() and any(directory.glob("*.sock")), "the warm server")

    def close(self) -> None:
        self.stop_server()
        shutil.rmtree(self.runtime, ignore_errors=True)

    # -- the lean limit -----------------------------------------------------------------------------

    def floor(self, command: str) -> float:
        env, cwd = self.env, self.clone
        total = _timed([sys.executable, "-c", TOML], cwd, env)[0]
        if command in FETCH_WRITES or command not in WRITES:
            total += _timed(
                ["git", "fetch", "-q", "origin", "+refs/heads/coord:refs/remotes/origin/coord"], cwd, env
            )[0]
        if command in WRITES or command in FETCH_WRITES:
            return total + self._plumbing_write()
        ms, tip = _timed(["git", "rev-parse", "refs/remotes/origin/coord"], cwd, env)
        total += ms
        return total + _timed(["git", "cat-file", "--batch"], cwd, env, input=f"{tip}:.coord\n".encode())[0]

    def _plumbing_write(self) -> float:
        env, cwd = self.env, self.clone
        self.n += 1
        total, blob = _timed(
            ["git", "hash-object", "-w", "--stdin"], cwd, env, input=f"n = {self.n}\n".encode()
        )
        ms, tree = _timed(["git", "mktree"], cwd, env, input=f"100644 blob {blob}\tf.toml\n".encode())
        total += ms
        parent = ["-p", self.floor_parent] if self.floor_parent else []
        ms, commit = _timed(["git", "commit-tree", tree, *parent, "-m", f"floor {self.n}"], cwd, env)
        total += ms
        lease = f"--force-with-lease=refs/heads/bench-floor:{self.floor_parent or ''}"
        ms, _ = _timed(["git", "push", "-q", lease, "origin", f"{commit}:refs/heads/bench-floor"], cwd, env)
        self.floor_parent = commit
        return total + ms


def _alive(pid: int) -> bool:
    try:
        text = Path(f"/proc/{pid}/stat").read_text()
    except (FileNotFoundError, ProcessLookupError):  # gone, or gone between open and read
        return False
    return text.rpartition(")")[2].split()[0] != "Z"


def _wait(condition: Any, what: str, timeout: float = 120) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise RuntimeError(f"gave up after {timeout:.0f} s waiting for {what}")
        time.sleep(0.02)


def _seed_tasks(clone: Path, count: int) -> None:
    from gitcoord.records import Task

    def build(txn: Any) -> list[Any]:
        return [
            Task(id=txn.new_id("T"), title=f"bench task {i}", created_by="seeder", created_at=txn.now)
            for i in range(count)
        ]

    bulk_write(clone, build)


def measure(session: Session, runs: int, first: bool = True) -> dict[str, dict[str, list[float]]]:
    """Per command: first-call and later-call times, each with the lean limit taken right after it."""
    out = {c: {"first": [], "first_floor": [], "later": [], "later_floor": []} for c in COMMANDS}
    session.stop_server()
    session.call("claims", 0)  # starts the server; also warms the page cache: not measured
    for i in range(1, runs + 1):
        for command in COMMANDS:
            if first:
                session.stop_server()
                out[command]["first"].append(session.call(command, i))
                # The call started a server that imports and primes itself now: a floor timed
                # meanwhile would share the CPU with it and come out high (the ratio low).
                session.wait_server()
                out[command]["first_floor"].append(session.floor(command))
            session.wait_server()
            out[command]["later"].append(session.call(command, runs + i))
            out[command]["later_floor"].append(session.floor(command))
    return out


def summary(times: dict[str, dict[str, list[float]]]) -> dict[str, Any]:
    figures: dict[str, Any] = {}
    for command, t in times.items():
        entry: dict[str, Any] = {}
        for kind, target in (("later", TARGET_LATER), ("first", TARGET_FIRST)):
            if not t.get(kind):
                continue
            ms, floor = median(t[kind]), median(t[f"{kind}_floor"])
            ratio = round(ms / floor, 2)
            entry[kind] = {
                "ms": ms,
                "floor_ms": floor,
                "ratio": ratio,
                "target": target,
                "meets": ratio <= target,
            }
        figures[command] = entry
    return figures


def _world(root: Path, tasks: int) -> Session:
    world = World(root)
    _seed_tasks(world.first, tasks)
    return Session(world.first)


def bench_calls(root: Path, quick: bool) -> dict[str, Any]:
    """The `calls` section of run.py: first and later calls against their lean limits, and growth."""
    runs = 1 if quick else 7
    session = _world(root / "percall", 4 * runs + 4)
    try:
        figures: dict[str, Any] = {"runs": runs, "per_call": summary(measure(session, runs))}
    finally:
        session.close()
    figures["growth"] = {"skipped": "quick run"} if quick else growth(root, runs)
    return figures


def growth(root: Path, runs: int) -> dict[str, Any]:
    """Later calls on a small repository and on one with many records and a long history."""
    sizes = {"small": (0, 0, 0), "large": (1000, 1000, 5000)}  # live claims, records, history commits
    found: dict[str, Any] = {}
    for name, (claims, records, history) in sizes.items():
        session = _world(root / f"percall-growth-{name}", 4 * runs + 4)
        try:
            if claims:
                bulk_write(session.clone, others_claims(claims))
                bulk_write(session.clone, many_records(records))
                add_history(session.clone, history)
            found[name] = summary(measure(session, runs, first=False))
        finally:
            session.close()
    out: dict[str, Any] = {
        "sizes": {
            k: dict(zip(("live_claims", "records", "history"), v, strict=True)) for k, v in sizes.items()
        }
    }
    for command in COMMANDS:
        small, large = found["small"][command]["later"], found["large"][command]["later"]
        out[command] = {
            "small_ms": small["ms"],
            "large_ms": large["ms"],
            "growth": round(large["ms"] / small["ms"], 2),
            "floor_growth": round(large["floor_ms"] / small["floor_ms"], 2),
            "large_ratio": large["ratio"],
        }
    return out


def priming(root: Path, runs: int) -> dict[str, Any]:
    """Later calls through an unprimed server and a primed one, interleaved in one run, each with
    its own lean limit taken right after it: the ratios before and after priming."""
    sessions = {}
    for name, primed in (("unprimed", False), ("primed", True)):
        world = World(root / f"priming-{name}")
        _seed_tasks(world.first, 2 * runs + 4)
        sessions[name] = Session(world.first, primed=primed)
    times = {name: {c: {"later": [], "later_floor": []} for c in COMMANDS} for name in sessions}
    try:
        for session in sessions.values():
            session.stop_server()
            session.call("claims", 0)
            session.wait_server()
        for i in range(1, runs + 1):
            for command in COMMANDS:
                for name, session in sessions.items():
                    times[name][command]["later"].append(session.call(command, i))
                    times[name][command]["later_floor"].append(session.floor(command))
    finally:
        for session in sessions.values():
            session.close()
    found = {name: summary(t) for name, t in times.items()}
    return {
        command: {name: found[name][command]["later"]["ratio"] for name in sessions}
        | {f"{name}_ms": found[name][command]["later"]["ms"] for name in sessions}
        for command in COMMANDS
    }


def main(argv: Sequence[str] | None = None) -> int:
    args = sys.argv[1:] if argv is None else argv
    quick = "--quick" in args
    root = Path(tempfile.mkdtemp(prefix="gitcoord-calls-"))
    pin_environment(root)
    try:
        if "--priming" in args:  # before/after the server's priming, later calls only
            print(json.dumps({"priming": priming(root, 3 if quick else 7)}, indent=2))
            return 0
        print(json.dumps(bench_calls(root, quick), indent=2))
    finally:
        shutil.rmtree(root, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
