"""Many writers on one coord ref behind a slow remote: fairness and throughput, as JSON.

    python tests/bench/scale.py [--quick] [--agents 8] [--delay 0.1] [--seconds 60] [--json FILE]

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
    reports = []
    for proc in procs:
        out, err = proc.communicate(timeout=seconds + 300)
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


def main(argv: list[str] | None = None) -> int:
    args = sys.argv[1:] if argv is None else argv
    if args[:1] == ["--worker"]:
        clone, agent, start_at, seconds, mode = args[1:6]
        worker(clone, agent, float(start_at), float(seconds), mode)
        return 0
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--quick", action="store_true", help="3 agents, 50 ms, 8 s: a smoke run")
    parser.add_argument("--agents", type=int, default=8)
    parser.add_argument("--delay", type=float, default=0.1, help="seconds the remote waits per connection")
    parser.add_argument("--seconds", type=float, default=60.0)
    parser.add_argument("--json", type=Path, help="also write the figures to this file")
    opts = parser.parse_args(args)
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
