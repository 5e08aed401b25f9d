"""`gitcoord demo`: the newcomer's first command, run as they would run it."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

from gitcoord import Coordinator
from gitcoord.records import Agent, Decision, ErrorRecord, HelpRequest, Summary

from .conftest import GITCOORD, git, spawn


def test_demo_keeps_its_world_when_asked(tmp_path: Path) -> None:
    keep = tmp_path / "world"
    gitconfig = Path(os.environ["GIT_CONFIG_GLOBAL"])
    before = gitconfig.read_text()
    # How long the demo takes depends on the machine (tests/bench is where speed is measured);
    # the timeout only keeps a hung demo from hanging the suite.
    res = spawn(tmp_path, "demo", "--keep", str(keep), timeout=600)
    assert res.code == 0, res.out + res.err
    for name in ("alpha", "beta", "gamma", "human"):
        assert f"{name}: " in res.out
    assert "claim modules/power/ refused" in res.out
    assert "refused by the hook" in res.out
    assert "gamma: editor's first edit of data/README.md allowed and claimed by itself" in res.out
    assert "gamma: commit claimed data/schema.md by itself" in res.out
    # Two branches change the same line of README.md: named before anyone merges, then dealt with.
    assert "alpha: pushed branch alpha-docs (README.md reworded), not merged" in res.out
    assert (
        "beta: check-in, before any merge: coming conflict: README.md with alpha's branch alpha-docs"
        in res.out
    )
    assert "beta: gitcoord conflicts: alpha (alpha-docs) x beta (beta-docs): conflict in README.md" in res.out
    assert "beta: rebased beta-docs on alpha-docs keeping both sentences" in res.out
    assert git(keep / "remote.git", "rev-parse", "beta-docs~1") == git(
        keep / "remote.git", "rev-parse", "alpha-docs"
    )
    with Coordinator(keep / "remote.git") as remote:
        branches = {a.name: a.branch for a in remote.snapshot().records(Agent)}
        assert (branches["alpha"], branches["beta"]) == ("alpha-docs", "beta-docs")
    assert (keep / "dashboard.html").read_text().lstrip().lower().startswith("<!doctype html")
    # The user's git config was neither read for identity nor changed.
    assert gitconfig.read_text() == before
    assert "liz@demo.invalid" in git(keep / "remote.git", "log", "-1", "--format=%ae", "coord")
    with Coordinator(keep / "remote.git") as remote:
        snap = remote.snapshot()
        helps = snap.records(HelpRequest)
        assert [(h.from_agent, h.to, h.status, h.resolved_by) for h in helps] == [
            ("alpha", "gamma", "resolved", "gamma")
        ]
        decisions = snap.records(Decision)
        assert [(d.agent, d.status, d.reviewed_by) for d in decisions] == [
            ("beta", "implemented", "human:liz@demo.invalid")
        ]
        errors = snap.records(ErrorRecord)
        assert len(errors) == 2 and all(e.status == "resolved" for e in errors)
        summaries: list[Summary] = remote.summaries()
        assert {s.agent for s in summaries} == {"alpha", "beta", "gamma"}
    # The hook kept beta's edit of alpha's file out of beta's history.
    assert git(keep / "beta", "log", "--format=%s", "main", "--", "modules/power/battery.md") == ""


def test_demo_leaves_nothing_behind(tmp_path: Path) -> None:
    scratch = tmp_path / "tmp"
    scratch.mkdir()
    res = subprocess.run(
        [*GITCOORD, "demo"],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=600,
        env=dict(os.environ, TMPDIR=str(scratch)),
    )
    assert res.returncode == 0, res.stdout + res.stderr
    assert "done in" in res.stdout
    assert list(scratch.iterdir()) == []


def test_keep_refuses_a_directory_in_use(tmp_path: Path) -> None:
    (tmp_path / "busy").mkdir()
    (tmp_path / "busy" / "file").write_text("mine\n")
    res = spawn(tmp_path, "demo", "--keep", str(tmp_path / "busy"))
    assert res.code == 2 and "not an empty directory" in res.err
    assert (tmp_path / "busy" / "file").read_text() == "mine\n"
