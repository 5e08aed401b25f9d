"""`gitcoord.agent_utils`: the original design's functions, called the way its session scripts did."""

from __future__ import annotations

import json
import traceback
from pathlib import Path

import pytest

from gitcoord import Coordinator, InvalidInput
from gitcoord.agent_utils import (
    check_in,
    claim_resource,
    log_decision,
    log_error,
    release_resource,
    request_help,
    startup_protocol,
    write_daily_summary,
)

from .conftest import World, run


def test_alpha_session_script_in_the_original_style(world: World, monkeypatch: pytest.MonkeyPatch) -> None:
    """alpha_session.py from the original design, in alpha's clone (repo_path defaults to the cwd)."""
    lead = world.clones[2]
    with Coordinator(lead, agent="lead") as c:
        c.add_task(
            "Write the battery module",
            resources=["modules/power/battery.md"],
            assign="alpha",
            priority="high",
        )
    monkeypatch.chdir(world.clones[0])

    # 1. Startup - read shared state
    context = startup_protocol("alpha")
    assert {"messages", "active_claims", "help_requests", "my_tasks"} <= set(context)
    assert json.loads(json.dumps(context)) == context  # plain data only
    # 2. Check for help requests (priority): none yet.
    assert context["help_requests"] == []
    # 3. Work on next task from queue
    task = context["my_tasks"][0]
    assert task["resource"] == "modules/power/battery.md"
    assert claim_resource("alpha", task["resource"])
    assert check_in("alpha", task["resource"], 50, "Working...")
    assert release_resource("alpha", task["resource"], "Complete")
    # 4. Write daily summary
    summary = write_daily_summary(
        "alpha",
        4,
        completed="battery module",
        next_tasks="solar module",
        messages="none",
        blockers="None",
        metrics="modules=1, questions: 12",
    )
    assert summary["day_number"] == 4 and summary["next"] == "solar module"
    assert summary["metrics"] == {"modules": "1", "questions": "12"}

    with Coordinator(world.remote) as c:
        trail = [e["action"] for e in c.log(agent="alpha")]
    assert trail == ["summary-write", "release", "check-in", "claim", "start"]


def test_conflicts_and_lost_claims_are_false(world: World) -> None:
    a, b = world.clones[0], world.clones[1]
    assert claim_resource("alpha", "backend/lms_routes.py", estimated_minutes=10, repo_path=a)
    assert not claim_resource("beta", "backend/", repo_path=b)
    assert not release_resource("beta", "backend/lms_routes.py", repo_path=b)  # never held it
    assert not check_in("beta", "backend/lms_routes.py", repo_path=b)
    assert check_in("alpha", None, 80, "all my claims", repo_path=a)
    assert release_resource("alpha", "backend/lms_routes.py", repo_path=a)
    assert not release_resource("alpha", "backend/lms_routes.py", repo_path=a)
    assert claim_resource("beta", "backend/", repo_path=b)
    with pytest.raises(InvalidInput):
        claim_resource("beta", "../outside", repo_path=b)  # bad input raises, it is not a conflict


def test_help_errors_decisions_reach_the_others(world: World) -> None:
    a, b, c = world.clones
    help_req = request_help(
        "alpha", "gamma", "Need ghost cohort data for power modules", priority="high", repo_path=a
    )
    assert help_req["id"].startswith("H-") and help_req["priority"] == "high"
    try:
        {}["missing"]
    except KeyError:
        error = log_error(
            "beta",
            "code_error",
            "API endpoint returning 500",
            severity="high",
            stack_trace=traceback.format_exc(),
            resource="backend/api.py",
            repo_path=b,
        )
    assert error["id"].startswith("E-") and "KeyError" in error["trace"]
    decision = log_decision(
        "beta",
        "api_design",
        "Use JWT tokens for authentication",
        "Better for SPA, stateless API",
        impact="high",
        alternatives=["server sessions"],
        repo_path=b,
    )
    assert decision["status"] == "proposed" and decision["alternatives"] == ["server sessions"]

    gamma = startup_protocol("gamma", repo_path=c)
    assert [(h["id"], h["from_agent"]) for h in gamma["help_requests"]] == [(help_req["id"], "alpha")]
    assert [e["id"] for e in gamma["errors"]] == [error["id"]]
    human = run(world.clone("human"), "decisions", "approve", decision["id"])
    assert human.code == 0, human.err
    beta = startup_protocol("beta", repo_path=b)
    assert [(d["id"], d["status"]) for d in beta["decisions"]] == [(decision["id"], "approved")]


def test_log_error_cuts_rather_than_refuses(tmp_path: Path, local_repo: Path) -> None:
    """Called from except blocks: an overlong message or trace is cut, keeping the trace's end."""
    trace = "frame\n" * 20_000 + "ValueError: the real cause\n"
    error = log_error("beta", "other", "m" * 5000, stack_trace=trace, repo_path=local_repo)
    assert error["severity"] == "medium"  # the original's default
    assert len(error["message"]) == 4000 and error["message"].endswith("...")
    assert len(error["trace"].encode()) <= 64 * 1024 and error["trace"].endswith(
        "ValueError: the real cause\n"
    )


def test_summary_metrics_forms(local_repo: Path) -> None:
    free = write_daily_summary(
        "alpha", 1, completed="x", next_tasks="y", metrics="went well overall", repo_path=local_repo
    )
    assert free["metrics"] == {"notes": "went well overall"}
    again = write_daily_summary(
        "alpha", 1, completed="x2", next_tasks="y", metrics={"tests": 42}, repo_path=local_repo
    )
    assert again["metrics"] == {"tests": "42"} and again["completed"] == "x2"
    none = write_daily_summary("beta", None, repo_path=local_repo)
    assert none["metrics"] == {} and none["day_number"] is None
