"""Second review of store format 2 (issue 14): the trail over several refs, migration's answers,
odd transports and clones, the server-side fence, SHA-256, and the warm paths, with real git.

Machines' clocks are made to disagree with `GIT_COMMITTER_DATE` (the commit's own date, which
every gitcoord write honours as `git commit-tree` does), never by waiting.
"""

from __future__ import annotations

import time
from pathlib import Path

from tests.conftest import git, make_repo, run

SHARED = "refs/heads/coord"


def _dated(seconds: int) -> dict[str, str]:
    """The environment of a machine whose clock reads `seconds` (epoch) for the commit it writes."""
    return {"GIT_COMMITTER_DATE": f"@{seconds} +0000", "GIT_AUTHOR_DATE": f"@{seconds} +0000"}


def test_log_keeps_the_shared_refs_order_when_clocks_disagree(local_repo: Path) -> None:
    """beta's machine is 30 s behind alpha's: its claim (rev 2) carries an earlier date than alpha's
    (rev 1). With one ref git's walk kept the chain's order; with an agent's own ref beside it the
    trail must still read rev 2 before rev 1, newest first, and each ref's writes in their order."""
    now = int(time.time()) + 600  # after the store's init, whatever this machine's speed
    assert run(local_repo, "claim", "src/a.py", agent="alpha", env=_dated(now)).code == 0
    assert run(local_repo, "claim", "src/b.py", agent="beta", env=_dated(now - 30)).code == 0
    assert run(local_repo, "check-in", agent="alpha", env=_dated(now + 1)).code == 0  # own ref

    res = run(local_repo, "log", "--json")

    assert res.code == 0, res
    trail = [(e["action"], e["rev"], e.get("ref", "")) for e in res.json()]
    shared = [rev for _action, rev, ref in trail if not ref]
    assert shared == ["2", "1", "0"], trail
    assert trail[0] == ("check-in", "2", "refs/coord/agents/alpha"), trail
    text = run(local_repo, "log", "--agent", "beta", "--json").json()
    assert [e["rev"] for e in text] == ["2"]


def test_migrate_without_a_coord_store_says_so(tmp_path: Path) -> None:
    repo = make_repo(tmp_path / "bare-of-coord")

    for args in (["migrate"], ["migrate", "--json"]):
        res = run(repo, *args)

        assert res.code == 2, res
        assert "the coord branch does not exist yet." in res.err
        assert "gitcoord init" in res.err
        assert res.out == ""
    assert git(repo, "for-each-ref", "refs/heads/coord", "refs/coord") == ""
