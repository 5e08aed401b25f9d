"""Faults from outside: corrupted records on the coord branch, a remote that vanishes or hangs.

tests/test_core.py checks one unparsable claim against `status` and `claim`, and
tests/test_doctor.py that `doctor` lists it; tests/test_store.py that a remote
hanging on connect, or gone before a command starts, gives exit 4. Here:

- a corrupted record of *every* kind, corrupted in different ways (not TOML,
  not UTF-8, truncated, missing fields, a value of the wrong type or outside
  its choices, empty), pushed to the coord branch by hand: every read skips
  each with a `gitcoord: warning:` line naming it, `doctor --json` reports all
  of them with the fix, and every kind of write goes on;
- a corrupted `.coord/meta.toml`;
- the remote renamed away while a `claim --wait` loop is running, and a remote
  whose pre-receive hook hangs past `store.remote_timeout_seconds`: exit 4
  without waiting out the fault (the wait loop's fetches are counted, the hook
  is held until the client has answered), the clone's copy of the branch not
  moved, nothing landed behind the client's back, and the next write after the
  fault is fine. Nothing here depends on how fast the machine is.
"""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

from ..conftest import GITCOORD, World, fetches, git, run, spawn, wait_for

_T = "2020-01-01T00:00:00Z"
# One broken record per directory, each broken in its own way.
CORRUPT: dict[str, bytes] = {
    ".coord/claims/C-900.toml": b"this is = = not toml\n",
    ".coord/tasks/T-901.toml": b'id = "T-901"\ntitle = "no creator, no date"\n',
    ".coord/messages/M-902.toml": b'id = "M-902"\nbody = "\xff\xfe not utf-8"\n',
    ".coord/errors/E-903.toml": (
        f'id = "E-903"\nagent = "zed"\ntype = "other"\nseverity = "apocalyptic"\n'
        f'message = "m"\ncreated_at = "{_T}"\n'
    ).encode(),
    ".coord/decisions/D-904.toml": (
        b'id = "D-904"\nagent = "zed"\ncategory = "c"\nimpact = "low"\ntitle = "t"\n'
        b'rationale = "r"\ncreated_at = [1, 2]\n'
    ),
    ".coord/help/H-905.toml": b'id = "H-905"\nfrom_agent = "zed"\nto = "any"\nmessage = "half a rec',
    ".coord/agents/zed.toml": b"",
    ".coord/summaries/zed/2020-01-01.toml": b"[[[\n",
}
# Which read shows which broken record (the command must warn about it by path).
# `status` shows no messages or summaries, so it does not read them.
IN_STATUS = sorted(p for p in CORRUPT if "/summaries/" not in p and "/messages/" not in p)
READS: list[tuple[list[str], list[str]]] = [
    (["status", "--json"], IN_STATUS),
    (["claims", "--json"], [".coord/claims/C-900.toml"]),
    (["task", "list", "--json"], [".coord/tasks/T-901.toml"]),
    (["inbox", "--json"], [".coord/messages/M-902.toml"]),
    (["errors", "list", "--json"], [".coord/errors/E-903.toml"]),
    (["decisions", "list", "--json"], [".coord/decisions/D-904.toml"]),
    (["help-requests", "list", "--json"], [".coord/help/H-905.toml"]),
    (["summaries", "list", "--json"], [".coord/summaries/zed/2020-01-01.toml"]),
    (
        ["start", "--json"],
        [".coord/messages/M-902.toml", ".coord/help/H-905.toml", ".coord/tasks/T-901.toml"],
    ),
]


def _push_by_hand(world: World, files: dict[str, bytes]) -> None:
    """Commit files onto the remote's coord branch from a plain clone, as a careless human would."""
    work = world.root / "hand"
    if not work.exists():
        git(world.root, "clone", "-q", "--branch", "coord", str(world.remote), str(work))
    git(work, "pull", "-q", "--ff-only", "origin", "coord")
    for path, data in files.items():
        (work / path).parent.mkdir(parents=True, exist_ok=True)
        (work / path).write_bytes(data)
    git(work, "add", "-A", ".coord")
    git(work, "commit", "-q", "-m", "by hand")
    git(work, "push", "-q", "origin", "coord")


def _warned(err: str, path: str) -> bool:
    return any(
        line.startswith(f"gitcoord: warning: skipping malformed record {path}:") for line in err.splitlines()
    )


def test_corrupted_records_of_every_kind_are_skipped_reported_and_writes_go_on(world: World) -> None:
    a, b = world.clones[0], world.clones[1]
    assert run(a, "claim", "ok.py", agent="alpha").code == 0
    _push_by_hand(world, CORRUPT)
    for argv, paths in READS:
        res = run(b, *argv, agent="beta")
        assert res.code == 0 and "Traceback" not in res.err, (argv, res.err)
        for path in paths:
            assert _warned(res.err, path), (argv, path, res.err)
    status = run(b, "status", "--json", agent="beta").json()
    assert sorted(status["skipped"]) == IN_STATUS
    assert [c["resource"] for c in status["claims"]] == ["ok.py"]  # the good record is still read
    doctor = run(b, "doctor", "--json", agent="beta")
    assert doctor.code == 3 and "Traceback" not in doctor.err
    records = next(f for f in doctor.json()["findings"] if f["check"] == "records")
    assert records["level"] == "problem" and f"{len(CORRUPT)} malformed record(s)" in records["message"]
    for path in CORRUPT:
        assert path in records["message"], path
    assert "git show coord:PATH" in records["fix"] and "fix or delete" in records["fix"]
    # Every kind of write goes on, next to the broken records of its own kind.
    for argv in (
        ["claim", "more.py"],
        ["check-in", "--progress", "10"],
        ["task", "add", "t", "--resource", "t.py"],
        ["task", "next"],
        ["send", "--to", "any", "still here"],
        ["request-help", "--to", "any", "h"],
        ["log-error", "--type", "other", "--severity", "low", "e"],
        ["log-decision", "--category", "c", "--impact", "low", "--rationale", "r", "d"],
        ["daily-summary", "--completed", "c", "--next", "n"],
        ["inbox", "--mark-read"],
        ["release", "more.py"],
    ):
        res = run(b, *argv, agent="beta")
        assert res.code == 0 and "Traceback" not in res.err, (argv, res.err)
    # The writes neither lost the broken files nor the good ones: doctor still sees exactly those.
    again = next(
        f for f in run(a, "doctor", "--json", agent="alpha").json()["findings"] if f["check"] == "records"
    )
    assert f"{len(CORRUPT)} malformed record(s)" in again["message"]
    mine = run(a, "claims", "--json", agent="alpha").json()
    # alpha's claim, the one `task next` took for beta; more.py was released.
    assert [(c["resource"], c["agent"]) for c in mine] == [("ok.py", "alpha"), ("t.py", "beta")]


def test_a_fixed_record_is_read_again(world: World) -> None:
    """The doctor's fix works: rewrite the file by a commit on the coord branch, the warning goes."""
    a = world.clones[0]
    _push_by_hand(world, {".coord/claims/C-900.toml": b"= broken\n"})
    assert _warned(run(a, "claims", agent="alpha").err, ".coord/claims/C-900.toml")
    (world.root / "hand" / ".coord/claims/C-900.toml").unlink()
    git(world.root / "hand", "commit", "-q", "-am", "remove the broken record")
    git(world.root / "hand", "push", "-q", "origin", "coord")
    res = run(a, "doctor", "--json", agent="alpha")
    records = next(f for f in res.json()["findings"] if f["check"] == "records")
    assert records["level"] == "ok", records
    assert "warning" not in run(a, "claims", agent="alpha").err


def test_corrupted_meta_is_reported_not_a_crash(world: World) -> None:
    a = world.clones[0]
    assert run(a, "claim", "ok.py", agent="alpha").code == 0
    _push_by_hand(world, {".coord/meta.toml": b"rev = = 3\n"})
    status = run(a, "status", "--json", agent="alpha")
    assert status.code == 0 and "Traceback" not in status.err, status.err
    assert ".coord/meta.toml" in status.err
    doctor = run(a, "doctor", "--json", agent="alpha")
    assert doctor.code == 3 and "Traceback" not in doctor.err, doctor.err
    assert any(".coord/meta.toml" in f["message"] and f["fix"] for f in doctor.json()["findings"])
    # A write goes on without reusing an id that is already taken.
    more = run(a, "claim", "more.py", "--json", agent="alpha")
    assert more.code == 0, more.err
    assert more.json()[0]["id"] != "C-1"


# -- the remote goes away or hangs mid-operation ----------------------------------------------------


def _refs(clone: Path) -> tuple[str, str]:
    return (git(clone, "rev-parse", "refs/remotes/origin/coord"), git(clone, "rev-parse", "refs/heads/coord"))


def test_remote_renamed_during_a_wait_loop_exit_4_promptly_nothing_diverges(world: World) -> None:
    a, b = world.clones[0], world.clones[1]
    assert run(b, "claim", "hot.py", agent="beta").code == 0
    trace = world.root / "waiter.trace"
    proc = subprocess.Popen(
        [*GITCOORD, "-C", str(a), "claim", "hot.py", "--wait", "600"],
        env=dict(os.environ, GITCOORD_AGENT="alpha", GIT_TRACE=str(trace)),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        # In the wait loop: refused at least once on the remote's tip (each attempt fetches).
        wait_for(lambda: fetches(trace) >= 2 or proc.poll() is not None, "the --wait loop to start")
        assert proc.poll() is None, "the --wait loop ended before the remote went away"
        tip = git(world.remote, "rev-parse", "coord")
        gone = world.root / "gone.git"
        world.remote.rename(gone)
        before = fetches(trace)
        _out, err = proc.communicate(timeout=300)  # far inside the 600 s of --wait
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.communicate()
    assert proc.returncode == 4, err
    assert "cannot be reached" in err and "Traceback" not in err
    # Promptly, counted in attempts rather than seconds: the fetch that failed ends the wait (one
    # more may have been under way when the remote went), where a loop that retried would go on.
    assert fetches(trace) - before <= 2, trace.read_text()
    # The clone's copy is the remote's tip: it saw beta's claim and invented nothing.
    assert _refs(a) == (tip, tip)
    gone.rename(world.remote)
    assert git(world.remote, "rev-parse", "coord") == tip
    refused = run(a, "claim", "hot.py", agent="alpha")
    assert refused.code == 3 and "beta" in refused.err
    assert run(a, "claim", "cool.py", agent="alpha").code == 0


def _hanging_pre_receive(remote: Path, release: Path, marker: Path, pid_file: Path) -> None:
    """A pre-receive hook that hangs until `release` exists, then touches `marker`. `pid_file`
    gets its pid and its receive-pack's (which would update the ref after it)."""
    hook = remote / "hooks" / "pre-receive"
    hook.write_text(
        f"#!/bin/sh\ncat >/dev/null\necho $$ $PPID > '{pid_file}'\n"
        f"i=0\nwhile [ ! -e '{release}' ] && [ $i -lt 6000 ]; do sleep 0.1; i=$((i+1)); done\n"
        f"touch '{marker}'\n"
    )
    hook.chmod(0o755)


def _gone(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return True
    return False


def test_remote_hanging_in_pre_receive_exit_4_within_timeout_nothing_lands(world: World) -> None:
    a = world.clones[0]
    assert run(a, "claim", "first.py", agent="alpha").code == 0
    (a / ".coord").mkdir(exist_ok=True)
    (a / ".coord" / "config.toml").write_text("[store]\nremote_timeout_seconds = 5\n")
    before = git(world.remote, "rev-parse", "coord")
    assert _refs(a) == (before, before)
    release, marker, pid_file = (
        world.root / "release",
        world.root / "hook-finished",
        world.root / "receive-pack.pid",
    )
    _hanging_pre_receive(world.remote, release, marker, pid_file)
    # The hook hangs until this test lets it go: only the client's own timeout can end the push.
    res = spawn(a, "claim", "second.py", agent="alpha", timeout=300)
    assert res.code == 4, res.err
    assert "cannot be reached" in res.err and "nothing was written" in res.err and "Traceback" not in res.err
    assert not marker.exists()  # the client gave up while the remote still hung
    # Let the server side go on behind the client's back (if the client's timeout did not end it),
    # and wait until the hook and its receive-pack are gone: then the ref cannot move any more.
    assert pid_file.exists()
    server = [int(pid) for pid in pid_file.read_text().split()]
    release.touch()
    wait_for(lambda: all(_gone(pid) for pid in server), "the remote's hook and receive-pack to end")
    assert git(world.remote, "rev-parse", "coord") == before
    assert _refs(a) == (before, before)
    (world.remote / "hooks" / "pre-receive").unlink()
    done = run(a, "claim", "second.py", "--json", agent="alpha")
    assert done.code == 0, done.err
    assert git(world.remote, "rev-parse", "coord^") == before
    assert "second.py" in git(world.remote, "log", "-1", "--format=%s", "coord")
