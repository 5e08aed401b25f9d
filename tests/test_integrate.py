"""`gitcoord integrate`: the instruction block keeps the rest of the file and is idempotent;
and `claim --wait` gets a resource its holder releases a few seconds later (with a remote,
by fetching with backoff; in local mode, by watching the coord ref)."""

from __future__ import annotations

import json
import os
import subprocess
import time
from pathlib import Path

import pytest

from gitcoord.git import RefWatch
from gitcoord.integrate import BEGIN, END

from .conftest import GITCOORD, World, fetches, git, run, spawn, wait_for

USER_TEXT = "# Project notes\n\nRun `make test` before pushing.\n"


def test_agents_md_keeps_content_and_is_idempotent(local_repo: Path) -> None:
    agents_md = local_repo / "AGENTS.md"
    agents_md.write_text(USER_TEXT)
    first = run(local_repo, "integrate", "agents-md", "--json")
    assert first.code == 0, first.err
    assert first.json()["changed"] is True and first.json()["guard"] is None
    text = agents_md.read_text()
    assert text.startswith(USER_TEXT)
    assert text.count(BEGIN) == 1 and text.count(END) == 1
    for step in (
        "gitcoord start",
        "gitcoord claim",
        "gitcoord check-in",
        "gitcoord release",
        "gitcoord request-help",
        "gitcoord log-error",
        "gitcoord log-decision",
        "gitcoord daily-summary",
    ):
        assert step in text
    # A user edit after the block survives a second run, which changes nothing else.
    agents_md.write_text(text + "\n## Later notes\nkeep me\n")
    again = run(local_repo, "integrate", "agents-md", "--json")
    assert again.json()["changed"] is False
    assert agents_md.read_text() == text + "\n## Later notes\nkeep me\n"
    removed = run(local_repo, "integrate", "agents-md", "--remove")
    assert removed.code == 0
    assert agents_md.read_text() == USER_TEXT + "\n## Later notes\nkeep me\n"


def test_a_stale_block_is_replaced_in_place(local_repo: Path) -> None:
    claude_md = local_repo / "CLAUDE.md"
    claude_md.write_text(f"before\n{BEGIN}\nold instructions\n{END}\nafter\n")
    assert run(local_repo, "integrate", "claude").code == 0
    text = claude_md.read_text()
    assert text.startswith("before\n" + BEGIN) and text.endswith(END + "\nafter\n")
    assert "old instructions" not in text and "gitcoord start" in text


def test_claude_and_codex_install_the_editor_guard(local_repo: Path) -> None:
    editors = pytest.importorskip(
        "gitcoord.hooks.editors", reason="the enforcement module (editor guard) is missing"
    )
    guard_command = editors.guard_command
    settings = local_repo / ".claude" / "settings.json"
    settings.parent.mkdir()
    settings.write_text(json.dumps({"permissions": {"allow": ["Bash(ls)"]}}))
    res = run(local_repo, "integrate", "claude")
    assert res.code == 0, res.err
    data = json.loads(settings.read_text())
    assert data["permissions"] == {"allow": ["Bash(ls)"]}
    commands = [h["command"] for g in data["hooks"]["PreToolUse"] for h in g["hooks"]]
    assert commands == [guard_command("claude")]
    assert (local_repo / "CLAUDE.md").exists()
    assert run(local_repo, "integrate", "codex").code == 0
    assert (
        guard_command("codex")
        in json.loads((local_repo / ".codex" / "hooks.json").read_text())["hooks"]["PreToolUse"][0]["hooks"][
            0
        ]["command"]
    )
    assert "gitcoord start" in (local_repo / "AGENTS.md").read_text()
    assert run(local_repo, "integrate", "claude", "--remove").code == 0
    assert json.loads(settings.read_text()) == {"permissions": {"allow": ["Bash(ls)"]}}
    assert BEGIN not in (local_repo / "CLAUDE.md").read_text()


def test_begin_marker_without_end_is_refused_untouched(local_repo: Path) -> None:
    agents_md = local_repo / "AGENTS.md"
    agents_md.write_text(f"{BEGIN}\nhalf a block\n")
    res = run(local_repo, "integrate", "agents-md")
    assert res.code == 2 and "end marker" in res.err
    assert agents_md.read_text() == f"{BEGIN}\nhalf a block\n"


def test_claim_wait_gets_a_resource_released_during_the_wait(world: World) -> None:
    a, b = world.clones[0], world.clones[1]
    assert run(a, "claim", "src/api.py", agent="alpha").code == 0
    trace = world.root / "waiter.trace"
    env = {"GITCOORD_AGENT": "beta", "GIT_TRACE": str(trace)}
    waiter = subprocess.Popen(
        [*GITCOORD, "-C", str(b), "claim", "src/api.py", "--wait", "600", "--json"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env={**os.environ, **env},
    )
    try:
        # Refused on the remote's tip at least twice (each attempt fetches): it is waiting.
        wait_for(lambda: fetches(trace) >= 3 or waiter.poll() is not None, "the waiter's second attempt")
        assert waiter.poll() is None, "the waiter gave up while alpha still held the claim"
        assert run(a, "release", "src/api.py", agent="alpha").code == 0
        released = fetches(trace)
        out, err = waiter.communicate(timeout=300)  # far inside the 600 s of --wait
    finally:
        if waiter.poll() is None:
            waiter.kill()
            waiter.communicate()
    assert waiter.returncode == 0, err
    assert json.loads(out)[0]["agent"] == "beta"
    # Noticed at the next attempt (one more may have been under way at the release), counted in
    # attempts: how long each takes depends on the machine.
    assert fetches(trace) - released <= 2, trace.read_text()


def test_claim_wait_times_out_with_exit_3(world: World) -> None:
    assert run(world.clones[0], "claim", "src/api.py", agent="alpha").code == 0
    started = time.monotonic()
    res = spawn(world.clones[1], "claim", "src/api.py", "--wait", "2", agent="beta", timeout=300)
    assert res.code == 3 and "alpha" in res.err
    assert time.monotonic() - started >= 2  # it did wait; how much longer depends on the machine


def _coord_tip(repo: Path) -> str:
    return git(repo, "rev-parse", "refs/heads/coord").strip()


def test_ref_watch_sees_loose_packed_and_worktree_updates(local_repo: Path, tmp_path: Path) -> None:
    common = Path(git(local_repo, "rev-parse", "--path-format=absolute", "--git-common-dir").strip())
    watch = RefWatch(common, "refs/heads/coord")
    quiet = watch.stamp()
    started = time.monotonic()
    assert watch.wait(quiet, 0.3) is False
    assert time.monotonic() - started >= 0.3
    # A write from another worktree moves the shared ref.
    wt = tmp_path / "wt"
    git(local_repo, "worktree", "add", "-q", "--detach", str(wt))
    assert run(wt, "claim", "src/api.py", agent="beta").code == 0
    assert watch.wait(quiet, 2) is True
    # Packed: the loose file goes away, and the next update writes one again.
    git(local_repo, "pack-refs", "--all")
    packed = watch.stamp()
    assert packed != quiet and watch.wait(packed, 0.2) is False
    assert run(local_repo, "release", "src/api.py", agent="beta").code == 0
    assert watch.wait(packed, 2) is True
    assert _coord_tip(local_repo) == _coord_tip(wt)


def test_local_wait_wakes_on_the_release_not_on_its_timer(local_repo: Path, tmp_path: Path) -> None:
    """Three waiters, three releases: each is granted within about one claim's time of its release.

    Timed retries alone (seconds apart by now) would be that quick by luck about
    four times in ten for one waiter, and seldom for all three.
    """
    wt = tmp_path / "wt"
    git(local_repo, "worktree", "add", "-q", "--detach", str(wt))
    names = ["src/a.py", "src/b.py", "src/c.py"]
    assert run(local_repo, "claim", *names, agent="alpha").code == 0
    waiters = [
        subprocess.Popen(
            [*GITCOORD, "-C", str(wt), "claim", name, "--wait", "60", "--json"],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            env={**os.environ, "GITCOORD_AGENT": f"w{n}"},
        )
        for n, name in enumerate(names)
    ]
    time.sleep(5)  # not a synchronisation: lets the waiters' timed retries grow seconds apart
    assert all(w.poll() is None for w in waiters), "a waiter gave up while alpha held its claim"
    for n, (name, waiter) in enumerate(zip(names, waiters, strict=True)):
        # What one whole claim costs on this machine right now (a process started, a write landed,
        # an exit): a woken waiter does less than that, so on a loaded machine the bound grows
        # with the machine's slowness while the timed retries it is told apart from do not.
        started = time.monotonic()
        assert spawn(wt, "claim", f"other/{n}.py", agent="bystander").code == 0
        one_claim = time.monotonic() - started
        assert run(local_repo, "release", name, agent="alpha").code == 0
        released = time.monotonic()
        out, err = waiter.communicate(timeout=300)
        granted_after = time.monotonic() - released
        assert waiter.returncode == 0, err
        assert json.loads(out)[0]["agent"] == f"w{n}"
        assert granted_after < 0.6 + one_claim, (
            f"{name}'s release was noticed only after {granted_after:.2f}s (one claim takes {one_claim:.2f}s)"
        )
