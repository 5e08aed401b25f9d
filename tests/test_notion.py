"""Notion setup and sync through the real notion-client, over HTTP, against the local stand-in."""

from __future__ import annotations

import tomllib
from collections.abc import Iterator
from pathlib import Path

import pytest

from gitcoord import Coordinator, Unavailable
from gitcoord.notion.api import RateLimiter
from gitcoord.notion.schema import CUT_MARKER, DATABASES, split_text
from gitcoord.records import Decision, ErrorRecord, HelpRequest

from .conftest import Result, run
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
    return sorted("".join(t["plain_text"] for t in p["properties"]["Record ID"]["rich_text"])
                  for p in fake.rows(source))


def page_of(fake: FakeNotion, source: str, rid: str) -> dict[str, object]:
    found = [p for p in fake.rows(source) if p["properties"]["Record ID"]["rich_text"][0]["plain_text"] == rid]
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
        history = coord.log()
        decisions = [d.id for d in snap.records(Decision)]
        errors = [e.id for e in snap.records(ErrorRecord)]
    assert ids_of(fake, sources["decisions"]) == sorted(decisions)
    assert ids_of(fake, sources["errors"]) == sorted(errors)
    assert ids_of(fake, sources["agents"]) == ["alpha", "beta", "gamma"]
    assert len(fake.rows(sources["activity"])) == len(history) == first["activity_appended"]
    stale = page_of(fake, sources["agents"], "gamma")["properties"]
    assert stale["Stale"]["checkbox"] is True and stale["Status"]["select"]["name"] == "stale"  # type: ignore[index]
    # The released claim stays as a row marked released once its record is gone.
    before = writes(fake)
    second = sync(repo, fake)
    assert writes(fake) == before, "an unchanged resync must not write"
    assert second["created"] == second["updated"] == second["activity_appended"] == 0
    # A new commit: one activity row more, the changed record updated, nothing else written.
    assert run(repo, "release", "src/api.py", agent="alpha").code == 0
    third = sync(repo, fake)
    assert third["activity_appended"] == 1 and third["created"] == 0
    claims = {p["properties"]["Resource"]["rich_text"][0]["plain_text"]: p["properties"]["State"]["select"]["name"]
              for p in fake.rows(sources["claims"])}
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
    fake.human_edit(str(page["id"]), lead, {"Status": {"select": {"name": "approved"}},
                                            "Review note": {"rich_text": [{"text": {"content": "go ahead"}}]},
                                            "Rationale": {"rich_text": [{"text": {"content": "human scribble"}}]}})
    # An invalid transition: an already approved decision rejected in Notion is reported, not applied.
    other = page_of(fake, sources["decisions"], approved.id)
    fake.human_edit(str(other["id"]), lead, {"Status": {"select": {"name": "rejected"}}})
    help_page = page_of(fake, sources["help"], help_id)
    fake.human_edit(str(help_page["id"]), lead, {"Status": {"select": {"name": "resolved"}},
                                                 "Resolution": {"rich_text": [{"text": {"content": "done it"}}]}})
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
    assert page_of(fake, sources["decisions"], approved.id)["properties"]["Status"]["select"]["name"] == "approved"  # type: ignore[index]


def test_long_text_is_split_or_cut_within_limits(repo: Path, fake: FakeNotion) -> None:
    sources = set_up(repo, fake)
    long = "x" * 3900
    with Coordinator(repo, agent="alpha") as coord:
        coord.log_error("other", long, severity="low")
    sync(repo, fake)  # the stand-in refuses any item over 2,000 characters
    rows = [p for p in fake.rows(sources["errors"])
            if "".join(t["plain_text"] for t in p["properties"]["Message"]["rich_text"]) == long]
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
        history = coord.log()
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
    sources = set_up(repo, fake)
    sync(repo, fake)
    lead = fake.add_user("Lead Person", email="lead@example.com")
    intern = fake.add_user("Intern", email="intern@example.com")
    with Coordinator(repo) as coord:
        proposed = [d for d in coord.snapshot().records(Decision) if d.status == "proposed"]
    assert proposed, "the seed has a proposed decision"
    fake.human_edit(str(page_of(fake, sources["decisions"], proposed[0].id)["id"]), intern,
                    {"Status": {"select": {"name": "approved"}}})
    counts = sync(repo, fake)
    assert counts["pulled_back"] == 0 and any("may not review" in r for r in counts["refused"])  # type: ignore[attr-defined]
    fake.human_edit(str(page_of(fake, sources["decisions"], proposed[0].id)["id"]), lead,
                    {"Status": {"select": {"name": "approved"}}})
    assert sync(repo, fake)["pulled_back"] == 1
    with Coordinator(repo) as coord:
        decision = coord.snapshot().record(Decision, proposed[0].id)
    assert decision is not None and decision.status == "approved"
    assert decision.reviewed_by == "notion:lead@example.com"
