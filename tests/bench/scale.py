"""Many writers on one coord ref behind a slow remote: fairness and throughput, as JSON.

    python tests/bench/scale.py [--quick] [--agents 8] [--delay 0.1] [--seconds 60] [--json FILE]
    python tests/bench/scale.py --burst [--agents 24] [--delay 0.3]
    python tests/bench/scale.py --steady [--agents 16] [--delay 0.3] [--seconds 120]

The remote is a local bare repository reached through an `ext::` transport whose command sleeps
`--delay` seconds before it runs `git upload-pack` / `git receive-pack`: every fetch and every push
pays that delay once, as a connection to a hosted remote pays its round trip. Each agent is its own
process in its own clone, looping claim then release of a file of its own (the issue 14
contention loop). Reported: writes landed per agent, their spread (max/min), total writes per
second, exits 4, p95 per write, pushes and fetches per landed write (GIT_TRACE), and the overlaps
found by replaying the remote's history.

The single-ref bound is measured in the same run, in the same setup, by one writer alone:
`single_writer` loops the same claim/release with nobody else (it always holds the tip: one push
per write, the most one ref can take at that delay), and `fetch_then_push` does the same but
fetches before every write (what any write costs a writer that does not hold the tip, so the most
a ref can take when writers alternate).

`--burst` and `--steady` are the issue's team scenarios, run through the `gitcoord` console script
(a new process per call, as an agent's tool call, with `GITCOORD_WARM=0`: every call cold, the
costliest case). Burst: every agent runs `start` then `claim` of a file of its own at the same
moment; reported: granted, exits 4, when the last claim was granted. Steady: each agent checks in
every 12 s and claims or releases its file every 24 s, the agents' schedules spread over the
period; reported: calls attempted and landed per agent, the lowest landed fraction, exits 4, p95
per call. Both replay the remote's history for overlapping exclusive claims.

The interpreter running this script is the gitcoord measured (its console script and package):
run it with another checkout on PYTHONPATH to measure that checkout.
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve()


def _harness() -> Any:
    """tests/bench/run.py by path: its helpers import nothing of gitcoord at module level, so
    the gitcoord measured is the one on this interpreter's path, not this checkout's."""
    spec = importlib.util.spec_from_file_location("gitcoord_bench_run", HERE.parent / "run.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def slow_clone(world: Any, name: str, delay: float) -> Path:
    """A clone whose origin is the world's remote behind an ext:: command that sleeps first."""
    base = _harness()
    script = world.root / "slow-git"
    if not script.exists():
        script.write_text(f'#!/bin/sh\nsleep {delay}\nexec git "$@"\n')
        script.chmod(0o755)
    clone = world.clone(name)
    base.git(clone, "config", "protocol.ext.allow", "always")
    base.git(clone, "remote", "set-url", "origin", f"ext::{script} %s {world.remote}")
    return clone


def worker(clone: str, agent: str, start_at: float, seconds: float, mode: str) -> None:
    """One agent: claim/release its own file until the time is up; JSON on stdout."""
    from gitcoord import Coordinator, GitcoordError

    coord = Coordinator(clone, agent=agent)
    coord.snapshot()
    ops: list[dict[str, Any]] = []
    time.sleep(max(0.0, start_at - time.time()))
    deadline = start_at + seconds
    resource = f"own/{agent}.py"
    while time.time() < deadline:
        for kind in ("claim", "release"):
            if mode == "fetching":
                coord.store.fetch()
            started = time.perf_counter()
            op: dict[str, Any] = {"op": kind}
            try:
                (coord.claim if kind == "claim" else coord.release)([resource])
                op["ok"] = True
            except GitcoordError as exc:
                op.update(ok=False, code=exc.exit_code, message=str(exc)[:200])
            op["ms"] = round((time.perf_counter() - started) * 1000, 1)
            ops.append(op)
            if not op["ok"]:
                break
    coord.close()
    print(json.dumps({"agent": agent, "ops": ops}))


def _run_agents(clones: list[tuple[Path, str]], seconds: float, mode: str, trace_dir: Path) -> list[Any]:
    start_at = time.time() + 3.0  # every worker has imported gitcoord by then
    procs = []
    for clone, agent in clones:
        env = dict(os.environ, GIT_TRACE=str(trace_dir / f"{agent}.trace"))
        cmd = [sys.executable, str(HERE), "--worker", str(clone), agent, str(start_at), str(seconds), mode]
        procs.append(
            subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env)
        )
    return _reports(procs, seconds + 300)


def _reports(procs: list[subprocess.Popen[str]], timeout: float) -> list[Any]:
    """Each worker's JSON report, in order; a worker that failed fails the run with its stderr."""
    reports = []
    for proc in procs:
        out, err = proc.communicate(timeout=timeout)
        if proc.returncode != 0:
            raise RuntimeError(f"a worker failed: {err.strip()[-800:]}")
        reports.append(json.loads(out))
    return reports


def _traced(trace_dir: Path, agent: str, command: str) -> int:
    path = trace_dir / f"{agent}.trace"
    text = path.read_text(errors="replace") if path.exists() else ""
    return sum(1 for line in text.splitlines() if f"trace: built-in: git {command} " in line)


def _alone(world: Any, delay: float, seconds: float, mode: str, trace_dir: Path) -> float:
    clone = slow_clone(world, f"alone-{mode}", delay)
    (report,) = _run_agents([(clone, f"alone-{mode}")], seconds, mode, trace_dir)
    return round(sum(1 for op in report["ops"] if op["ok"]) / seconds, 2)


def measure(agents: int, delay: float, seconds: float, alone_seconds: float) -> dict[str, Any]:
    base = _harness()
    with tempfile.TemporaryDirectory(prefix="gitcoord-scale-") as tmp:
        root = Path(tmp)
        base.pin_environment(root)
        traces = root / "traces"
        traces.mkdir()
        world = base.World(root / "world")
        single = _alone(world, delay, alone_seconds, "loop", traces)
        fetching = _alone(world, delay, alone_seconds, "fetching", traces)
        clones = [(slow_clone(world, f"agent{i}", delay), f"agent{i}") for i in range(agents)]
        reports = _run_agents(clones, seconds, "loop", traces)
        replay = base.replay_history(world.remote)
        landed = {r["agent"]: sum(1 for op in r["ops"] if op["ok"]) for r in reports}
        ms = [op["ms"] for r in reports for op in r["ops"] if op["ok"]]
        failed = [op for r in reports for op in r["ops"] if not op["ok"]]
        total = sum(landed.values())
        pushes = sum(_traced(traces, agent, "push") for _, agent in clones)
        fetches = sum(_traced(traces, agent, "fetch") for _, agent in clones)
    low, high = min(landed.values()), max(landed.values())
    rate = total / seconds
    return {
        "agents": agents,
        "delay_s": delay,
        "seconds": seconds,
        "writes_per_agent": landed,
        "spread": round(high / low, 2) if low else None,
        "starved_agents": sum(1 for n in landed.values() if n == 0),
        "total_writes_per_s": round(rate, 2),
        "exit4": sum(1 for op in failed if op.get("code") == 4),
        "other_failures": [op for op in failed if op.get("code") != 4][:3],
        "p95_ms": base.p95(ms),
        "pushes_per_write": round(pushes / total, 2) if total else None,
        "fetches_per_write": round(fetches / total, 2) if total else None,
        "violations": len(replay["violations"]),
        "single_ref": {
            "single_writer_writes_per_s": single,
            "fetch_then_push_writes_per_s": fetching,
            "seconds": alone_seconds,
        },
        "ratio_to_single_writer": round(rate / single, 2) if single else None,
        "ratio_to_fetch_then_push": round(rate / fetching, 2) if fetching else None,
        "targets": {"spread_at_most": 3, "ratio_to_single_writer_at_least": 0.8},
    }


# -- the team scenarios: one process per call, as an agent's tool calls --------------------------

CHECK_IN_EVERY, CLAIM_EVERY = 12.0, 24.0


def _call(clone: str, agent: str, start_at: float, *args: str) -> dict[str, Any]:
    """One `gitcoord` call as a fresh process; its exit code, its time and when it ended."""
    base = _harness()
    started = time.time()
    env = dict(os.environ, GITCOORD_AGENT=agent, GITCOORD_WARM="0")
    res = subprocess.run(
        [*base.gitcoord_command(), *args], cwd=clone, env=env, capture_output=True, text=True
    )
    ended = time.time()
    call: dict[str, Any] = {"op": args[0], "code": res.returncode, "ms": round((ended - started) * 1000, 1)}
    call["done_s"] = round(ended - start_at, 2)
    if res.returncode:
        call["message"] = res.stderr.strip()[-200:]
    return call


def _schedule(index: int, agents: int, seconds: float) -> list[tuple[float, str]]:
    """Steady: (offset, call) for one agent, a check-in every 12 s and a claim-or-release every
    24 s, each shifted by the agent's place in the team so that the team's calls spread over its
    period (the claims over the whole 24 s, not over the check-ins' 12 s)."""
    shift = CHECK_IN_EVERY * index / agents
    plan = [(shift + CHECK_IN_EVERY * k, "check-in") for k in range(int(seconds // CHECK_IN_EVERY) + 1)]
    turns = int(seconds // CLAIM_EVERY) + 1
    claim_shift = CHECK_IN_EVERY / 2 + CLAIM_EVERY * index / agents
    plan += [(claim_shift + CLAIM_EVERY * k, "claim-or-release") for k in range(turns)]
    return sorted((at, what) for at, what in plan if at < seconds)


def team_worker(
    clone: str, agent: str, start_at: float, scenario: str, index: int, agents: int, seconds: float
) -> None:
    """One agent of the burst or the steady team; JSON on stdout. In the steady team the agent
    releases its file when it holds it and claims it otherwise, as an agent would."""
    time.sleep(max(0.0, start_at - time.time()))
    own = f"own/{agent}.py"
    calls = [_call(clone, agent, start_at, "start")]
    if scenario == "burst":
        calls.append(_call(clone, agent, start_at, "claim", own))
    else:
        holding = False
        for at, what in _schedule(index, agents, seconds):
            time.sleep(max(0.0, start_at + at - time.time()))  # a late call is followed at once
            if what == "check-in":
                calls.append(_call(clone, agent, start_at, "check-in"))
                continue
            calls.append(_call(clone, agent, start_at, "release" if holding else "claim", own))
            holding = holding != (calls[-1]["code"] == 0)
    print(json.dumps({"agent": agent, "calls": calls}))


def _run_team(clones: list[tuple[Path, str]], scenario: str, seconds: float) -> list[Any]:
    start_at = time.time() + 2.0
    procs = []
    for index, (clone, agent) in enumerate(clones):
        cmd = [sys.executable, str(HERE), "--team-worker", str(clone), agent, str(start_at), scenario]
        cmd += [str(index), str(len(clones)), str(seconds)]
        procs.append(subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True))
    return _reports(procs, seconds + 600)


def team(scenario: str, agents: int, delay: float, seconds: float) -> dict[str, Any]:
    base = _harness()
    with tempfile.TemporaryDirectory(prefix="gitcoord-team-") as tmp:
        root = Path(tmp)
        base.pin_environment(root)
        world = base.World(root / "world")
        clones = [(slow_clone(world, f"agent{i}", delay), f"agent{i}") for i in range(agents)]
        reports = _run_team(clones, scenario, seconds)
        violations = len(base.replay_history(world.remote)["violations"])
    calls = [c for r in reports for c in r["calls"]]
    failed = [c for c in calls if c["code"]]
    figures: dict[str, Any] = {
        "scenario": scenario,
        "agents": agents,
        "delay_s": delay,
        "calls": len(calls),
        "exit4": sum(1 for c in failed if c["code"] == 4),
        "exit4_samples": [c for c in failed if c["code"] == 4][:3],
        "other_failures": [c for c in failed if c["code"] != 4][:3],
        "p95_ms": base.p95([c["ms"] for c in calls]),
        "violations": violations,
    }
    if scenario == "burst":
        granted = [c for c in calls if c["op"] == "claim" and c["code"] == 0]
        figures.update(
            granted=len(granted),
            last_granted_s=max((c["done_s"] for c in granted), default=None),
            targets={"granted": agents, "exit4": 0, "last_granted_s_at_most": 60},
        )
    else:
        landed = {r["agent"]: [sum(1 for c in r["calls"] if not c["code"]), len(r["calls"])] for r in reports}
        figures.update(
            seconds=seconds,
            landed_of_attempted=landed,
            lowest_landed_fraction=round(min(ok / tried for ok, tried in landed.values()), 3),
            targets={"exit4": 0, "p95_ms_at_most": 5000, "lowest_landed_fraction_at_least": 0.8},
        )
    return figures


def main(argv: list[str] | None = None) -> int:
    args = sys.argv[1:] if argv is None else argv
    if args[:1] == ["--worker"]:
        clone, agent, start_at, seconds, mode = args[1:6]
        worker(clone, agent, float(start_at), float(seconds), mode)
        return 0
    if args[:1] == ["--team-worker"]:
        clone, agent, start_at, scenario, index, agents, seconds = args[1:8]
        team_worker(clone, agent, float(start_at), scenario, int(index), int(agents), float(seconds))
        return 0
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--quick", action="store_true", help="3 agents, 50 ms, 8 s: a smoke run")
    parser.add_argument("--agents", type=int, default=8)
    parser.add_argument("--delay", type=float, default=0.1, help="seconds the remote waits per connection")
    parser.add_argument("--seconds", type=float, default=60.0)
    parser.add_argument("--json", type=Path, help="also write the figures to this file")
    scenario = parser.add_mutually_exclusive_group()
    scenario.add_argument("--burst", action="store_true", help="start then claim, all at once (24, 300 ms)")
    scenario.add_argument(
        "--steady", action="store_true", help="check-ins and claims on a schedule (16, 300 ms, 120 s)"
    )
    opts = parser.parse_args(args)
    given = {a.split("=")[0] for a in args}
    if opts.burst or opts.steady:
        defaults = (24, 0.3, 0.0) if opts.burst else (16, 0.3, 120.0)
        for name, value in zip(("agents", "delay", "seconds"), defaults, strict=True):
            if f"--{name}" not in given:
                setattr(opts, name, value)
        if opts.quick:
            # Steady: 24 s, so that each of the three claims once (at 6, 14 and 22 s).
            opts.agents, opts.delay, opts.seconds = 3, 0.05, (0.0 if opts.burst else 24.0)
        figures = team("burst" if opts.burst else "steady", opts.agents, opts.delay, opts.seconds)
    else:
        if opts.quick:
            opts.agents, opts.delay, opts.seconds = 3, 0.05, 8.0
        figures = measure(opts.agents, opts.delay, opts.seconds, max(5.0, opts.seconds / 4))
    text = json.dumps(figures, indent=2)
    print(text)
    if opts.json:
        opts.json.write_text(text + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
