"""The coordination protocol: lifecycles of every record kind, refusals, races, the startup context."""

from __future__ import annotations

import json
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

from gitcoord import Coordinator, InvalidInput, Refused
from gitcoord.records import Claim, Task

from .conftest import Result, World, git, run, spawn


def _id(res: Result) -> str:
    assert res.code == 0, res.err
    return str(res.json()["id"])


def _coord_commits(repo: Path) -> int:
    return int(git(repo, "rev-list", "--count", "coord"))


# -- help requests ------------------------------------------------------------------------


def test_help_request_lifecycle_and_refusals(local_repo: Path) -> None:
    r = local_repo
    hid = _id(
        run(
            r,
            "request-help",
            "--to",
            "gamma",
            "--priority",
            "high",
            "--resource",
            "./data//ghosts/",
            "Need ghost cohort data",
            "--json",
            agent="alpha",
        )
    )
    listed = run(r, "help-requests", "list", "--open", "--json").json()
    assert [(h["id"], h["status"], h["resource"], h["from_agent"]) for h in listed] == [
        (hid, "open", "data/ghosts/", "alpha")
    ]
    own = run(r, "help-requests", "ack", hid, agent="alpha")
    assert own.code == 3 and "your own request" in own.err
    assert run(r, "help-requests", "ack", hid, agent="gamma").code == 0
    again = run(r, "help-requests", "ack", hid, agent="beta")
    assert again.code == 3 and "already acknowledged by gamma" in again.err
    done = run(
        r, "help-requests", "resolve", hid, "--note", "loaded the cohort", "--json", agent="gamma"
    ).json()
    assert (done["status"], done["resolved_by"], done["resolution_note"]) == (
        "resolved",
        "gamma",
        "loaded the cohort",
    )
    twice = run(r, "help-requests", "resolve", hid, "--note", "again", agent="gamma")
    assert twice.code == 3 and "already resolved by gamma" in twice.err
    assert run(r, "help-requests", "ack", hid, agent="beta").code == 3
    assert run(r, "help-requests", "list", "--open", "--json").json() == []


@pytest.mark.parametrize(
    ("args", "needle"),
    [
        (["help-requests", "ack", "H-999"], "there is no help request H-999"),
        (["help-requests", "ack", "E-1"], "not a valid H- id"),
        (["help-requests", "resolve", "H-999", "--note", "x"], "there is no help request"),
        (["request-help", "--to", "gamma", "x" * 4001], "limit is 4000"),
        (["request-help", "--to", "Gamma!", "help"], "not a valid recipient"),
        (["request-help", "--to", "alpha", "help"], "cannot ask yourself"),
        (["request-help", "--to", "gamma", "--priority", "asap", "help"], "asap"),
        (["request-help", "--to", "gamma", "--resource", "../x", "help"], ".."),
    ],
)
def test_help_bad_input_exit_2(local_repo: Path, args: list[str], needle: str) -> None:
    res = run(local_repo, *args, agent="alpha")
    assert res.code == 2, res.err
    assert needle in res.err


def test_help_request_reaches_any_agent_and_the_addressee_only(local_repo: Path) -> None:
    r = local_repo
    run(r, "request-help", "--to", "any", "--priority", "low", "anyone?", agent="alpha")
    run(r, "request-help", "--to", "gamma", "--priority", "urgent", "gamma please", agent="alpha")
    gamma = run(r, "start", "--json", agent="gamma").json()["help_requests"]
    beta = run(r, "start", "--json", agent="beta").json()["help_requests"]
    alpha = run(r, "start", "--json", agent="alpha").json()["help_requests"]
    assert [h["message"] for h in gamma] == ["gamma please", "anyone?"]  # urgent first
    assert [h["message"] for h in beta] == ["anyone?"]
    assert alpha == []


# -- messages -----------------------------------------------------------------------------


def test_messages_inbox_is_read_only_until_mark_read(local_repo: Path) -> None:
    r = local_repo
    m1 = _id(run(r, "send", "--to", "beta", "schema", "is", "ready", "--json", agent="alpha"))
    m2 = _id(run(r, "send", "--to", "any", "standup at noon", "--json", agent="alpha"))
    assert [m["body"] for m in run(r, "inbox", "--json", agent="beta").json()] == [
        "schema is ready",
        "standup at noon",
    ]
    assert [m["id"] for m in run(r, "inbox", "--json", agent="gamma").json()] == [m2]
    assert run(r, "inbox", "--json", agent="alpha").json() == []  # not one's own broadcast
    assert len(run(r, "inbox", "--json", agent="beta").json()) == 2  # reading did not mark
    before = _coord_commits(r)
    assert run(r, "inbox", agent="beta").code == 0
    assert _coord_commits(r) == before
    marked = run(r, "inbox", "--mark-read", m1, agent="beta")
    assert marked.code == 0 and f"marked 1 message(s) read: {m1}" in marked.out
    assert [m["id"] for m in run(r, "inbox", "--json", agent="beta").json()] == [m2]
    assert run(r, "inbox", "--mark-read", agent="beta").code == 0
    assert run(r, "inbox", "--json", agent="beta").json() == []
    assert [m["id"] for m in run(r, "inbox", "--all", "--json", agent="beta").json()] == [m1, m2]
    # gamma's copy of the broadcast is still unread: read marks are per agent.
    assert [m["id"] for m in run(r, "inbox", "--json", agent="gamma").json()] == [m2]
    reply = run(r, "send", "--to", "alpha", "--reply-to", m1, "thanks", "--json", agent="beta").json()
    assert reply["reply_to"] == m1
    foreign = run(r, "inbox", "--mark-read", m1, agent="gamma")
    assert foreign.code == 3 and "not addressed to you" in foreign.err


def test_message_refusals(local_repo: Path) -> None:
    r = local_repo
    assert run(r, "send", "--to", "beta", "--reply-to", "M-77", "hi", agent="alpha").code == 2
    long = run(r, "send", "--to", "beta", "y" * 4001, agent="alpha")
    assert long.code == 2 and "4001 characters" in long.err
    assert run(r, "send", "--to", "beta", "y" * 4000, agent="alpha").code == 0
    assert run(r, "send", "--to", "beta", "bell\x07", agent="alpha").code == 2
    assert run(r, "inbox", "--mark-read", "M-999", agent="beta").code == 2
    assert run(r, "inbox", "M-1", agent="beta").code == 2  # ids only with --mark-read
    assert run(r, "inbox").code == 2  # whose inbox? no identity


# -- tasks ----------------------------------------------------------------------------------


def test_task_queue_priority_dependencies_and_claims(local_repo: Path) -> None:
    r = local_repo
    low = _id(run(r, "task", "add", "Polish docs", "--priority", "low", "--json", agent="lead"))
    schema = _id(
        run(
            r,
            "task",
            "add",
            "Write schema",
            "--resource",
            "db/schema.sql",
            "--priority",
            "high",
            "--json",
            agent="lead",
        )
    )
    api = _id(
        run(
            r,
            "task",
            "add",
            "Build API",
            "--resource",
            "src/api/",
            "--resource",
            "src/app.py",
            "--depends-on",
            schema,
            "--priority",
            "urgent",
            "--json",
            agent="lead",
        )
    )
    assert run(r, "task", "add", "x", "--depends-on", "T-999", agent="lead").code == 2

    ready = [t["id"] for t in run(r, "task", "list", "--ready", "--json", agent="alpha").json()]
    assert ready == [schema, low]  # api waits on schema
    took = run(r, "task", "next", "--json", agent="alpha").json()
    assert (took["id"], took["status"], took["assignee"]) == (schema, "in_progress", "alpha")
    claims = run(r, "claims", "--json").json()
    assert [(c["id"], c["agent"], c["resource"]) for c in claims] == [
        (took["claim_ids"][0], "alpha", "db/schema.sql")
    ]
    assert run(r, "task", "next", "--json", agent="beta").json()["id"] == low
    nothing = run(r, "task", "next", agent="gamma")
    assert nothing.code == 3 and f"{api} (needs {schema})" in nothing.err

    other = run(r, "task", "done", schema, agent="beta")
    assert other.code == 3 and f"{schema} is alpha's task" in other.err
    done = run(r, "task", "done", schema, "-m", "schema merged", "--json", agent="alpha").json()
    assert done["status"] == "done" and done["note"] == "schema merged" and done["claim_ids"] == []
    assert run(r, "claims", "--json").json() == []  # its claims were released
    assert run(r, "task", "done", schema, agent="alpha").code == 3  # already done
    assert run(r, "task", "next", "--json", agent="gamma").json()["id"] == api
    assert {c["resource"] for c in run(r, "claims", "--json").json()} == {"src/api/", "src/app.py"}


def test_task_next_prefers_assigned_and_skips_held_resources(local_repo: Path) -> None:
    r = local_repo
    urgent = _id(
        run(
            r,
            "task",
            "add",
            "Hot file",
            "--resource",
            "hot.py",
            "--priority",
            "urgent",
            "--json",
            agent="lead",
        )
    )
    mine = _id(
        run(r, "task", "add", "For beta", "--assign", "beta", "--priority", "low", "--json", agent="lead")
    )
    free = _id(run(r, "task", "add", "Cold file", "--resource", "cold.py", "--json", agent="lead"))
    assert run(r, "task", "list", "--mine", "--json", agent="beta").json()[0]["id"] == mine
    assert run(r, "task", "next", "--json", agent="beta").json()["id"] == mine  # assigned to me first
    assert run(r, "claim", "hot.py", agent="gamma").code == 0
    # hot.py is gamma's: alpha gets the next task instead, and nothing is claimed for the skipped one.
    took = run(r, "task", "next", "--json", agent="alpha").json()
    assert took["id"] == free
    refused = run(r, "task", "next", agent="alpha")
    assert refused.code == 3 and f"{urgent} (" in refused.err and "gamma's exclusive claim" in refused.err
    # Someone else's assigned task is never handed out.
    assert run(r, "task", "add", "Beta's too", "--assign", "beta", agent="lead").code == 0
    assert run(r, "task", "next", agent="alpha").code == 3


def test_task_block_releases_and_unblock_requeues(local_repo: Path) -> None:
    r = local_repo
    tid = _id(run(r, "task", "add", "Migrate", "--resource", "db:migrations", "--json", agent="lead"))
    assert run(r, "task", "next", agent="alpha").code == 0
    assert run(r, "task", "block", tid, "--reason", "needs the schema", agent="beta").code == 3
    assert run(r, "task", "block", tid, agent="alpha").code == 2  # --reason is required
    blocked = run(r, "task", "block", tid, "--reason", "needs the schema", "--json", agent="alpha").json()
    assert (blocked["status"], blocked["block_reason"], blocked["claim_ids"]) == (
        "blocked",
        "needs the schema",
        [],
    )
    assert run(r, "claims", "--json").json() == []
    assert run(r, "task", "block", tid, "--reason", "again", agent="alpha").code == 3
    finish = run(r, "task", "done", tid, agent="alpha")
    assert finish.code == 3 and "unblock" in finish.err  # blocked goes back to the queue, not to done
    assert run(r, "task", "next", agent="alpha").code == 3
    assert run(r, "task", "unblock", tid, agent="alpha").code == 0
    assert run(r, "task", "unblock", tid, agent="alpha").code == 3
    assert run(r, "task", "next", "--json", agent="alpha").json()["id"] == tid
    assert run(r, "task", "done", "T-999", agent="alpha").code == 2


def test_context_lists_my_tasks_then_ready_ones_with_what_they_wait_on(local_repo: Path) -> None:
    r = local_repo
    first = _id(run(r, "task", "add", "Schema", "--json", agent="lead"))
    second = _id(
        run(r, "task", "add", "API", "--assign", "alpha", "--depends-on", first, "--json", agent="lead")
    )
    run(r, "task", "add", "Beta's", "--assign", "beta", agent="lead")
    ctx = run(r, "start", "--json", agent="alpha").json()
    assert [(t["id"], t.get("waiting_on")) for t in ctx["my_tasks"]] == [(second, [first]), (first, None)]
    text = run(r, "start", agent="alpha").out
    assert f"{second} [normal] API (yours, waits on {first})" in text
    assert f"{first} [normal] Schema (ready, unassigned) -> gitcoord task next" in text


def test_two_processes_task_next_never_share_a_task(world: World) -> None:
    """Two agents in two clones run `task next` at the same moment, over a few rounds."""
    a, b = world.clones[0], world.clones[1]
    for rounds in range(3):
        for i in range(2):
            assert (
                run(
                    a, "task", "add", f"job {rounds}.{i}", "--resource", f"jobs/{rounds}-{i}.py", agent="lead"
                ).code
                == 0
            )
        with ThreadPoolExecutor(2) as pool:
            futures = {
                agent: pool.submit(spawn, clone, "task", "next", "--json", agent=agent)
                for agent, clone in (("alpha", a), ("beta", b))
            }
            results = {agent: future.result() for agent, future in futures.items()}
        assert all(r.code == 0 for r in results.values()), {k: r.err for k, r in results.items()}
        got = {agent: r.json()["id"] for agent, r in results.items()}
        assert got["alpha"] != got["beta"]
        with Coordinator(a) as c:
            snap = c.snapshot(fetch=True)
            tasks = {t.id: t for t in snap.records(Task)}
            claims = snap.records(Claim)
        for agent, tid in got.items():
            assert (tasks[tid].assignee, tasks[tid].status) == (agent, "in_progress")
            assert {c.agent for c in claims if c.id in tasks[tid].claim_ids} == {agent}
        for agent, clone in (("alpha", a), ("beta", b)):
            assert run(clone, "task", "done", got[agent], agent=agent).code == 0


def test_two_processes_one_task_exactly_one_wins(world: World) -> None:
    a, b = world.clones[0], world.clones[1]
    for rounds in range(3):
        tid = _id(
            run(
                a,
                "task",
                "add",
                f"only one {rounds}",
                "--resource",
                f"one/{rounds}.py",
                "--json",
                agent="lead",
            )
        )
        with ThreadPoolExecutor(2) as pool:
            futures = [
                pool.submit(spawn, clone, "task", "next", "--json", agent=agent)
                for agent, clone in (("alpha", a), ("beta", b))
            ]
            results = [f.result() for f in futures]
        assert sorted(r.code for r in results) == [0, 3], [r.err for r in results]
        winner = next(r for r in results if r.code == 0).json()
        assert winner["id"] == tid
        with Coordinator(b) as c:
            snap = c.snapshot(fetch=True)
            claims = snap.records(Claim)
        assert [c.agent for c in claims if c.resource == f"one/{rounds}.py"] == [winner["assignee"]]
        assert (
            run(a if winner["assignee"] == "alpha" else b, "task", "done", tid, agent=winner["assignee"]).code
            == 0
        )


def test_task_next_lost_race_is_judged_again(local_repo: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Force the collision: beta lands its `task next` between alpha's read and alpha's swap."""
    tid = _id(
        run(local_repo, "task", "add", "the only task", "--resource", "only.py", "--json", agent="lead")
    )
    with Coordinator(local_repo, agent="alpha") as alpha, Coordinator(local_repo, agent="beta") as beta:
        real_swap = alpha.store._swap
        taken: list[Task] = []

        def swap_after_beta(old: str | None, new: str) -> bool:
            if not taken:
                taken.append(beta.next_task())
            return real_swap(old, new)

        monkeypatch.setattr(alpha.store, "_swap", swap_after_beta)
        with pytest.raises(Refused, match="no task is ready for alpha"):
            alpha.next_task()
        assert taken[0].id == tid and taken[0].assignee == "beta"
        snap = alpha.snapshot()
        assert [(c.agent, c.resource) for c in snap.records(Claim)] == [("beta", "only.py")]
        assert snap.record(Task, tid).assignee == "beta"  # type: ignore[union-attr]


def test_concurrent_writers_lose_nothing(world: World) -> None:
    """Messages, errors and help requests from three processes at once: every one lands."""
    jobs = [
        ("alpha", ["send", "--to", "any", "from alpha"]),
        ("beta", ["log-error", "--type", "timeout", "--severity", "low", "slow CI"]),
        ("gamma", ["request-help", "--to", "alpha", "review please"]),
    ]
    with ThreadPoolExecutor(3) as pool:
        futures = [
            pool.submit(spawn, world.clones[i], *args, agent=agent) for i, (agent, args) in enumerate(jobs)
        ]
        assert all(f.result().code == 0 for f in futures), [f.result().err for f in futures]
    status = run(world.clones[0], "status", "--json").json()
    assert [e["message"] for e in status["errors"]] == ["slow CI"]
    assert [h["message"] for h in status["help_requests"]] == ["review please"]
    assert [m["body"] for m in run(world.clones[0], "inbox", "--json", agent="beta").json()] == ["from alpha"]


# -- errors ---------------------------------------------------------------------------------


def test_error_lifecycle_trace_and_filters(local_repo: Path, tmp_path: Path) -> None:
    r = local_repo
    trace = tmp_path / "trace.txt"
    trace.write_text(
        "Traceback (most recent call last):\r\n  File \"x.py\"\r\n\x1b[31mKeyError\x1b[0m: 'k'\n"
    )
    eid = _id(
        run(
            r,
            "log-error",
            "--type",
            "code_error",
            "--severity",
            "high",
            "--resource",
            "src/api.py",
            "--trace-file",
            str(trace),
            "API",
            "endpoint",
            "returning",
            "500",
            "--json",
            agent="beta",
        )
    )
    run(r, "log-error", "--type", "timeout", "--severity", "low", "slow", agent="beta")
    run(r, "log-error", "--type", "conflict", "--severity", "critical", "lost claim", agent="alpha")
    stored = run(r, "errors", "list", "--severity", "high", "--json").json()
    assert [(e["id"], e["message"], e["resource"]) for e in stored] == [
        (eid, "API endpoint returning 500", "src/api.py")
    ]
    assert stored[0]["trace"] == "Traceback (most recent call last):\n  File \"x.py\"\nKeyError: 'k'\n"
    assert [e["severity"] for e in run(r, "errors", "list", "--json").json()] == ["critical", "high", "low"]
    resolved = run(r, "errors", "resolve", eid, "--note", "fixed the handler", "--json", agent="alpha").json()
    assert (resolved["status"], resolved["resolved_by"]) == ("resolved", "alpha")
    again = run(r, "errors", "resolve", eid, "--note", "again", agent="alpha")
    assert again.code == 3 and "already resolved by alpha" in again.err
    assert eid not in [e["id"] for e in run(r, "errors", "list", "--open", "--json").json()]
    assert run(r, "errors", "resolve", "E-999", "--note", "x").code == 2
    assert run(r, "errors", "resolve", eid).code == 2  # --note is required


def test_error_limits(local_repo: Path, tmp_path: Path) -> None:
    r = local_repo
    big = tmp_path / "big.txt"
    big.write_bytes(b"x" * (64 * 1024 + 1))
    res = run(
        r, "log-error", "--type", "other", "--severity", "low", "--trace-file", str(big), "m", agent="a"
    )
    assert res.code == 2 and "64 KiB" in res.err
    ok = tmp_path / "ok.txt"
    ok.write_bytes(b"y" * (64 * 1024))
    assert (
        run(
            r, "log-error", "--type", "other", "--severity", "low", "--trace-file", str(ok), "m", agent="a"
        ).code
        == 0
    )
    assert run(r, "log-error", "--type", "oops", "--severity", "low", "m", agent="a").code == 2
    assert run(r, "log-error", "--type", "other", "--severity", "low", "z" * 4001, agent="a").code == 2
    assert (
        run(
            r,
            "log-error",
            "--type",
            "other",
            "--severity",
            "low",
            "--trace-file",
            str(tmp_path / "none"),
            "m",
            agent="a",
        ).code
        == 2
    )
    with Coordinator(r, agent="a") as c, pytest.raises(InvalidInput, match="64 KiB"):
        c.log_error("other", "m", severity="low", trace="é" * (33 * 1024))  # bytes, not characters


# -- decisions ------------------------------------------------------------------------------


def test_decision_agent_cannot_approve_human_can_proposer_implements(world: World) -> None:
    a, human_clone = world.clones[0], world.clones[2]
    did = _id(
        run(
            a,
            "log-decision",
            "--category",
            "api_design",
            "--impact",
            "high",
            "--rationale",
            "Better for SPA, stateless API",
            "--alternative",
            "sessions",
            "Use JWT tokens",
            "--json",
            agent="beta",
        )
    )
    early = run(a, "decisions", "implement", did, agent="beta")
    assert early.code == 3 and "needs a human's approval first" in early.err
    for agent in ("beta", "alpha"):
        refused = run(a, "decisions", "approve", did, agent=agent)
        assert refused.code == 3 and "human act" in refused.err
    with Coordinator(a, agent="alpha") as c, pytest.raises(Refused):
        c.approve_decision(did, reviewer="alpha")  # an agent cannot pose as a reviewer either
    assert run(a, "decisions", "list", "--status", "proposed", "--json").json()[0]["id"] == did
    approved = run(human_clone, "decisions", "approve", did, "--note", "go ahead", "--json")
    assert approved.code == 0, approved.err
    assert approved.json()["reviewed_by"] == "human:human@example.com"
    assert run(human_clone, "decisions", "reject", did).code == 3  # already approved
    done = run(a, "decisions", "implement", did, "--json", agent="beta").json()
    assert done["status"] == "implemented" and done["implemented_at"]
    assert run(a, "decisions", "implement", did, agent="beta").code == 3
    body = git(world.remote, "log", "-3", "--format=%B", "coord")
    assert "Coord-Agent: human:human@example.com\nCoord-Action: decision-approve" in body


def test_decision_reject_reviewers_and_notion_reviewer(local_repo: Path) -> None:
    r = local_repo
    d1 = _id(
        run(
            r,
            "log-decision",
            "--category",
            "data",
            "--impact",
            "low",
            "--rationale",
            "r",
            "Use CSV",
            "--json",
            agent="alpha",
        )
    )
    d2 = _id(
        run(
            r,
            "log-decision",
            "--category",
            "data",
            "--impact",
            "medium",
            "--rationale",
            "r",
            "Use SQL",
            "--json",
            agent="alpha",
        )
    )
    rejected = run(r, "decisions", "reject", d1, "--note", "too loose", "--json").json()
    assert rejected["status"] == "rejected" and rejected["review_note"] == "too loose"
    assert run(r, "decisions", "implement", d1, agent="alpha").code == 3
    assert run(r, "decisions", "approve", d1).code == 3
    assert run(r, "decisions", "approve", "D-999").code == 2
    (r / ".coord" / "config.toml").write_text('[review]\nreviewers = ["liz@example.com"]\n')
    git(r, "add", ".coord/config.toml")  # reviewers count only once committed
    git(r, "commit", "-q", "-m", "reviewers")
    outsider = run(r, "decisions", "approve", d2)
    assert outsider.code == 3 and "liz@example.com" in outsider.err
    # An agent cannot name a reviewer; the Notion sync (no agent identity) applies a Notion user's review.
    with Coordinator(r, agent="alpha") as c, pytest.raises(Refused):
        c.approve_decision(d2, note="from Notion", reviewer="notion:liz@example.com")
    with Coordinator(r) as c:
        done = c.review_from_notion(d2, "approved", "notion:liz@example.com", note="from Notion")
    assert (done.status, done.reviewed_by) == ("approved", "notion:liz@example.com")
    assert (
        run(
            r, "log-decision", "--category", "c", "--impact", "huge", "--rationale", "r", "t", agent="alpha"
        ).code
        == 2
    )


def test_reviewed_decisions_show_once_in_the_proposers_next_session(local_repo: Path) -> None:
    r = local_repo
    run(r, "start", "--json", agent="alpha")
    did = _id(
        run(
            r,
            "log-decision",
            "--category",
            "c",
            "--impact",
            "high",
            "--rationale",
            "r",
            "Pick A",
            "--json",
            agent="alpha",
        )
    )
    person = r.parent / "person"  # this worktree is alpha's now: a person reviews from their own
    git(r, "worktree", "add", "-q", "--detach", str(person))
    with Coordinator(person) as c:
        c.approve_decision(did, note="fine")
    # Timestamps have one-second resolution: later sessions run on a clock a minute ahead.
    first = run(r, "start", "--json", agent="alpha", env={"GITCOORD_CLOCK_SKEW_SECONDS": "60"}).json()
    assert [(d["id"], d["status"], d["review_note"]) for d in first["decisions"]] == [
        (did, "approved", "fine")
    ]
    later = run(r, "start", "--json", agent="alpha", env={"GITCOORD_CLOCK_SKEW_SECONDS": "120"}).json()
    assert later["decisions"] == []


# -- summaries ------------------------------------------------------------------------------


def test_daily_summary_one_per_agent_per_day(local_repo: Path) -> None:
    r = local_repo
    first = run(
        r,
        "daily-summary",
        "--day",
        "4",
        "--completed",
        "battery module",
        "--next",
        "solar",
        "--metric",
        "modules=1",
        agent="alpha",
    )
    assert first.code == 0, first.err
    second = run(
        r,
        "daily-summary",
        "--day",
        "4",
        "--completed",
        "battery and solar",
        "--next",
        "wind",
        "--blockers",
        "None",
        "--metric",
        "modules=2",
        "--metric",
        "coverage=81%",
        "--json",
        agent="alpha",
    )
    assert second.code == 0
    run(r, "daily-summary", "--completed", "api", "--next", "tests", agent="beta")
    mine = run(r, "summaries", "list", "--agent", "alpha", "--json").json()
    assert len(mine) == 1
    assert (mine[0]["completed"], mine[0]["metrics"], mine[0]["day_number"]) == (
        "battery and solar",
        {"modules": "2", "coverage": "81%"},
        4,
    )
    assert sorted(s["agent"] for s in run(r, "summaries", "list", "--json").json()) == ["alpha", "beta"]
    assert "alpha: summary-write " in git(r, "log", "-2", "--format=%s", "coord")
    assert git(r, "log", "--format=%s", "coord").count("(replaced)") == 1
    assert (
        run(r, "daily-summary", "--completed", "x", "--next", "y", "--metric", "novalue", agent="a").code == 2
    )
    assert run(r, "daily-summary", "--completed", "x", agent="a").code == 2  # --next is required


# -- audit trail and overview ---------------------------------------------------------------


def test_every_change_is_one_commit_with_trailers(local_repo: Path) -> None:
    r = local_repo
    steps = [
        ("alpha", ["request-help", "--to", "beta", "help"], "help-request"),
        ("beta", ["help-requests", "ack", "H-1"], "help-ack"),
        ("alpha", ["send", "--to", "beta", "hi"], "message-send"),
        ("alpha", ["task", "add", "t", "--resource", "t.py"], "task-add"),
        ("beta", ["task", "next"], "task-take"),
        ("beta", ["log-error", "--type", "other", "--severity", "low", "e"], "error-log"),
        (
            "beta",
            ["log-decision", "--category", "c", "--impact", "low", "--rationale", "r", "d"],
            "decision-propose",
        ),
        ("beta", ["daily-summary", "--completed", "c", "--next", "n"], "summary-write"),
    ]
    for agent, args, action in steps:
        before = _coord_commits(r)
        res = run(r, *args, agent=agent)
        assert res.code == 0, res.err
        assert _coord_commits(r) == before + 1
        body = git(r, "log", "-1", "--format=%B", "coord")
        assert body.startswith(f"{agent}: {action} ")
        assert f"Coord-Agent: {agent}\nCoord-Action: {action}\nCoord-Rev: {before}" in body
        assert "Coord-Records: " in body
    assert [e["action"] for e in run(r, "log", "--agent", "beta", "--json").json()][:2] == [
        "summary-write",
        "decision-propose",
    ]


def test_status_lists_open_items_by_urgency(local_repo: Path) -> None:
    r = local_repo
    run(r, "request-help", "--to", "any", "--priority", "low", "low one", agent="alpha")
    run(r, "request-help", "--to", "any", "--priority", "urgent", "urgent one", agent="alpha")
    run(r, "log-error", "--type", "other", "--severity", "medium", "meh", agent="alpha")
    run(r, "log-error", "--type", "other", "--severity", "critical", "bad", agent="alpha")
    run(r, "log-decision", "--category", "c", "--impact", "low", "--rationale", "r", "small", agent="alpha")
    run(r, "task", "add", "queued", agent="alpha")
    report = run(r, "status", "--json").json()
    assert [h["message"] for h in report["help_requests"]] == ["urgent one", "low one"]
    assert [e["severity"] for e in report["errors"]] == ["critical", "medium"]
    assert "trace" not in report["errors"][0]
    assert [d["title"] for d in report["decisions"]] == ["small"]
    assert [t["title"] for t in report["tasks"]] == ["queued"]
    text = run(r, "status")
    assert text.code == 0 and "open help requests:" in text.out and "urgent one" in text.out


# -- the startup context --------------------------------------------------------------------


def _busy_team(repo: Path) -> None:
    """10 agents, 50 claims, 30 open items addressed to alpha or to everyone."""
    words = "the cohort loader times out when the ghost data set is larger than the cache; " * 3
    for i in range(10):
        with Coordinator(repo, agent=f"agent-{i:02d}") as c:
            c.claim(
                [f"src/team{i}/module{j}/very/deep/path/file_{j}.py" for j in range(5)],
                message=f"working on team {i}: {words}",
            )
    with Coordinator(repo, agent="agent-01") as c:
        for i in range(8):
            c.request_help(
                "alpha" if i % 2 else "any",
                f"help {i}: {words}",
                priority=("low", "normal", "high", "urgent")[i % 4],
                resource=f"src/team1/module{i % 5}/",
            )
        for i in range(8):
            c.send("alpha" if i % 2 else "any", f"message {i}: {words}")
        for i in range(4):
            c.log_error(
                "code_error",
                f"error {i}: {words}",
                severity="critical" if i == 3 else "high",
                trace="Traceback\n" * 200,
            )
        for i in range(6):
            c.add_task(
                f"task {i}: {words}",
                resources=[f"src/tasks/t{i}.py"],
                assign="alpha" if i < 3 else "",
                priority="urgent" if i == 5 else "normal",
            )
    with Coordinator(repo, agent="alpha") as c:
        ids = [c.log_decision("design", f"decision {i}: {words}", words, impact="high").id for i in range(4)]
    with Coordinator(repo) as human:
        for did in ids:
            human.approve_decision(did, note=words)


def test_start_json_for_a_busy_team_fits_in_8kb_most_urgent_first(local_repo: Path) -> None:
    _busy_team(local_repo)
    res = run(local_repo, "start", "--json", agent="alpha")
    assert res.code == 0, res.err
    assert len(res.out.encode()) < 8 * 1024, len(res.out.encode())
    ctx = res.json()
    for key in (
        "agent",
        "session_id",
        "messages",
        "active_claims",
        "help_requests",
        "my_tasks",
        "decisions",
        "errors",
    ):
        assert key in ctx
    assert list(ctx)[4:7] == ["lost_claims", "help_requests", "messages"]  # urgent sections first
    assert ctx["help_requests"][0]["priority"] == "urgent"
    priorities = [h["priority"] for h in ctx["help_requests"]]
    assert priorities == sorted(priorities, key=["urgent", "high", "normal", "low"].index)
    assert ctx["errors"][0]["severity"] == "critical"
    assert ctx["my_tasks"][0]["assignee"] == "alpha"
    assert ctx["omitted"]["active_claims"] >= 30  # capped, and it says how many were left out
    total = sum(
        len(ctx[k]) + ctx["omitted"].get(k, 0) for k in ("help_requests", "messages", "active_claims")
    )
    assert total == 8 + 8 + 50
    assert all(
        ctx[k] for k in ("help_requests", "messages", "my_tasks", "decisions", "errors", "active_claims")
    )
    assert all(len(m["body"]) <= 160 for m in ctx["messages"])
    text = run(local_repo, "start", agent="alpha").out
    assert len(text.encode()) < 8 * 1024
    lines = text.splitlines()
    assert lines[1].startswith("Help requests for you") and "help-requests ack H-" in lines[2]
    assert "more: gitcoord claims" in text


def test_context_budget_holds_for_extreme_texts(local_repo: Path) -> None:
    """Long names, long resources, many items: the budget still holds (most urgent kept)."""
    long_name = "a" * 40
    with Coordinator(local_repo, agent=long_name) as c:
        c.claim([f"{'d' * 200}/{i}/{'f' * 700}.py" for i in range(30)])
        for i in range(40):
            c.request_help("any", "h" * 4000, priority="urgent", resource=f"{'r' * 900}/{i}")
    ctx = json.loads(run(local_repo, "start", "--json", agent="alpha").out)
    size = len(run(local_repo, "start", "--json", agent="alpha").out.encode())
    assert size < 8 * 1024
    assert ctx["help_requests"] and ctx["omitted"]["help_requests"] >= 32


def test_text_that_would_display_differently_from_what_is_stored_is_refused(local_repo: Path) -> None:
    r = local_repo
    reversed_ = run(r, "send", "--to", "any", "approved \u202edesrever", agent="alpha")
    assert reversed_.code == 2 and "bidirectional control" in reversed_.err
    escape = run(r, "log-error", "--type", "other", "--severity", "low", "colour \x9b31m", agent="alpha")
    assert escape.code == 2 and "control character" in escape.err
    # Right-to-left prose needs no controls, and its marks are fine: stored exactly.
    hebrew = "\u05e9\u05dc\u05d5\u05dd \u200fok"
    sent = run(r, "send", "--to", "any", hebrew, "--json", agent="alpha")
    assert sent.code == 0 and sent.json()["body"] == hebrew
