"""Second review of store format 2 (issue 14): the trail over several refs, migration's answers,
odd transports and clones, the server-side fence, SHA-256, and the warm paths, with real git.

Machines' clocks are made to disagree with `GIT_COMMITTER_DATE` (the commit's own date, which
every gitcoord write honours as `git commit-tree` does), never by waiting.
"""

from __future__ import annotations

import json
import subprocess
import sys
import time
from pathlib import Path

import pytest

from tests.conftest import World, git, make_repo, plant_records, run
from tests.warm_helpers import call, warm_dir

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


def test_the_warm_server_and_mcp_see_other_clones_own_ref_check_ins(world: World, tmp_path: Path) -> None:
    """alpha, in another clone, checks in on its own ref only; beta's warm server, an MCP server kept
    across calls and the in-process path all give the same agents' records after each check-in."""
    pytest.importorskip("mcp", reason="the official `mcp` SDK is not installed")
    from gitcoord.mcp import Tools

    first, second = world.clones[0], world.clones[1]
    tools = Tools(second, "beta")
    try:
        with warm_dir(tmp_path) as warm:
            for words in ("one", "two"):
                shared = git(world.remote, "rev-parse", SHARED)
                assert run(first, "check-in", "-m", words, agent="alpha").code == 0  # holds nothing
                assert git(world.remote, "rev-parse", SHARED) == shared  # on alpha's own ref

                served = call(second, "status", "--json", env=warm.env, agent="beta")
                lean = call(second, "status", "--json", agent="beta", warm=False)
                full = run(second, "status", "--fetch", "--json", agent="beta")
                kept = tools.typed(lambda c: c.status(fetch=True))

                assert served.code == lean.code == full.code == 0, (served, lean, full)
                views = [
                    json.loads(served.out)["agents"],
                    json.loads(lean.out)["agents"],
                    full.json()["agents"],
                ]
                views.append(json.loads(json.dumps(kept["agents"], default=str)))
                for view in views:
                    assert [(a["name"], a["message"], a["seq"]) for a in view] == [
                        ("alpha", words, 1 if words == "one" else 2)
                    ], views
                assert warm.server_pid() is not None  # the first call went through the server
    finally:
        tools.close()


# An ext:: helper: git's own service; for receive-pack the remote takes the push, but its report
# (the per-ref verdict) never reaches the client, as when a connection drops at the last moment.
_DROP_REPORT = """#!{python}
import subprocess, sys, threading
service, repo = sys.argv[1], sys.argv[2]
if service != "receive-pack":
    sys.exit(subprocess.call(["git", service, repo]))
child = subprocess.Popen(["git", service, repo], stdin=subprocess.PIPE, stdout=subprocess.PIPE)
def feed():
    while chunk := sys.stdin.buffer.read1(65536):
        child.stdin.write(chunk)
        child.stdin.flush()
    child.stdin.close()
threading.Thread(target=feed, daemon=True).start()
while True:  # the advertisement, up to its flush packet, reaches the client
    head = child.stdout.read(4)
    sys.stdout.buffer.write(head)
    sys.stdout.buffer.flush()
    if not head or head == b"0000":
        break
    sys.stdout.buffer.write(child.stdout.read(int(head, 16) - 4))
    sys.stdout.buffer.flush()
child.stdout.read()  # the report: dropped
child.wait()
sys.exit(1)
"""


def test_an_own_ref_push_whose_report_is_lost_is_settled_by_the_remotes_copy(world: World) -> None:
    helper = world.root / "drop-report"
    helper.write_text(_DROP_REPORT.format(python=sys.executable))
    helper.chmod(0o755)
    clone = world.clone("dropping")
    git(clone, "config", "protocol.ext.allow", "always")
    git(clone, "remote", "set-url", "origin", f"ext::{helper} %s {world.remote}")
    shared = git(world.remote, "rev-parse", SHARED)

    res = run(clone, "check-in", "-m", "landed", agent="delta")  # holds nothing: its own ref

    assert res.code == 0, res
    landed = git(world.remote, "rev-parse", "refs/coord/agents/delta")
    assert git(clone, "rev-parse", "refs/coord/remotes/origin/agents/delta") == landed
    assert git(world.remote, "rev-parse", SHARED) == shared
    assert 'message = "landed"' in git(world.remote, "show", f"{landed}:.coord/agents/delta.toml")
    # Refused by the remote and unheard: nothing landed, and the writer says it could not tell.
    hook = world.remote / "hooks" / "pre-receive"
    hook.write_text("#!/bin/sh\nexit 1\n")
    hook.chmod(0o755)
    refused = run(clone, "check-in", "-m", "refused", agent="delta")
    assert refused.code == 4, refused
    assert "the remote 'origin' cannot be reached" in refused.err
    assert git(world.remote, "rev-parse", "refs/coord/agents/delta") == landed


def test_the_server_fence_lets_own_ref_writes_through_and_still_judges_code(world: World) -> None:
    first, second = world.clones[0], world.clones[1]
    installed = run(world.remote, "hooks", "install", "--server")
    assert installed.code == 0, installed
    assert run(second, "claim", "src/b.py", agent="beta").code == 0

    for _ in range(2):  # two check-ins of alpha's, holding nothing: its own ref, through pre-receive
        assert run(first, "check-in", "-m", "ok", agent="alpha").code == 0
    assert git(world.remote, "rev-list", "--count", "refs/coord/agents/alpha") == "2"
    (first / "src").mkdir()
    (first / "src" / "b.py").write_text("alpha's edit\n")
    git(first, "add", "src/b.py")
    git(
        first,
        "-c",
        "core.hooksPath=/dev/null",
        "commit",
        "-q",
        "-m",
        "edit b",
        "--trailer",
        "Coord-Agent: alpha",
    )
    pushed = subprocess.run(
        ["git", "push", "--no-verify", "origin", "HEAD:refs/heads/main"],
        cwd=first,
        capture_output=True,
        text=True,
    )

    assert pushed.returncode != 0, pushed.stderr
    assert "under beta's exclusive claim" in pushed.stderr, pushed.stderr


def test_own_refs_in_a_sha256_repository_and_its_clone(tmp_path: Path) -> None:
    seed = tmp_path / "seed"
    git(tmp_path, "init", "-q", "--object-format=sha256", str(seed))
    git(seed, "commit", "-q", "--allow-empty", "-m", "initial")
    remote = tmp_path / "remote.git"
    git(tmp_path, "clone", "-q", "--bare", str(seed), str(remote))
    first, second = tmp_path / "a", tmp_path / "b"
    for clone in (first, second):
        git(tmp_path, "clone", "-q", str(remote), str(clone))
    assert run(first, "init").code == 0
    assert run(first, "claim", "src/a.py", agent="alpha").code == 0

    assert run(first, "check-in", "-m", "on sha-256", agent="alpha").code == 0  # renews: words
    assert run(first, "check-in", agent="alpha").code == 0  # its own ref

    own = git(remote, "rev-parse", "refs/coord/agents/alpha")
    assert len(own) == 64
    res = run(second, "status", "--fetch", "--json", agent="beta")
    assert res.code == 0, res
    (alpha,) = res.json()["agents"]
    assert (alpha["resource"], alpha["message"], alpha["seq"]) == ("src/a.py", "on sha-256", 3)
    trail = [(e["action"], e.get("ref", "")) for e in run(second, "log", "--json").json()]
    assert trail[:3] == [("check-in", "refs/coord/agents/alpha"), ("check-in", ""), ("claim", "")], trail


@pytest.mark.parametrize("spec", ["blob:none", "tree:0"])
def test_a_partial_clone_reads_other_agents_own_records_after_one_fetch(world: World, spec: str) -> None:
    """Right after its fetch, a partial clone holds every object of the agents' own refs: it reads
    them with the remote gone, where git could not fetch a missing one lazily."""
    git(world.remote, "config", "uploadpack.allowFilter", "true")
    partial = world.root / f"partial-{spec.replace(':', '')}"
    git(world.root, "clone", "-q", f"--filter={spec}", f"file://{world.remote}", str(partial))
    assert git(partial, "config", "remote.origin.promisor") == "true"
    assert run(partial, "status", "--fetch", "--json", agent="beta").code == 0
    assert run(world.clones[0], "check-in", "-m", "while you look", agent="alpha").code == 0  # own ref

    assert run(partial, "status", "--fetch", "--json", agent="beta").code == 0
    world.remote.rename(world.root / "gone.git")
    res = run(partial, "status", "--no-fetch", "--json", agent="beta")

    assert res.code == 0, res
    assert [(a["name"], a["message"]) for a in res.json()["agents"]] == [("alpha", "while you look")]
    assert res.json()["skipped"] == []


def test_migrate_answers_for_an_unreachable_remote_and_a_newer_format(world: World) -> None:
    first, second = world.clones[0], world.clones[1]
    git(second, "remote", "set-url", "origin", str(world.root / "nowhere.git"))
    for args in (["migrate"], ["migrate", "--json"]):
        res = run(second, *args)
        assert res.code == 4 and res.out == "", res
        assert "the remote 'origin' cannot be reached" in res.err
    plant_records(first, {".coord/meta.toml": "format = 3\nrev = 1\n"}, "a newer gitcoord's store")
    git(first, "push", "-q", "origin", f"{SHARED}:{SHARED}")
    before = git(world.remote, "rev-parse", SHARED)

    res = run(world.clones[2], "migrate", "--json")

    assert res.code == 4 and res.out == "", res
    assert "is format 3, newer than this gitcoord knows (format 2); nothing was read or written." in res.err
    assert git(world.remote, "rev-parse", SHARED) == before


def test_a_check_in_that_keeps_its_claims_does_not_say_it_holds_none(local_repo: Path) -> None:
    assert run(local_repo, "claim", "src/a.py", "src/b.py", agent="alpha").code == 0
    assert run(local_repo, "check-in", agent="alpha").code == 0  # lease to spare: its own ref

    (entry, *_rest) = run(local_repo, "log", "--json").json()

    assert entry["ref"] == "refs/coord/agents/alpha", entry
    assert entry["subject"] == "alpha: check-in (keeps src/a.py src/b.py)", entry
    assert run(local_repo, "release", "--all", agent="alpha").code == 0
    assert run(local_repo, "check-in", agent="alpha").code == 0
    assert run(local_repo, "log", "--json").json()[0]["subject"] == "alpha: check-in (no claims)"
