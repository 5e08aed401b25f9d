"""`gitcoord mcp` through the official MCP client over stdio, as an editor would run it."""

from __future__ import annotations

import os
import sys
import threading
import time
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest

from gitcoord import Coordinator
from gitcoord.records import Claim

from .conftest import World

anyio = pytest.importorskip("anyio")
mcp = pytest.importorskip("mcp", reason="the official `mcp` SDK is not installed")

from mcp import ClientSession, StdioServerParameters  # noqa: E402
from mcp.client.stdio import stdio_client  # noqa: E402

EXPECTED_TOOLS = {
    "start",
    "claim",
    "check_in",
    "release",
    "claims",
    "request_help",
    "help_requests",
    "ack_help",
    "resolve_help",
    "send_message",
    "inbox",
    "log_error",
    "errors",
    "resolve_error",
    "log_decision",
    "decisions",
    "implement_decision",
    "daily_summary",
    "summaries",
    "status",
    "log",
    "task_next",
    "task_done",
    "task_block",
    "task_unblock",
    "tasks",
    "task_add",
}


def _params(clone: Path, agent: str) -> StdioServerParameters:
    return StdioServerParameters(
        command=sys.executable,
        args=["-m", "gitcoord", "-C", str(clone), "mcp"],
        env={**os.environ, "GITCOORD_AGENT": agent},
        cwd=str(clone),
    )


async def _session_run(
    clone: Path, agent: str, calls: list[tuple[str, dict[str, Any]]]
) -> tuple[set[str], list[Any]]:
    async with stdio_client(_params(clone, agent)) as (read, write), ClientSession(read, write) as session:
        await session.initialize()
        listed = await session.list_tools()
        results = [await session.call_tool(name, args) for name, args in calls]
    return {t.name for t in listed.tools}, results


def _text(result: Any) -> str:
    return "\n".join(getattr(block, "text", "") for block in result.content)


def _data(result: Any) -> Any:
    assert not result.is_error, _text(result)
    return result.structured_content


def test_tools_listed_and_called_over_stdio(world: World) -> None:
    a, b = world.clones[0], world.clones[1]
    with Coordinator(b, agent="beta") as beta:
        beta.claim(["backend/lms_routes.py"], message="building endpoints")
    names, results = anyio.run(
        _session_run,
        a,
        "alpha",
        [
            ("start", {"role": "content"}),
            ("claim", {"resources": ["modules/power/battery.md"], "minutes": 30, "message": "writing"}),
            ("claim", {"resources": ["backend/"]}),
            ("check_in", {"progress": 60, "message": "Creating assessment questions"}),
            ("request_help", {"to": "gamma", "message": "Need ghost cohort data", "priority": "high"}),
            (
                "log_error",
                {"type": "code_error", "message": "API endpoint returning 500", "severity": "high"},
            ),
            (
                "log_decision",
                {
                    "category": "api_design",
                    "title": "Use JWT tokens",
                    "rationale": "stateless",
                    "impact": "high",
                },
            ),
            ("status", {}),
            ("release", {"resources": ["modules/power/battery.md"], "message": "done"}),
        ],
    )
    assert names >= EXPECTED_TOOLS
    started, granted, refused, checked, helped, error, decision, status, released = results
    assert _data(started)["agent"] == "alpha"
    assert any(c["agent"] == "beta" for c in _data(started)["active_claims"])
    claim = _data(granted)["claims"][0]
    assert claim["resource"] == "modules/power/battery.md" and claim["agent"] == "alpha"
    # A refusal is a tool error naming the holder and the next step.
    assert refused.is_error
    said = _text(refused)
    assert "refused (exit 3)" in said and "beta" in said and "backend/lms_routes.py" in said
    assert "request-help --to beta" in said
    # ... and the same next step in this server's own terms, for an agent without a shell.
    assert "Through this server: the `request_help` tool, or `claim` again with `wait`" in said
    assert _data(checked)["renewed"] == [claim["id"]]
    assert _data(helped)["id"].startswith("H-") and _data(helped)["priority"] == "high"
    assert _data(error)["severity"] == "high"
    assert _data(decision)["status"] == "proposed"
    assert {a["name"] for a in _data(status)["agents"]} >= {"alpha", "beta"}
    assert [r["resource"] for r in _data(released)["released"]] == ["modules/power/battery.md"]
    # Everything landed on the shared remote, seen from another clone.
    with Coordinator(world.clones[2]) as view:
        view.snapshot(fetch=True)
        assert [(c.agent, c.resource) for c in view.snapshot().records(Claim)] == [
            ("beta", "backend/lms_routes.py")
        ]
        assert [h.from_agent for h in view.help_requests()] == ["alpha"]


def test_bad_input_is_a_tool_error_with_a_hint(world: World) -> None:
    _, results = anyio.run(
        _session_run,
        world.clones[0],
        "alpha",
        [
            ("claim", {"resources": ["../outside"]}),
            ("resolve_error", {"error_id": "nonsense", "note": "x"}),
        ],
    )
    bad_path, bad_id = results
    assert bad_path.is_error and "bad input (exit 2)" in _text(bad_path) and ".." in _text(bad_path)
    assert bad_id.is_error and "E-42" in _text(bad_id)


def test_task_unblock_summaries_and_log_tools(local_repo: Path) -> None:
    _, results = anyio.run(
        _session_run,
        local_repo,
        "alpha",
        [
            ("task_add", {"title": "Write the battery module", "resources": ["modules/power/battery.md"]}),
            ("task_block", {"task_id": "T-1", "reason": "waiting for the schema"}),
            ("task_unblock", {"task_id": "T-1"}),
            ("daily_summary", {"completed": "battery outline", "next": "questions", "day_number": 4}),
            ("summaries", {"agent": "alpha"}),
            ("log", {"agent": "alpha", "limit": 3}),
            ("log", {"since": "1 hour ago", "limit": 100}),
        ],
    )
    added, blocked, unblocked, summary, summaries, log, recent = results
    assert _data(added)["id"] == "T-1" and _data(blocked)["status"] == "blocked"
    assert _data(unblocked)["status"] == "todo"
    assert [s["completed"] for s in _data(summaries)["summaries"]] == ["battery outline"]
    assert [e["action"] for e in _data(log)["entries"]] == ["summary-write", "task-unblock", "task-block"]
    assert [e["action"] for e in _data(recent)["entries"]][-2:] == ["task-add", "init"]
    assert _data(summary)["agent"] == "alpha"


def test_lists_are_capped_and_mark_read_marks_only_what_was_shown(local_repo: Path) -> None:
    with Coordinator(local_repo, agent="beta") as beta:
        for n in range(5):
            beta.send("alpha", f"note {n}")
    _, (first, rest, claims) = anyio.run(
        _session_run,
        local_repo,
        "alpha",
        [
            ("inbox", {"limit": 2, "mark_read": True}),
            ("inbox", {}),
            ("claims", {"limit": 0}),
        ],
    )
    assert len(_data(first)["messages"]) == 2 and _data(first)["omitted"] == 3
    shown = {m["id"] for m in _data(first)["messages"]}
    left = {m["id"] for m in _data(rest)["messages"]}
    assert len(left) == 3 and not shown & left and "omitted" not in _data(rest)
    assert _data(claims) == {"claims": []}


async def _cancelled_wait_then_release(repo: Path) -> tuple[Any, Any]:
    """alpha waits for beta's claim, gives up after a second; beta then releases it."""
    async with stdio_client(_params(repo, "alpha")) as (read, write), ClientSession(read, write) as session:
        await session.initialize()
        with anyio.move_on_after(1.5) as scope:
            await session.call_tool("claim", {"resources": ["src/api.py"], "wait": 30})
        assert scope.cancelled_caught, "the claim returned while beta still held the file"
        with Coordinator(repo, agent="beta") as beta:
            beta.release(["src/api.py"])
        await anyio.sleep(4)  # long past the waiter's next attempt, had it gone on waiting
        after = await session.call_tool("claims", {})
        # The server is still there for the next request, and a wait that is not cancelled works.
        granted = await session.call_tool("claim", {"resources": ["src/api.py"], "wait": 5})
    return after, granted


def test_a_cancelled_wait_is_never_granted_afterwards(local_repo: Path) -> None:
    with Coordinator(local_repo, agent="beta") as beta:
        beta.claim(["src/api.py"])
    after, granted = anyio.run(_cancelled_wait_then_release, local_repo)
    assert _data(after)["claims"] == [], "alpha was granted the claim after it had given up"
    assert [c["agent"] for c in _data(granted)["claims"]] == ["alpha"]


def test_a_grant_that_lands_after_the_cancel_is_taken_back(local_repo: Path) -> None:
    """The attempt under way when the client cancels succeeds all the same: undo releases it."""
    from gitcoord.mcp import Tools

    tools = Tools(local_repo, "alpha")

    def work(c: Coordinator, stop: threading.Event) -> Any:
        assert stop.wait(10), "the cancellation never reached the worker"
        return [g.id for g in c.claim(["src/late.py"])]  # lands after the caller gave up

    def undo(c: Coordinator, granted: Any) -> None:
        c.release(granted, message="the claim request was cancelled")

    async def cancel_soon() -> None:
        with anyio.move_on_after(0.5):
            await tools.call_cancellable(work, undo)

    anyio.run(cancel_soon)
    deadline = time.monotonic() + 120  # a condition, waited for however slow the machine is
    while time.monotonic() < deadline:
        with Coordinator(local_repo) as view:
            actions = [e["action"] for e in view.log(agent="alpha")]
        if "release" in actions:
            break
        time.sleep(0.1)
    assert actions[:2] == ["release", "claim"], actions
    with Coordinator(local_repo) as view:
        assert view.snapshot().records(Claim) == []


def _cancel_mid_attempt(
    monkeypatch: pytest.MonkeyPatch,
    repo: Path,
    method: str,
    tool: str,
    args: dict[str, Any],
    meanwhile: Any = lambda: None,
) -> None:
    """Call the real `tool` in process and cancel it while its attempt is under way.

    The Coordinator's `method` waits for the cancellation, runs `meanwhile` (what another
    request did during the wait), then makes its attempt all the same. Returns once the
    worker is done, undo included (its Coordinator closed).
    """
    from gitcoord.mcp import build_server

    real, real_close = getattr(Coordinator, method), Coordinator.close
    attempted, finished = threading.Event(), threading.Event()

    def late(self: Coordinator, *a: Any, stop: threading.Event | None = None, **k: Any) -> Any:
        assert stop is not None and stop.wait(10), "the cancellation never reached the worker"
        meanwhile()
        try:
            return real(self, *a, **k)  # without `stop`: the attempt had begun before the cancel
        finally:
            attempted.set()

    def close(self: Coordinator) -> None:
        real_close(self)
        if attempted.is_set():
            finished.set()

    monkeypatch.setattr(Coordinator, method, late)
    monkeypatch.setattr(Coordinator, "close", close)
    server = build_server(repo, "alpha")

    async def cancel_soon() -> None:
        with anyio.move_on_after(0.5) as scope:
            await server.call_tool(tool, args)
        assert scope.cancelled_caught

    anyio.run(cancel_soon)
    assert finished.wait(30), "the worker never finished"
    monkeypatch.undo()


def test_a_cancelled_claim_keeps_what_another_request_claimed_meanwhile(
    local_repo: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """alpha's other request claims the file during the wait; the late attempt only renews it."""
    got: list[str] = []
    claim = Coordinator.claim  # the real one: the helper patches the class

    def other_request() -> None:
        with Coordinator(local_repo, agent="alpha") as alpha:
            got.extend(c.id for c in claim(alpha, ["src/api.py"]))

    _cancel_mid_attempt(
        monkeypatch, local_repo, "claim", "claim", {"resources": ["src/api.py"], "wait": 30}, other_request
    )
    with Coordinator(local_repo) as view:
        assert [(c.id, c.agent) for c in view.snapshot().records(Claim)] == [(got[0], "alpha")]


def test_a_cancelled_task_next_puts_the_task_back_as_it_was(
    local_repo: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    with Coordinator(local_repo, agent="alpha") as alpha:
        held = alpha.claim(["src/b.py"])[0].id  # alpha's before the task: taking it renews this one
        queued = alpha.add_task("Battery module", resources=["src/b.py", "src/c.py"]).id
    _cancel_mid_attempt(monkeypatch, local_repo, "next_task", "task_next", {"wait": 30})
    with Coordinator(local_repo, agent="beta") as beta:
        task = next(t for t in beta.tasks() if t.id == queued)
        assert (task.status, task.assignee, task.started_at, task.claim_ids) == ("todo", "", None, [])
        assert [(c.id, c.resource) for c in beta.snapshot().records(Claim)] == [(held, "src/b.py")]
    # A task that was assigned to alpha goes back to alpha.
    with Coordinator(local_repo, agent="alpha") as alpha:
        assigned = alpha.add_task("Assigned to alpha", resources=["src/d.py"], assign="alpha").id
    _cancel_mid_attempt(monkeypatch, local_repo, "next_task", "task_next", {})
    with Coordinator(local_repo, agent="beta") as beta:
        tasks = {t.id: t for t in beta.tasks()}
        assert (tasks[assigned].status, tasks[assigned].assignee) == ("todo", "alpha")
        # ... and the unassigned one is anyone's to take.
        assert queued in [t.id for t in beta.tasks(ready=True)]


def test_check_in_after_a_takeover_is_a_refusal_naming_the_new_holder(world: World) -> None:
    a = world.clones[0]
    with Coordinator(a, agent="alpha") as alpha:
        alpha.claim(["src/x.py"], minutes=1)
        kept = alpha.claim(["src/y.py"], minutes=1)[0].id
    # beta's clock is two hours ahead: alpha's x.py lease is dead there, so beta takes it over.
    with pytest.MonkeyPatch.context() as env, Coordinator(world.clones[1], agent="beta") as beta:
        env.setenv("GITCOORD_CLOCK_SKEW_SECONDS", "7200")
        beta.claim(["src/x.py"])
    _, (lost, listed, again) = anyio.run(
        _session_run,
        a,
        "alpha",
        [
            ("check_in", {"progress": 10, "minutes": 120}),
            ("claims", {}),
            ("check_in", {}),
        ],
    )
    assert lost.is_error
    said = _text(lost)
    assert "refused (exit 3)" in said and "src/x.py" in said and "beta" in said
    assert "claim" in said and "stop editing" in said
    # What alpha still held was renewed all the same, for the lease asked for; the news is told once.
    assert f"Renewed all the same: {kept}." in said
    y = Claim.model_validate(next(c for c in _data(listed)["claims"] if c["id"] == kept))
    assert (
        y.agent == "alpha" and y.progress == 10 and y.expires_at - y.last_check_in == timedelta(minutes=120)
    )
    assert _data(again)["lost"] == []


def _children(pid: int) -> list[int]:
    found = []
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue  # the process ended while we looked
        if int(fields[1]) == pid:
            found.append(int(stat.parent.name))
    return found


async def _many_calls(clone: Path, rounds: int) -> tuple[list[int], list[list[tuple[int, bytes]]], int]:
    """fd counts of the server after each round, its child processes then, and the calls that failed."""
    fds, children, failed = [], [], 0
    async with stdio_client(_params(clone, "alpha")) as (read, write), ClientSession(read, write) as session:
        await session.initialize()
        server = next(p for p in _children(os.getpid()) if b"mcp" in Path(f"/proc/{p}/cmdline").read_bytes())
        for i in range(rounds):
            for name, args in [
                ("start", {}),
                ("claim", {"resources": [f"src/{i}.py"]}),
                ("claims", {}),
                ("claim", {"resources": ["../outside"]}),
                ("check_in", {"resources": ["gone.py"]}),
                ("status", {}),
                ("release", {"resources": [f"src/{i}.py"]}),
                ("inbox", {}),
            ]:
                failed += (await session.call_tool(name, args)).is_error
            fds.append(len(list(Path(f"/proc/{server}/fd").iterdir())))
            children.append([(p, Path(f"/proc/{p}/cmdline").read_bytes()) for p in _children(server)])
    return fds, children, failed


@pytest.mark.skipif(not Path("/proc/self/fd").is_dir(), reason="needs Linux /proc")
def test_many_calls_leave_no_process_or_file_behind(world: World) -> None:
    fds, children, failed = anyio.run(_many_calls, world.clones[0], 25)
    assert failed == 2 * 25  # the bad path and the check-in on nothing held, every round; the server lives on
    # Between calls only the server's one kept `git cat-file --batch` runs, the same one throughout
    # (gitcoord.mcp.Tools): nothing else of git, and no reader per call piling up.
    assert children == [children[0]] * 25 and len(children[0]) == 1, children
    assert children[0][0][1].split(b"\0")[:3] == [b"git", b"cat-file", b"--batch"], children[0]
    assert max(fds) == fds[0], fds
