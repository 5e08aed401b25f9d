"""Notion setup and sync through the real notion-client, over HTTP, against the local stand-in."""

from __future__ import annotations

import io
import os
import socket
import threading
import tomllib
from collections.abc import Iterator
from contextlib import redirect_stderr, redirect_stdout
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from notion_client import Client
from notion_client.errors import APIResponseError

from gitcoord import Coordinator, Unavailable
from gitcoord.cli import main
from gitcoord.notion import body
from gitcoord.notion import sync as notion_sync
from gitcoord.notion.api import MAX_ATTEMPTS, Api, RateLimiter
from gitcoord.notion.schema import CUT_MARKER, DATABASES, TEXT_ITEM, TEXT_ITEMS, chunk_text, split_text
from gitcoord.records import Claim, Decision, ErrorRecord, HelpRequest
from gitcoord.store import Txn

from .conftest import Result, git, run
from .fake_notion import FakeNotion
from .test_dashboard import _seed


@pytest.fixture
def fake() -> Iterator[FakeNotion]:
    server = FakeNotion().start()
    yield server
    server.stop()


@pytest.fixture
def repo(local_repo: Path, fake: FakeNotion) -> Path:
    _seed(local_repo)
    return local_repo


def env(fake: FakeNotion) -> dict[str, str]:
    return {"NOTION_TOKEN": fake.token, "NOTION_BASE_URL": fake.base_url, "GITCOORD_NOTION_RATE": "1000"}


def notion(repo: Path, fake: FakeNotion, *args: str) -> Result:
    return run(repo, "notion", *args, env=env(fake))


def set_up(repo: Path, fake: FakeNotion) -> dict[str, str]:
    res = notion(repo, fake, "setup", "--parent", fake.add_parent_page(), "--json")
    assert res.code == 0, res.err
    return dict(res.json()["data_sources"])


def sync(repo: Path, fake: FakeNotion, *extra: str) -> dict[str, object]:
    res = notion(repo, fake, "sync", "--json", *extra)
    assert res.code == 0, res.err
    return dict(res.json())


def writes(fake: FakeNotion) -> int:
    return fake.count("POST", "/v1/pages") + fake.count("PATCH", "/v1/pages/.*")


def ids_of(fake: FakeNotion, source: str) -> list[str]:
    return sorted(
        "".join(t["plain_text"] for t in p["properties"]["Record ID"]["rich_text"]) for p in fake.rows(source)
    )


def page_of(fake: FakeNotion, source: str, rid: str) -> dict[str, object]:
    found = [
        p for p in fake.rows(source) if p["properties"]["Record ID"]["rich_text"][0]["plain_text"] == rid
    ]
    assert len(found) == 1
    return found[0]


def test_setup_creates_databases_and_is_idempotent(repo: Path, fake: FakeNotion) -> None:
    config = repo / ".coord" / "config.toml"
    before = tomllib.loads(config.read_text())
    sources = set_up(repo, fake)
    assert set(sources) == set(DATABASES) and len(fake.databases) == len(DATABASES)
    saved = tomllib.loads(config.read_text())
    assert saved["notion"]["data_sources"] == sources
    assert {k: v for k, v in saved.items() if k != "notion"} == before  # other tables kept
    for kind, source in sources.items():
        props = fake.data_sources[source]["properties"]
        assert {"Name", "Record ID", "Rev"} <= set(props), kind
        assert props["Name"]["type"] == "title" and props["Rev"]["type"] == "number"
    # A property a person deleted comes back; nothing is created twice.
    del fake.data_sources[sources["decisions"]]["properties"]["Review note"]
    again = notion(repo, fake, "setup", "--parent", "ignored-now", "--json")
    assert again.code == 0, again.err
    assert again.json()["created"] == [] and again.json()["extended"] == ["decisions"]
    assert len(fake.databases) == len(DATABASES)
    assert "Review note" in fake.data_sources[sources["decisions"]]["properties"]


def test_sync_upserts_once_and_resync_writes_nothing(repo: Path, fake: FakeNotion) -> None:
    sources = set_up(repo, fake)
    first = sync(repo, fake)
    assert first["created"] and first["pulled_back"] == 0
    with Coordinator(repo) as coord:
        snap = coord.snapshot()
        history = list(coord.store.history(own=False))  # Activity lists the shared ref's writes
        decisions = [d.id for d in snap.records(Decision)]
        errors = [e.id for e in snap.records(ErrorRecord)]
    assert ids_of(fake, sources["decisions"]) == sorted(decisions)
    assert ids_of(fake, sources["errors"]) == sorted(errors)
    assert ids_of(fake, sources["agents"]) == ["alpha", "beta", "gamma"]
    assert len(fake.rows(sources["activity"])) == len(history) == first["activity_appended"]
    stale = page_of(fake, sources["agents"], "gamma")["properties"]
    assert stale["Stale"]["checkbox"] is True  # type: ignore[index]
    assert stale["Status"]["select"]["name"] == "stale"  # type: ignore[index]
    # The released claim stays as a row marked released once its record is gone.
    before = writes(fake)
    second = sync(repo, fake)
    assert writes(fake) == before, "an unchanged resync must not write"
    assert second["created"] == second["updated"] == second["activity_appended"] == 0
    # A new commit: one activity row more, the changed record updated, nothing else written.
    assert run(repo, "release", "src/api.py", agent="alpha").code == 0
    third = sync(repo, fake)
    assert third["activity_appended"] == 1 and third["created"] == 0
    claims = {
        p["properties"]["Resource"]["rich_text"][0]["plain_text"]: p["properties"]["State"]["select"]["name"]
        for p in fake.rows(sources["claims"])
    }
    assert claims["src/api.py"] == "released"


def test_dry_run_writes_nothing(repo: Path, fake: FakeNotion) -> None:
    set_up(repo, fake)
    counts = sync(repo, fake, "--dry-run")
    assert counts["created"] and writes(fake) == 0


def test_human_review_comes_back_as_a_coord_commit(repo: Path, fake: FakeNotion) -> None:
    sources = set_up(repo, fake)
    sync(repo, fake)
    lead = fake.add_user("Lead Person")
    with Coordinator(repo) as coord:
        proposed = next(d for d in coord.snapshot().records(Decision) if d.status == "proposed")
        approved = next(d for d in coord.snapshot().records(Decision) if d.status == "approved")
        help_id = next(h.id for h in coord.snapshot().records(HelpRequest) if h.status == "open")
    page = page_of(fake, sources["decisions"], proposed.id)
    fake.human_edit(
        str(page["id"]),
        lead,
        {
            "Status": {"select": {"name": "approved"}},
            "Review note": {"rich_text": [{"text": {"content": "go ahead"}}]},
            "Rationale": {"rich_text": [{"text": {"content": "human scribble"}}]},
        },
    )
    # An invalid transition: an already approved decision rejected in Notion is reported, not applied.
    other = page_of(fake, sources["decisions"], approved.id)
    fake.human_edit(str(other["id"]), lead, {"Status": {"select": {"name": "rejected"}}})
    help_page = page_of(fake, sources["help"], help_id)
    fake.human_edit(
        str(help_page["id"]),
        lead,
        {
            "Status": {"select": {"name": "resolved"}},
            "Resolution": {"rich_text": [{"text": {"content": "done it"}}]},
        },
    )
    counts = sync(repo, fake)
    assert counts["pulled_back"] == 2
    with Coordinator(repo) as coord:
        snap = coord.snapshot()
        decision = snap.record(Decision, proposed.id)
        helped = snap.record(HelpRequest, help_id)
        still = snap.record(Decision, approved.id)
        agents = {e.get("agent") for e in coord.log(limit=3)}
    assert decision is not None and decision.status == "approved"
    assert decision.reviewed_by == "notion:lead-person" and decision.review_note == "go ahead"
    assert decision.rationale == proposed.rationale  # agent-owned: never taken from Notion
    assert helped is not None and helped.status == "resolved" and helped.resolution_note == "done it"
    assert still is not None and still.status == "approved"
    assert "notion:lead-person" in agents
    # Notion shows git's truth again after the sync, the scribble gone.
    props = page_of(fake, sources["decisions"], proposed.id)["properties"]
    assert props["Rationale"]["rich_text"][0]["plain_text"] == proposed.rationale  # type: ignore[index]
    assert (
        page_of(fake, sources["decisions"], approved.id)["properties"]["Status"]["select"]["name"]
        == "approved"
    )  # type: ignore[index]


def test_long_text_is_split_or_cut_within_limits(repo: Path, fake: FakeNotion) -> None:
    sources = set_up(repo, fake)
    long = "x" * 3900
    with Coordinator(repo, agent="alpha") as coord:
        coord.log_error("other", long, severity="low")
    sync(repo, fake)  # the stand-in refuses any item over 2,000 characters
    rows = [
        p
        for p in fake.rows(sources["errors"])
        if "".join(t["plain_text"] for t in p["properties"]["Message"]["rich_text"]) == long
    ]
    assert len(rows) == 1 and len(rows[0]["properties"]["Message"]["rich_text"]) == 2
    huge = split_text("y" * 300_000)
    assert len(huge) == 100 and all(len(i["text"]["content"]) <= 2000 for i in huge)
    assert "".join(i["text"]["content"] for i in huge).endswith(CUT_MARKER)


def test_faulty_notion_converges_to_one_page_per_record(repo: Path, fake: FakeNotion) -> None:
    sources = set_up(repo, fake)
    fake.fault_rate = 0.15
    finished = False
    for _ in range(15):
        res = notion(repo, fake, "sync", "--json")
        if res.code == 0:
            finished = True
            break
        assert res.code == 4, res.err  # retries exhausted: unavailable, and the next run goes on
    assert finished
    faults = [s for _, _, s in fake.requests if s in (429, 500, 503)]
    assert len(faults) >= 5, "the fault run must actually have hit faults"
    fake.fault_rate = 0.0
    sync(repo, fake)  # a clean pass trashes any duplicate a lost answer left behind
    with Coordinator(repo) as coord:
        history = list(coord.store.history(own=False))  # Activity lists the shared ref's writes
        decisions = [d.id for d in coord.snapshot().records(Decision)]
    for kind, source in sources.items():
        rids = ids_of(fake, source)
        assert len(rids) == len(set(rids)), kind
    assert ids_of(fake, sources["decisions"]) == sorted(decisions)
    assert sorted(ids_of(fake, sources["activity"])) == sorted(e["commit"][:12] for e in history)
    before = writes(fake)
    sync(repo, fake)
    assert writes(fake) == before


def test_token_required_and_unconfigured_sync_refused(repo: Path, fake: FakeNotion) -> None:
    res = run(repo, "notion", "sync", env={"NOTION_BASE_URL": fake.base_url})
    assert res.code == 2 and "NOTION_TOKEN" in res.err
    res = notion(repo, fake, "sync")
    assert res.code == 2 and "notion setup --parent" in res.err
    bad = run(repo, "notion", "setup", "--parent", "x", env={**env(fake), "NOTION_TOKEN": "wrong"})
    assert bad.code == 2 and "401" in bad.err


def test_rate_limiter_holds_the_average() -> None:
    now = [0.0]
    slept: list[float] = []

    def sleep(seconds: float) -> None:
        slept.append(seconds)
        now[0] += seconds

    limiter = RateLimiter(rate=3.0, burst=3.0, clock=lambda: now[0], sleep=sleep)
    limiter._last = 0.0
    for _ in range(30):
        limiter.acquire()
    # 30 requests at 3/s with a burst of 3: at least (30 - 3) / 3 = 9 seconds.
    assert now[0] == pytest.approx(9.0, abs=0.01)


def test_unavailable_is_exit_4() -> None:
    assert Unavailable("x").exit_code == 4


def test_reviewers_list_matches_notion_emails(repo: Path, fake: FakeNotion) -> None:
    """With review.reviewers set, a Notion approval counts only from a listed email."""
    config = repo / ".coord" / "config.toml"  # written by `gitcoord init`
    assert "reviewers = []" in config.read_text()
    config.write_text(config.read_text().replace("reviewers = []", 'reviewers = ["lead@example.com"]'))
    git(repo, "add", ".coord/config.toml")  # reviewers count only once committed
    git(repo, "commit", "-q", "-m", "reviewers")
    sources = set_up(repo, fake)
    sync(repo, fake)
    lead = fake.add_user("Lead Person", email="lead@example.com")
    intern = fake.add_user("Intern", email="intern@example.com")
    with Coordinator(repo) as coord:
        proposed = [d for d in coord.snapshot().records(Decision) if d.status == "proposed"]
    assert proposed, "the seed has a proposed decision"
    fake.human_edit(
        str(page_of(fake, sources["decisions"], proposed[0].id)["id"]),
        intern,
        {"Status": {"select": {"name": "approved"}}},
    )
    counts = sync(repo, fake)
    assert counts["pulled_back"] == 0
    assert any("may not review" in r for r in counts["refused"])  # type: ignore[attr-defined]
    fake.human_edit(
        str(page_of(fake, sources["decisions"], proposed[0].id)["id"]),
        lead,
        {"Status": {"select": {"name": "approved"}}},
    )
    assert sync(repo, fake)["pulled_back"] == 1
    with Coordinator(repo) as coord:
        decision = coord.snapshot().record(Decision, proposed[0].id)
    assert decision is not None and decision.status == "approved"
    assert decision.reviewed_by == "notion:lead@example.com"


# -- error traces in the page body -----------------------------------------------------------------


def block_writes(fake: FakeNotion) -> int:
    return fake.count("PATCH", "/v1/blocks/.*/children") + fake.count("DELETE", "/v1/blocks/.*")


def trace_of(fake: FakeNotion, page_id: str) -> list[dict[str, Any]]:
    return [b for b in fake.body(page_id) if body.is_ours(b)]


def assert_within_limits(blocks: list[dict[str, Any]]) -> None:
    for block in blocks:
        assert block["type"] == "code" and block["code"]["language"] == "plain text"
        items = block["code"]["rich_text"]
        assert 0 < len(items) <= TEXT_ITEMS
        assert all(len(i["plain_text"].encode("utf-16-le")) // 2 <= TEXT_ITEM for i in items)


def shown(blocks: list[dict[str, Any]]) -> str:
    return "".join(i["plain_text"] for b in blocks for i in b["code"]["rich_text"])


def long_trace(n: int, tag: str = "") -> str:
    """A Python-looking trace over 10,000 characters, with a few 2-unit characters for Notion's count."""
    frames = "".join(
        f'  File "src/module_{i}.py", line {i}, in handler_{i}{tag}\n    raise Boom("😀 {i}")\n'
        for i in range(n)
    )
    return "Traceback (most recent call last):\n" + frames + "Boom: it broke\n"


def set_trace(repo: Path, error_id: str, trace: str) -> None:
    def work(txn: Txn) -> None:
        record = txn.snap.record(ErrorRecord, error_id)
        assert record is not None
        record.trace = trace
        txn.put(record)
        txn.action, txn.what = "edit-trace", error_id

    with Coordinator(repo) as coord:
        coord.write(work, actor="ops")


def test_long_trace_goes_into_the_page_body_once(repo: Path, fake: FakeNotion) -> None:
    sources = set_up(repo, fake)
    trace = long_trace(160)
    assert len(trace) > 10_000 and len(trace.encode()) <= 64 * 1024
    with Coordinator(repo, agent="alpha") as coord:
        rid = coord.log_error("code_error", "the suite crashed", severity="high", trace=trace).id
    sync(repo, fake)
    page = str(page_of(fake, sources["errors"], rid)["id"])
    blocks = trace_of(fake, page)
    assert_within_limits(blocks)
    assert shown(blocks) == trace and len(blocks[0]["code"]["rich_text"]) > 5
    assert block_writes(fake) == 0, "the blocks go with the page create, in the same request"
    # A resync writes nothing and does not even read the bodies of unchanged rows.
    before = (writes(fake), block_writes(fake), fake.count("GET", "/v1/blocks/.*/children"))
    counts = sync(repo, fake)
    assert (writes(fake), block_writes(fake), fake.count("GET", "/v1/blocks/.*/children")) == before
    assert counts["bodies_written"] == 0 and trace_of(fake, page) == blocks
    # The seed's short trace got its block too.
    seeded = next(
        e for e in Coordinator(repo).snapshot().records(ErrorRecord) if e.trace.startswith("Traceback: boom")
    )
    assert shown(trace_of(fake, str(page_of(fake, sources["errors"], seeded.id)["id"]))) == seeded.trace


def test_changed_trace_replaces_ours_and_keeps_a_persons_blocks(repo: Path, fake: FakeNotion) -> None:
    sources = set_up(repo, fake)
    with Coordinator(repo, agent="alpha") as coord:
        rid = coord.log_error("code_error", "flaky", severity="low", trace=long_trace(120)).id
    sync(repo, fake)
    page = str(page_of(fake, sources["errors"], rid)["id"])
    note = fake._check_blocks(
        [{"paragraph": {"rich_text": [{"text": {"content": "seen it, looking"}}]}}], "x"
    )
    fake._attach(page, note)  # what a person types under the row
    new = long_trace(150, tag=" (retry)")
    set_trace(repo, rid, new)
    before = fake.count("GET", "/v1/blocks/.*/children")
    counts = sync(repo, fake)
    assert counts["bodies_written"] == 1 and counts["updated"] >= 1
    assert fake.count("GET", "/v1/blocks/.*/children") == before + 1, "only the changed row's body is read"
    ours = trace_of(fake, page)
    assert shown(ours) == new and len(ours) == 1, "replaced, not duplicated"
    assert_within_limits(ours)
    assert [b["type"] for b in fake.body(page)] == ["paragraph", "code"]
    # The same trace again (another field changed): the body is read, nothing is written to it.
    with Coordinator(repo) as coord:
        coord.resolve_error(rid, "fixed the race", actor="alpha")
    before_writes = block_writes(fake)
    counts = sync(repo, fake)
    assert counts["bodies_written"] == 0 and block_writes(fake) == before_writes
    # A trace emptied: our blocks go, the person's note stays.
    set_trace(repo, rid, "")
    sync(repo, fake)
    assert [b["type"] for b in fake.body(page)] == ["paragraph"]


def test_trace_over_one_request_is_split_across_blocks_and_requests(
    repo: Path, fake: FakeNotion, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Records cap traces at 64 KiB (one block); smaller caps drive the multi-block, multi-request path."""
    monkeypatch.setattr(body, "ITEMS_PER_BLOCK", 1)
    monkeypatch.setattr(body, "BLOCKS_PER_REQUEST", 3)
    monkeypatch.setattr(notion_sync, "BLOCKS_PER_REQUEST", 3)
    sources = set_up(repo, fake)
    trace = long_trace(200)
    with Coordinator(repo, agent="alpha") as coord:
        rid = coord.log_error("code_error", "long one", severity="high", trace=trace).id
    sync(repo, fake)
    page = page_of(fake, sources["errors"], rid)
    blocks = trace_of(fake, str(page["id"]))
    pieces = chunk_text(trace)
    assert len(blocks) == len(pieces) > 3 and shown(blocks) == trace
    assert all(len(b["code"]["rich_text"]) == 1 for b in blocks)
    assert "".join(i["plain_text"] for i in blocks[-1]["code"]["caption"]).endswith(f"of {len(blocks)})")
    assert fake.count("PATCH", "/v1/blocks/.*/children") == -(-len(blocks) // 3)
    assert page["properties"]["Rev"]["number"] is not None  # type: ignore[index]  # written once complete
    before = writes(fake) + block_writes(fake)
    sync(repo, fake)
    assert writes(fake) + block_writes(fake) == before


def test_trace_replacement_converges_under_faults(repo: Path, fake: FakeNotion) -> None:
    sources = set_up(repo, fake)
    with Coordinator(repo, agent="alpha") as coord:
        rid = coord.log_error("code_error", "faulty", severity="low", trace=long_trace(100)).id
    sync(repo, fake)
    page = str(page_of(fake, sources["errors"], rid)["id"])
    new = long_trace(130, tag=" again")
    set_trace(repo, rid, new)
    fake.fault_rate, fake.fault_paths = 0.5, "/v1/blocks/.*"  # half the body's reads and writes fail
    for _ in range(20):
        if notion(repo, fake, "sync", "--json").code == 0:
            break
    else:
        pytest.fail("the sync never finished")
    fake.fault_rate = 0.0
    lost = [m for m, p, s in fake.requests if p.startswith("/v1/blocks/") and s == 500]
    assert {"PATCH", "DELETE"} & set(lost), "the run must lose the answer to an applied block write"
    sync(repo, fake)
    assert shown(trace_of(fake, page)) == new and len(trace_of(fake, page)) == 1


def test_fake_block_endpoints_follow_notion(fake: FakeNotion) -> None:
    client = Client(auth=fake.token, base_url=fake.base_url, notion_version="2025-09-03", retry=False)
    page = fake.add_parent_page()

    def refused(**kwargs: Any) -> str:
        with pytest.raises(APIResponseError) as caught:
            client.blocks.children.append(page, **kwargs)
        assert caught.value.status == 400 and caught.value.code == "validation_error"
        return str(caught.value)

    def code(text: str, language: str = "plain text") -> dict[str, Any]:
        return {"type": "code", "code": {"rich_text": [{"text": {"content": text}}], "language": language}}

    assert "length should be ≤ `100`" in refused(children=[code("x")] * 101)
    assert '`"plain text"`' in refused(children=[code("x", language="text")])
    assert "instead was `2001`" in refused(children=[code("x" * 2001)])
    assert "instead was `2002`" in refused(children=[code("😀" * 1001)])  # UTF-16 units, as Notion counts
    added = client.blocks.children.append(page, children=[code(str(n)) for n in range(5)])["results"]
    assert added[0]["code"]["rich_text"][0]["plain_text"] == "0" and added[0]["parent"]["page_id"] == page
    first = client.blocks.children.list(page, page_size=2)
    assert first["has_more"] and len(first["results"]) == 2
    rest = client.blocks.children.list(page, page_size=100, start_cursor=first["next_cursor"])
    assert [b["id"] for b in first["results"] + rest["results"]] == [b["id"] for b in added]
    with pytest.raises(APIResponseError):
        client.blocks.children.list(page, page_size=101)
    assert client.blocks.delete(added[0]["id"])["in_trash"] is True
    with pytest.raises(APIResponseError) as again:
        client.blocks.delete(added[0]["id"])
    assert again.value.status == 400 and "archived" in str(again.value)
    assert len(client.blocks.children.list(page)["results"]) == 4


def test_split_text_counts_utf16_units() -> None:
    items = split_text("😀" * 150_000)
    assert len(items) == TEXT_ITEMS
    assert all(len(i["text"]["content"].encode("utf-16-le")) // 2 <= TEXT_ITEM for i in items)
    assert items[-1]["text"]["content"].endswith(CUT_MARKER)


# -- claims: live and past ------------------------------------------------------------------------


def claim_states(fake: FakeNotion, source: str) -> dict[str, str]:
    return {
        "".join(t["plain_text"] for t in p["properties"]["Record ID"]["rich_text"]): p["properties"]["State"][
            "select"
        ]["name"]
        for p in fake.rows(source)
    }


def test_claims_show_live_expired_dead_released_and_taken_over(repo: Path, fake: FakeNotion) -> None:
    def expiring(txn: Txn) -> None:  # lease past by a minute: in its 5-minute grace
        txn.put(
            Claim(
                id=txn.new_id("C"),
                agent="beta",
                resource="src/late.py",
                token=99,
                created_at=txn.now - timedelta(hours=1),
                last_check_in=txn.now - timedelta(hours=1),
                expires_at=txn.now - timedelta(minutes=1),
            )
        )
        txn.action, txn.what = "seed", "an expired claim"

    with Coordinator(repo) as coord:
        coord.write(expiring, actor="ops")
        by_resource = {c.resource: c.id for c in coord.snapshot().records(Claim)}
    sources = set_up(repo, fake)
    sync(repo, fake)
    states = claim_states(fake, sources["claims"])
    assert states[by_resource["src/api.py"]] == "live"
    assert states[by_resource["src/late.py"]] == "expired"
    assert states[by_resource["old/lingering.txt"]] == "dead"  # past its grace, still in the tree
    # beta takes over gamma's dead claim; alpha releases its own.
    assert run(repo, "claim", "old/lingering.txt", agent="beta").code == 0
    assert run(repo, "release", "src/api.py", agent="alpha").code == 0
    with Coordinator(repo) as coord:
        takeover = next(e for e in coord.store.history() if e.get("takeover"))
    assert by_resource["old/lingering.txt"] in takeover["takeover"]
    sync(repo, fake)
    states = claim_states(fake, sources["claims"])
    assert states[by_resource["old/lingering.txt"]] == "taken over"
    assert states[by_resource["src/api.py"]] == "released"
    with Coordinator(repo) as coord:
        new_claim = next(c.id for c in coord.snapshot().records(Claim) if c.resource == "old/lingering.txt")
    assert states[new_claim] == "live"
    options = {
        o["name"] for o in fake.data_sources[sources["claims"]]["properties"]["State"]["select"]["options"]
    }
    assert {"live", "expired", "dead", "released", "taken over"} <= options
    before = writes(fake)
    sync(repo, fake)
    assert writes(fake) == before, "past claims are marked once"


# -- progress ------------------------------------------------------------------------------------


def test_progress_lines_when_piped_and_nothing_with_json(repo: Path, fake: FakeNotion) -> None:
    set_up(repo, fake)
    piped = notion(repo, fake, "sync")
    assert piped.code == 0, piped.err
    assert "notion sync: reading Notion (8)" in piped.err and "notion sync: Claims (" in piped.err
    assert "notion sync: Activity (" in piped.err and "\x1b[" not in piped.err
    assert "created" in piped.out and "notion sync:" not in piped.out
    quiet = notion(repo, fake, "sync", "--json")
    assert quiet.code == 0 and quiet.err == "" and quiet.json()["created"] == 0


class Terminal(io.StringIO):
    def isatty(self) -> bool:
        return True


def test_progress_bar_on_a_terminal(repo: Path, fake: FakeNotion, monkeypatch: pytest.MonkeyPatch) -> None:
    set_up(repo, fake)
    for key, value in env(fake).items():
        monkeypatch.setenv(key, value)
    monkeypatch.setattr(os, "get_terminal_size", lambda *a: os.terminal_size((100, 40)))
    out, err = io.StringIO(), Terminal()
    with redirect_stdout(out), redirect_stderr(err):
        assert main(["-C", str(repo), "notion", "sync"]) == 0
    drawn = err.getvalue()
    assert "Claims" in drawn and "Activity" in drawn and "━" in drawn  # rich's bar
    assert "notion sync:" not in drawn and "created" in out.getvalue()


# -- faults: every retry is bounded, and only what Notion did not apply is retried blindly ----------


def quick_api(base_url: str, token: str = "secret_test_token") -> Api:
    """The sync's client with backoffs of milliseconds, so that a run of failures ends fast."""
    api = Api.connect(token, base_url, rate=1000)
    api.backoff = 0.001
    return api


def sync_in_thread(repo: Path, api: Api, seconds: float = 60) -> list[BaseException]:
    """Run one sync through the library; what it raised. Fails if the sync is still going after `seconds`."""
    raised: list[BaseException] = []

    def attempt() -> None:
        try:
            with Coordinator(repo) as coord:
                notion_sync.sync(coord, api)
        except BaseException as exc:  # handed to the test thread
            raised.append(exc)

    worker = threading.Thread(target=attempt, daemon=True)
    worker.start()
    worker.join(timeout=seconds)
    assert not worker.is_alive(), "the sync must end, not retry forever"
    return raised


def test_a_create_that_keeps_failing_ends_unavailable(repo: Path, fake: FakeNotion) -> None:
    sources = set_up(repo, fake)
    fake.fault_rate, fake.fault_paths, fake.fault_kinds = 1.0, "/v1/pages", ("before",)
    raised = sync_in_thread(repo, quick_api(fake.base_url))
    assert len(raised) == 1 and isinstance(raised[0], Unavailable), raised
    assert fake.count("POST", "/v1/pages") == MAX_ATTEMPTS
    assert not any(fake.rows(source) for source in sources.values())


def test_conflict_errors_are_retried(repo: Path, fake: FakeNotion) -> None:
    """409 conflict_error: Notion did not apply it and says to try again."""
    sources = set_up(repo, fake)
    fake.fault_rate, fake.fault_kinds = 0.3, ("409",)
    assert sync_in_thread(repo, quick_api(fake.base_url)) == []
    assert any(status == 409 for _, _, status in fake.requests)
    fake.fault_rate = 0.0
    with Coordinator(repo) as coord:
        decisions = sorted(d.id for d in coord.snapshot().records(Decision))
    assert ids_of(fake, sources["decisions"]) == decisions


def test_notion_out_of_reach_is_unavailable(repo: Path, fake: FakeNotion) -> None:
    set_up(repo, fake)
    with socket.socket() as probe:  # a port nobody listens on once closed
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    raised = sync_in_thread(repo, quick_api(f"http://127.0.0.1:{port}"))
    assert len(raised) == 1 and isinstance(raised[0], Unavailable), raised


def test_rows_a_person_added_are_left_alone(repo: Path, fake: FakeNotion) -> None:
    """Rows without a Record ID are not duplicates of each other, nor past claims."""
    sources = set_up(repo, fake)
    lead = fake.add_user("Lead Person")
    title = {"Name": {"title": [{"text": {"content": "scratch"}}]}}
    mine = [
        fake.human_row(sources[kind], lead, title) for kind in ("claims", "claims", "decisions", "decisions")
    ]
    counts = sync(repo, fake)
    assert counts["trashed_duplicates"] == 0
    for pid in mine:
        page = fake.pages[pid]
        assert not page["in_trash"] and page["last_edited_by"]["id"] == lead
    assert all(fake.pages[pid]["properties"]["State"]["select"] is None for pid in mine[:2])


def test_a_status_notion_cannot_apply_is_reported_once(repo: Path, fake: FakeNotion) -> None:
    sources = set_up(repo, fake)
    sync(repo, fake)
    lead = fake.add_user("Lead Person")
    with Coordinator(repo) as coord:
        snap = coord.snapshot()
        approved = next(d.id for d in snap.records(Decision) if d.status == "approved")
        help_id = next(h.id for h in snap.records(HelpRequest) if h.status == "open")
    fake.human_edit(
        str(page_of(fake, sources["decisions"], approved)["id"]),
        lead,
        {"Status": {"select": {"name": "rejected"}}},
    )
    fake.human_edit(
        str(page_of(fake, sources["help"], help_id)["id"]),
        lead,
        {"Status": {"select": {"name": "acknowledged"}}},
    )
    counts = sync(repo, fake)
    refused = counts["refused"]
    assert isinstance(refused, list) and len(refused) == 1, refused
    assert refused[0].startswith(f"{approved}: ") and "already approved" in refused[0]
    # Acknowledging a help request is a person's act Notion can carry: applied, as that person.
    assert counts["pulled_back"] == 1
    with Coordinator(repo) as coord:
        snap = coord.snapshot()
        assert snap.record(Decision, approved).status == "approved"  # type: ignore[union-attr]
        acked = snap.record(HelpRequest, help_id)
        assert acked is not None and acked.status == "acknowledged" and acked.acked_by.startswith("notion:")
    assert sync(repo, fake)["refused"] == [], "Notion shows git's status again: nothing left to report"


def test_a_row_that_is_only_behind_git_is_not_a_persons_edit(repo: Path, fake: FakeNotion) -> None:
    """Notion still shows approved / open while git moved on: nothing is pulled back or reported."""
    set_up(repo, fake)
    sync(repo, fake)
    with Coordinator(repo) as coord:
        snap = coord.snapshot()
        approved = next(d.id for d in snap.records(Decision) if d.status == "approved")
        help_id = next(h.id for h in snap.records(HelpRequest) if h.status == "open")
        error_id = next(e.id for e in snap.records(ErrorRecord) if e.status == "open")
    with Coordinator(repo, agent="alpha") as coord:
        coord.implement_decision(approved)
        coord.ack_help(help_id)
        coord.resolve_error(error_id, "fixed")
    counts = sync(repo, fake)
    assert counts["refused"] == [] and counts["pulled_back"] == 0 and counts["updated"] >= 3


def test_an_activity_row_without_rev_does_not_restart_the_history(repo: Path, fake: FakeNotion) -> None:
    """The API docs do not say where empty values sort; the stand-in puts them first when descending."""
    sources = set_up(repo, fake)
    sync(repo, fake)
    fake.human_row(
        sources["activity"],
        fake.add_user("Lead Person"),
        {"Name": {"title": [{"text": {"content": "note to self"}}]}},
    )
    assert sync(repo, fake)["activity_appended"] == 0
    with Coordinator(repo) as coord:
        assert len(fake.rows(sources["activity"])) == len(list(coord.store.history(own=False))) + 1


def test_properties_a_person_deleted_or_renamed_come_back(repo: Path, fake: FakeNotion) -> None:
    sources = set_up(repo, fake)
    sync(repo, fake)
    fake.human_schema_edit(sources["decisions"], "Review note")
    fake.human_schema_edit(sources["decisions"], "Rationale", "Why")
    person = repo.parent / "person"  # the repo is alpha's worktree: a person reviews from their own
    git(repo, "worktree", "add", "-q", "--detach", str(person))
    with Coordinator(person) as coord:
        proposed = next(d for d in coord.snapshot().records(Decision) if d.status == "proposed")
        coord.approve_decision(proposed.id, note="fine by me")
    counts = sync(repo, fake)
    assert counts["properties_restored"] == 2
    props = page_of(fake, sources["decisions"], proposed.id)["properties"]
    assert props["Review note"]["rich_text"][0]["plain_text"] == "fine by me"  # type: ignore[index]
    assert props["Rationale"]["rich_text"][0]["plain_text"] == proposed.rationale  # type: ignore[index]
    assert "Why" in props, "the renamed one is the person's: left as it is"
    again = sync(repo, fake)
    assert again["properties_restored"] == 0 and again["updated"] == 0


def test_setup_never_writes_the_config_through_a_link_out_of_the_repository(
    repo: Path, fake: FakeNotion, tmp_path: Path
) -> None:
    """A committed `.coord/config.toml` that links out of the repository: setup refuses before it
    creates anything in Notion (no database whose id would be lost) and the outside file is untouched."""
    outside = tmp_path / "victim.toml"
    config = repo / ".coord" / "config.toml"
    outside.write_text(config.read_text())
    before = outside.read_text()
    config.unlink()
    config.symlink_to(outside)
    res = notion(repo, fake, "setup", "--parent", fake.add_parent_page())
    assert res.code == 2, res.err
    assert ".coord/config.toml is a symbolic link to" in res.err and "outside the repository" in res.err
    assert "Traceback" not in res.err
    assert outside.read_text() == before and config.is_symlink()
    assert len(fake.databases) == 0
