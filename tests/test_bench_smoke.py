"""The benchmark harness runs end to end on tiny sizes and reports every figure of issue 7.

Timings are never asserted here (the machine is shared and noisy); only the
shape of the JSON, and that the contention run saw no overlapping claims.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

BENCH = Path(__file__).resolve().parent / "bench" / "run.py"

# Interface keys of issue 7: section -> keys that must be numbers (or null with a reason).
REQUIRED = {
    "claim_ms": ["median", "floor_median", "ratio", "import_ms"],
    "contention": ["writes_per_s", "violations", "retries", "p95_ms"],
    "status_ms": ["median"],
}
SKIPPABLE = {
    "hook_ms": ["median", "floor_median"],
    "notion": ["first_sync_requests", "resync_writes"],
}


def _number(value: object) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


def test_quick_bench_reports_every_figure(tmp_path: Path) -> None:
    out = tmp_path / "bench.json"
    res = subprocess.run(
        [sys.executable, str(BENCH), "--quick", "--json", str(out)],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert res.returncode == 0, res.stderr[-3000:]
    figures = json.loads(out.read_text())
    assert json.loads(res.stdout) == figures
    _assert_issue13_table(figures)
    for section, keys in REQUIRED.items():
        for key in keys:
            assert _number(figures[section][key]), (section, key, figures[section])
    for section, keys in SKIPPABLE.items():
        part = figures[section]
        if "skipped" in part:
            assert isinstance(part["skipped"], str) and part["skipped"]
        else:
            for key in keys:
                assert _number(part[key]), (section, key, part)
    contention = figures["contention"]
    assert contention["violations"] == 0, contention["violation_examples"]
    assert contention["phantom_grants"] == 0
    assert contention["worker_failures"] == 0, contention["worker_errors"]
    assert contention["writes"] > 0
    scale = figures["scale"]
    for axis in ("records", "live_claims"):
        assert scale[axis], axis
        for point in scale[axis].values():
            assert _number(point["claim_ms"]) and _number(point["status_ms"])
    comparison = figures["comparison"]
    assert "skipped" in comparison or _number(comparison["median"])


def test_the_conflicts_bench_runs_the_radar_worst_case_for_ten_branches() -> None:
    """One round: every one of the 55 merges conflicts, and the figures come with their floor."""
    bench = BENCH.parent / "conflicts_bench.py"
    res = subprocess.run(
        [sys.executable, str(bench), "--rounds", "1"], capture_output=True, text=True, timeout=600
    )
    assert res.returncode == 0, res.stderr[-3000:]
    figures = json.loads(res.stdout)["conflicts_ms"]
    assert (figures["branches"], figures["pairs"], figures["rounds"]) == (10, 55, 1)
    assert all(_number(figures[k]) and figures[k] > 0 for k in ("cold_median", "warm_median", "floor_median"))


def test_the_scale_bench_runs_a_quick_contention_loop_behind_a_slow_remote() -> None:
    """`scale.py --quick`: three agents behind an ext:: remote; the shape of its JSON, and that the
    replayed history holds no overlapping claims (no timing is asserted)."""
    bench = BENCH.parent / "scale.py"
    res = subprocess.run([sys.executable, str(bench), "--quick"], capture_output=True, text=True, timeout=600)
    assert res.returncode == 0, res.stderr[-3000:]
    figures = json.loads(res.stdout)
    assert figures["agents"] == 3 and sorted(figures["writes_per_agent"]) == ["agent0", "agent1", "agent2"]
    assert figures["violations"] == 0 and figures["other_failures"] == []
    assert all(_number(figures[k]) for k in ("total_writes_per_s", "pushes_per_write", "fetches_per_write"))
    assert _number(figures["single_ref"]["single_writer_writes_per_s"])


def _assert_issue13_table(figures: dict[str, object]) -> None:
    """The report opens with issue 13's table: every figure with its floor, target and met/missed."""
    assert next(iter(figures)) == "issue13"
    table = figures["issue13"]
    assert isinstance(table, dict)
    rows = table["figures"]
    calls = ["start", "claim", "check-in", "claims", "status", "inbox", "task next", "release"]
    expected = [f"{c} ({k} call)" for c in calls for k in ("later", "first")]
    expected += ["editor guard (later edit)", "editor guard (first edit)"]
    expected += ["hooks: commit of 200 files at 1,000 claims", "MCP warm claim"]
    assert sorted(rows) == sorted(expected), sorted(rows)
    for name, row in rows.items():
        assert _number(row["ms"]) and _number(row["floor_ms"]) and isinstance(row["met"], bool), (name, row)
    assert sorted(table["met"] + table["missed"]) == sorted(expected)
    mcp = figures["mcp"]
    assert isinstance(mcp, dict) and mcp["git_processes_per_claim"] > 0, mcp


def test_only_mcp_runs_that_part_alone(tmp_path: Path) -> None:
    """`--only mcp`: the MCP figures alone, under the key and in the shape of the whole report."""
    res = subprocess.run(
        [sys.executable, str(BENCH), "--quick", "--only", "mcp"], capture_output=True, text=True, timeout=300
    )
    assert res.returncode == 0, res.stderr[-3000:]
    figures = json.loads(res.stdout)
    assert set(figures) == {"meta", "mcp"}
    mcp = figures["mcp"]
    if "skipped" not in mcp:
        for key in ("warm_claim_ms", "floor_ms", "ratio", "protocol_ms", "git_processes_per_claim"):
            assert _number(mcp[key]), (key, mcp)
