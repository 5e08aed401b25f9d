"""The team scenarios of `tests/bench/scale.py` (issue 14) run end to end: three agents in their
own clones behind an ext:: remote, every call a fresh `gitcoord` process. Only the JSON's shape
and what does not depend on speed are asserted: every call is accounted for, the history replays
without an overlapping claim, and a steady agent claims again when it holds nothing."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

BENCH = Path(__file__).resolve().parent / "bench" / "scale.py"


def _team(flag: str) -> dict[str, Any]:
    res = subprocess.run(
        [sys.executable, str(BENCH), flag, "--quick"], capture_output=True, text=True, timeout=900
    )
    assert res.returncode == 0, res.stderr[-3000:]
    figures: dict[str, Any] = json.loads(res.stdout)
    assert figures["agents"] == 3 and figures["violations"] == 0
    assert figures["other_failures"] == [], figures["other_failures"]
    return figures


def test_the_burst_runs_start_then_claim_for_every_agent() -> None:
    figures = _team("--burst")
    assert figures["scenario"] == "burst" and figures["calls"] == 6
    # A claim either landed or gave up with exit 4 (counted): none is lost from the report.
    assert figures["granted"] + sum(1 for c in figures["exit4_samples"] if c["op"] == "claim") >= 1
    assert figures["granted"] <= 3 and figures["targets"]["granted"] == 3


def test_the_steady_team_follows_its_schedule_and_accounts_for_every_call() -> None:
    figures = _team("--steady")
    assert figures["scenario"] == "steady"
    landed = figures["landed_of_attempted"]
    assert sorted(landed) == ["agent0", "agent1", "agent2"]
    assert sum(tried for _, tried in landed.values()) == figures["calls"]
    assert all(0 <= ok <= tried for ok, tried in landed.values())
    assert 0 <= figures["lowest_landed_fraction"] <= 1
