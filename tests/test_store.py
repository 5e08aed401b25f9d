"""The store under stress: one clone shared by many processes, a hanging remote, the trail."""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

import pytest

from gitcoord import Coordinator, InvalidInput
from gitcoord.records import Claim

from .conftest import GITCOORD, World, git, make_repo, run, spawn


def test_many_processes_in_one_clone(world: World) -> None:
    """Ref-lock contention on fetch and on the tracking ref is normal and handled."""
    a = world.clones[0]
    procs = [
        subprocess.Popen(
            [*GITCOORD, "-C", str(a), "claim", f"same-clone/{i}.py"],
            env=dict(os.environ, GITCOORD_AGENT=f"p{i}"),
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for i in range(6)
    ]
    results = [(p.wait(timeout=120), p.stderr.read() if p.stderr else "") for p in procs]
    assert all(code == 0 for code, _ in results), results
    with Coordinator(world.clones[1]) as c:
        live = c.snapshot(fetch=True).records(Claim)
    assert sorted(c.resource for c in live) == sorted(f"same-clone/{i}.py" for i in range(6))


def test_hanging_remote_exit_4_within_timeout(world: World) -> None:
    b = world.clones[1]
    (b / ".coord").mkdir(exist_ok=True)
    (b / ".coord" / "config.toml").write_text("[store]\nremote_timeout_seconds = 2\n")
    git(b, "remote", "set-url", "origin", "ssh://hanging.invalid/repo.git")
    git(b, "update-ref", "-d", "refs/remotes/origin/coord")
    # The "ssh" connection hangs until the test ends it: only the remote timeout can end the command.
    release = world.root / "release-ssh"
    hang = f"sh -c 'i=0; while [ ! -e {release} ] && [ $i -lt 6000 ]; do sleep 0.1; i=$((i+1)); done' --"
    try:
        res = spawn(b, "claim", "x.py", agent="beta", env={"GIT_SSH_COMMAND": hang}, timeout=300)
    finally:
        release.touch()
    assert res.code == 4, res.err
    assert "cannot be reached" in res.err and "did not complete in 2 secs" in res.err


def test_remote_vanishes_after_local_copy_exit_4_nothing_diverges(world: World) -> None:
    a = world.clones[0]
    assert run(a, "claim", "first.py", agent="alpha").code == 0
    before = git(a, "rev-parse", "refs/remotes/origin/coord")
    world.remote.rename(world.root / "moved.git")
    res = run(a, "claim", "second.py", agent="alpha")
    assert res.code == 4 and "nothing was written" in res.err
    # The local copy did not move on its own: no divergent local state.
    assert git(a, "rev-parse", "refs/remotes/origin/coord") == before
    assert git(a, "rev-parse", "refs/heads/coord") == before


def test_every_write_is_one_commit_with_trailers(world: World) -> None:
    a = world.clones[0]
    run(a, "claim", "t1.py", "t2.py", agent="alpha")
    body = git(world.remote, "log", "-1", "--format=%B", "coord")
    assert body.splitlines()[0] == "alpha: claim t1.py t2.py"
    assert "Coord-Agent: alpha" in body and "Coord-Action: claim" in body
    assert "Coord-Rev: 2" in body and "Coord-Records: C-1, C-2, alpha" in body
    # The commit's author is the machine's git identity; the agent is in the trailer.
    assert git(world.remote, "log", "-1", "--format=%an <%ae>", "coord") == "Test Human <human@example.com>"
    meta = git(world.remote, "show", "coord:.coord/meta.toml")
    assert "rev = 2" in meta
    claim = git(world.remote, "show", "coord:.coord/claims/C-1.toml")
    assert 'resource = "t1.py"' in claim and "created_rev = 2" in claim and 'expires_at = "20' in claim


def test_local_mode_lost_race_is_retried(local_repo: Path) -> None:
    """Many writers on one ref with update-ref CAS: all land, nothing is lost."""
    procs = [
        subprocess.Popen(
            [*GITCOORD, "-C", str(local_repo), "claim", f"l/{i}.py"],
            env=dict(os.environ, GITCOORD_AGENT=f"l{i}"),
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for i in range(6)
    ]
    assert all(p.wait(timeout=120) == 0 for p in procs)
    log = git(local_repo, "log", "--format=%s", "coord").splitlines()
    assert len([line for line in log if ": claim " in line]) == 6
    revs = git(local_repo, "log", "--format=%(trailers:key=Coord-Rev,valueonly)", "coord").split()
    assert revs == [str(n) for n in range(6, -1, -1)]


def test_single_branch_clone_sees_its_own_writes(world: World) -> None:
    """A push does not update a tracking ref its refspec does not map; the store does."""
    solo = world.root / "solo"
    git(world.root, "clone", "-q", "--single-branch", "--branch", "main", str(world.remote), str(solo))
    assert run(solo, "claim", "src/s.py", agent="sam").code == 0
    assert [c["resource"] for c in run(solo, "claims", "--no-fetch", "--json").json()] == ["src/s.py"]
    assert git(solo, "rev-parse", "refs/heads/coord") == git(world.remote, "rev-parse", "coord")


def test_push_that_landed_before_a_timeout_is_a_success(world: World) -> None:
    b = world.clones[1]
    (b / ".coord").mkdir(exist_ok=True)
    # A timeout generous enough for a loaded machine to land the push (and update the tracking ref,
    # which the client does on the remote's report, before post-receive runs) well within it.
    (b / ".coord" / "config.toml").write_text("[store]\nremote_timeout_seconds = 6\n")
    go = world.root / "go"
    hook = world.remote / "hooks" / "post-receive"
    # Runs after the ref moved: the push lands, then hangs until the call is over (at most 120 s).
    hook.write_text(f"#!/bin/sh\nfor i in $(seq 1200); do [ -e '{go}' ] && exit 0; sleep 0.1; done\n")
    hook.chmod(0o755)
    try:
        res = run(b, "send", "--to", "any", "hello", agent="beta")
    finally:
        go.touch()
    assert res.code == 0, res.err
    hook.unlink()
    assert len(run(world.clones[0], "inbox", "--all", "--json", agent="alpha").json()) == 1


def test_remote_hook_refusal_is_exit_3_with_its_reason(world: World) -> None:
    b = world.clones[1]
    hook = world.remote / "hooks" / "pre-receive"
    hook.write_text("#!/bin/sh\necho 'coord writes frozen for maintenance' >&2\nexit 1\n")
    hook.chmod(0o755)
    res = run(b, "claim", "x.py", agent="beta")
    assert res.code == 3, res.err
    assert "refused the write" in res.err and "pre-receive" in res.err


def test_local_store_is_published_when_a_remote_arrives(tmp_path: Path) -> None:
    repo = make_repo(tmp_path / "grow")
    assert run(repo, "init").code == 0
    assert run(repo, "claim", "src/a.py", agent="alpha").code == 0
    bare = tmp_path / "grow.git"
    git(tmp_path, "init", "-q", "--bare", str(bare))
    git(repo, "remote", "add", "origin", str(bare))
    git(repo, "push", "-q", "origin", "main")
    assert run(repo, "init", "--json").json()["created"] is True
    assert [c["resource"] for c in run(repo, "claims", "--json").json()] == ["src/a.py"]
    assert git(bare, "log", "--format=%s", "coord").splitlines()[-1] == "gitcoord: init coord store"


def test_a_code_branch_is_never_used_as_the_store(tmp_path: Path) -> None:
    repo = make_repo(tmp_path / "code")
    head = git(repo, "rev-parse", "HEAD")
    res = run(repo, "init", "--branch", "main")
    assert res.code == 2 and "not a coord store" in res.err
    (repo / ".coord").mkdir()
    (repo / ".coord" / "config.toml").write_text('[coord]\nbranch = "main"\n')
    res = run(repo, "claim", "x.py", agent="alpha")
    assert res.code == 2 and "not a coord store" in res.err
    assert (
        git(repo, "rev-parse", "HEAD") == head
        and git(repo, "status", "--porcelain", "--untracked-files=no") == ""
    )


def test_init_never_publishes_a_code_branch_named_coord(world: World, tmp_path: Path) -> None:
    bare = tmp_path / "fresh.git"
    git(tmp_path, "init", "-q", "--bare", str(bare))
    clone = world.root / "fresh"
    git(world.root, "clone", "-q", str(world.remote), str(clone))
    git(clone, "remote", "set-url", "origin", str(bare))
    git(clone, "update-ref", "-d", "refs/heads/coord")
    git(clone, "update-ref", "-d", "refs/remotes/origin/coord")
    git(clone, "branch", "coord", "main")  # a code branch that happens to be called coord
    res = run(clone, "init")
    assert res.code == 2 and "not a coord store" in res.err
    assert git(bare, "branch", "--list", "coord") == ""


def test_a_push_the_remote_accepted_is_a_success_whatever_git_exits_with(world: World) -> None:
    b = world.clones[1]
    hook = world.remote / "hooks" / "post-receive"
    # Runs after the ref moved, says something alarming, and drops the connection.
    hook.write_text(
        "#!/bin/sh\necho 'cannot stat: No such file or directory' >&2\nsleep 0.3\nkill -9 $PPID\n"
    )
    hook.chmod(0o755)
    res = run(b, "send", "--to", "any", "hello", agent="beta")
    hook.unlink()
    assert res.code == 0, res.err
    assert len(run(world.clones[0], "inbox", "--all", "--json", agent="alpha").json()) == 1


def test_a_lost_revision_count_never_reuses_ids_or_tokens(world: World) -> None:
    a = world.clones[0]
    first = run(a, "claim", "f0.py", "f1.py", "f2.py", "--json", agent="alpha").json()
    assert run(a, "release", "f1.py", "f2.py", agent="alpha").code == 0
    hand = world.root / "hand"
    git(world.root, "clone", "-q", "--branch", "coord", str(world.remote), str(hand))
    (hand / ".coord" / "meta.toml").write_text("")
    git(hand, "commit", "-q", "-am", "emptied by hand")
    git(hand, "push", "-q", "origin", "coord")
    res = run(world.clones[1], "claim", "g.py", "--json", agent="beta")
    assert res.code == 0, res.err
    assert "meta.toml" in res.err  # reported, not silently reset
    new = res.json()[0]
    assert new["id"] not in {c["id"] for c in first}
    assert new["token"] > max(c["token"] for c in first)


def test_a_remote_that_cannot_unpack_is_exit_4_not_a_hook_refusal(world: World) -> None:
    b = world.clones[1]
    git(world.remote, "config", "receive.maxInputSize", "10")
    res = run(b, "claim", "big.py", agent="beta")
    assert res.code == 4, res.err
    assert "hook" not in res.err


def test_git_that_cannot_start_says_why(local_repo: Path) -> None:
    """subprocess reports a missing working directory and a missing git the same way; we do not."""
    no_git = run(local_repo, "claims", env={"PATH": str(local_repo / "no-such-bin")})
    assert no_git.code == 4 and "git is not installed or not on PATH" in no_git.err
    with Coordinator(local_repo, agent="alpha") as coord:
        shutil.rmtree(local_repo)
        with pytest.raises(InvalidInput, match="no longer exists"):
            coord.claim(["a.py"])
