"""Notion: Activity without duplicates, a trashed database, the Conflicts view (issues 15, 16).

Real notion-client over HTTP against the local stand-in, real git repositories.
"""

from __future__ import annotations

import tomllib
from collections import Counter
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import tomli_w

from gitcoord import Coordinator

from .conftest import git, run
from .fake_notion import FakeNotion
from .test_notion import notion, set_up, sync, writes
from .test_notion import repo as repo


@pytest.fixture
def fake() -> Iterator[FakeNotion]:
    server = FakeNotion().start()
    yield server
    server.stop()


def revs(fake: FakeNotion, source: str) -> Counter[int]:
    return Counter(int(p["properties"]["Rev"]["number"]) for p in fake.rows(source))


def history_revs(repo: Path) -> set[int]:
    with Coordinator(repo) as coord:
        return {int(e["rev"]) for e in coord.store.history()}


def notion_config(repo: Path) -> dict[str, Any]:
    return dict(tomllib.loads((repo / ".coord" / "config.toml").read_text())["notion"])


# -- Activity: one row per revision ------------------------------------------------------------


def test_a_lagging_query_does_not_append_the_history_twice(repo: Path, fake: FakeNotion) -> None:
    sources = set_up(repo, fake)
    fake.freeze()  # the view a lagging query answers from: Activity still empty
    sync(repo, fake)
    assert run(repo, "claim", "src/new.py", agent="alpha").code == 0
    fake.stale_queries, fake.stale_source = 1, sources["activity"]
    counts = sync(repo, fake)
    assert fake.stale_queries == 0, "the stale answer was served"
    assert counts["activity_appended"] == 1
    found = revs(fake, sources["activity"])
    assert set(found) == history_revs(repo) and max(found.values()) == 1


def test_a_repeated_page_neither_duplicates_nor_trashes_rows(repo: Path, fake: FakeNotion) -> None:
    sources = set_up(repo, fake)
    fake.page_cap = 2  # several pages per query, so a cursor is followed
    sync(repo, fake)
    before = {kind: len(fake.rows(source)) for kind, source in sources.items()}
    for source in sources.values():  # the first page again, once per data source read
        fake.repeat_page = True
        assert run(repo, "check-in", "-m", "still here", agent="alpha").code == 0
        counts = sync(repo, fake)
        assert counts["trashed_duplicates"] == 0, source
    after = {kind: len(fake.rows(source)) for kind, source in sources.items()}
    assert {k: v for k, v in after.items() if k != "activity"} == {
        k: v for k, v in before.items() if k != "activity"
    }
    found = revs(fake, sources["activity"])
    assert set(found) == history_revs(repo) and max(found.values()) == 1


def test_a_sync_trashes_the_activity_duplicates_left_by_older_versions(repo: Path, fake: FakeNotion) -> None:
    sources = set_up(repo, fake)
    sync(repo, fake)
    rows = sorted(fake.rows(sources["activity"]), key=lambda p: p["properties"]["Rev"]["number"])
    # What the old append did after a wrong cursor: the history once more (one row three times).
    copies = [fake.copy_row(p["id"]) for p in rows] + [fake.copy_row(rows[0]["id"])]
    assert max(revs(fake, sources["activity"]).values()) == 3
    counts = sync(repo, fake)
    assert counts["trashed_duplicates"] == len(copies) and counts["activity_appended"] == 0
    trashed = [p for p in fake.pages.values() if p["in_trash"]]
    assert len(trashed) == len(copies), "only duplicates go to the trash"
    found = revs(fake, sources["activity"])
    assert set(found) == history_revs(repo) and max(found.values()) == 1
    assert sync(repo, fake)["trashed_duplicates"] == 0


# -- a database in the trash -----------------------------------------------------------------------


def test_a_trashed_database_is_reported_with_the_fix_and_nothing_is_written(
    repo: Path, fake: FakeNotion
) -> None:
    sources = set_up(repo, fake)
    sync(repo, fake)
    fake.trash_database(notion_config(repo)["databases"]["claims"])
    assert run(repo, "claim", "src/late.py", agent="beta").code == 0
    before = (writes(fake), fake.count("PATCH", "/v1/data_sources/.*"))
    res = notion(repo, fake, "sync")
    assert res.code == 4, res.err
    assert "the Notion database Claims is in the trash" in res.err
    assert "gitcoord notion setup" in res.err and "Traceback" not in res.err
    assert (writes(fake), fake.count("PATCH", "/v1/data_sources/.*")) == before
    # The fix the message names: setup again makes a new Claims database, and the sync works.
    again = notion(repo, fake, "setup", "--parent", notion_config(repo)["parent_page"], "--json")
    assert again.code == 0, again.err
    assert again.json()["created"] == ["claims"]
    fresh = again.json()["data_sources"]["claims"]
    assert fresh != sources["claims"]
    sync(repo, fake)
    assert any(
        p["properties"]["Resource"]["rich_text"][0]["plain_text"] == "src/late.py" for p in fake.rows(fresh)
    )


# -- the Conflicts view -------------------------------------------------------------------------------


def _commit(cwd: Path, name: str, text: str) -> None:
    (cwd / name).write_text(text)
    git(cwd, "add", name)
    git(cwd, "commit", "-q", "-m", f"edit {name}")


def conflict_rows(fake: FakeNotion, source: str) -> dict[str, dict[str, Any]]:
    def text(page: dict[str, Any], prop: str) -> str:
        return "".join(t["plain_text"] for t in page["properties"][prop]["rich_text"])

    return {
        text(p, "Record ID"): {
            "state": p["properties"]["State"]["select"]["name"],
            "conflicts": text(p, "Conflicting paths"),
            "overlap": text(p, "Overlapping paths"),
            "next": text(p, "Next step"),
        }
        for p in fake.rows(source)
    }


def test_the_conflicts_view_follows_the_radar(local_repo: Path, tmp_path: Path, fake: FakeNotion) -> None:
    git(local_repo, "add", ".coord/config.toml")
    git(local_repo, "commit", "-q", "-m", "gitcoord config")
    alpha, beta = tmp_path / "alpha", tmp_path / "beta"
    git(local_repo, "worktree", "add", "-q", "-b", "alpha-work", str(alpha))
    git(local_repo, "worktree", "add", "-q", "-b", "beta-work", str(beta))
    assert run(alpha, "start", "--agent", "alpha").code == 0
    assert run(beta, "start", "--agent", "beta").code == 0
    _commit(alpha, "README.md", "alpha's line\n")
    _commit(beta, "README.md", "beta's line\n")
    _commit(alpha, "notes.txt", "alpha\n")
    _commit(beta, "notes.txt", "alpha\n")  # the same change: both touch it, it merges cleanly
    assert run(alpha, "check-in").code == 0 and run(beta, "check-in").code == 0
    sources = set_up(local_repo, fake)
    sync(local_repo, fake)
    rows = conflict_rows(fake, sources["conflicts"])
    assert rows == {
        "alpha|beta": {
            "state": "conflict",
            "conflicts": "README.md",
            "overlap": "notes.txt",
            "next": rows["alpha|beta"]["next"],
        }
    }
    assert "rebase" in rows["alpha|beta"]["next"]
    before = writes(fake)
    assert sync(local_repo, fake)["updated"] == 0 and writes(fake) == before, "a resync writes nothing"
    # beta drops its work: the pair is no longer named, its row stays, marked resolved.
    git(beta, "reset", "-q", "--hard", "main")
    sync(local_repo, fake)
    assert conflict_rows(fake, sources["conflicts"])["alpha|beta"]["state"] == "resolved"
    before = writes(fake)
    sync(local_repo, fake)
    assert writes(fake) == before
    # The same pair clashing again takes its row back: still one row.
    _commit(beta, "README.md", "beta again\n")
    sync(local_repo, fake)
    rows = conflict_rows(fake, sources["conflicts"])
    assert list(rows) == ["alpha|beta"] and rows["alpha|beta"]["state"] == "conflict"


def test_a_workspace_set_up_before_the_conflicts_view_gets_it_from_setup(
    repo: Path, fake: FakeNotion
) -> None:
    set_up(repo, fake)
    config_path = repo / ".coord" / "config.toml"
    config = tomllib.loads(config_path.read_text())
    for table in ("databases", "data_sources"):
        del config["notion"][table]["conflicts"]  # as `setup` left it before the view existed
    config_path.write_text(tomli_w.dumps(config))
    res = notion(repo, fake, "sync")
    assert res.code == 0, res.err
    assert "the Conflicts database is not set up yet: run `gitcoord notion setup --parent" in res.out
    again = notion(repo, fake, "setup", "--parent", config["notion"]["parent_page"], "--json")
    assert again.code == 0 and again.json()["created"] == ["conflicts"], again.err
    res = notion(repo, fake, "sync")
    assert res.code == 0 and "not set up" not in res.out, res.err
