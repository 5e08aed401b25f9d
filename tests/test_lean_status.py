"""The lean `status` (issue 13): a plain `status` in-process without click or pydantic, same output.

A session's first call runs in-process; `gitcoord.lean_status` answers a plain `status` (text and
--json) from the records as dicts, the conflict radar included. These tests check that it imports
neither click nor pydantic in a normal world, and that for a rich world (remote mode and local
mode) and for every case it hands over (a reviewed decision, allowed signers, a malformed record,
an unknown flag, no repository, a remote that is down) it prints exactly what the full path
(`GITCOORD_LEAN=0`) prints: stdout, stderr, exit code.
"""

from __future__ import annotations

import os
import re
import subprocess
from pathlib import Path

import pytest

from gitcoord.conflicts_index import index_path

from .conftest import GITCOORD, World, git, plant_records, run
from .test_field_merged import _commit, _team
from .test_lean_reads import (
    _connections,
    _counted_remote,
    _imported,
    _rich_world,
    assert_one_error_when_the_remote_is_down,
)

STATUS = [["status"], ["status", "--json"], ["status", "--no-fetch"], ["status", "--json", "--fetch"]]


def _call(
    cwd: Path, args: list[str], agent: str | None = "beta", **extra: str
) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if k != "GITCOORD_AGENT"}
    env.update(GITCOORD_WARM="0", **extra)
    if agent is not None:
        env["GITCOORD_AGENT"] = agent
    return subprocess.run(
        [*GITCOORD, "-C", str(cwd), *args], capture_output=True, text=True, env=env, timeout=120
    )


def _seen(res: subprocess.CompletedProcess[str]) -> tuple[int, str, str]:
    # "now" and `seconds_left` follow the wall clock, which moves between two processes.
    out = re.sub(r'"seconds_left": -?[0-9]+', '"seconds_left": N', res.stdout)
    out = re.sub(r'"now": "[^"]*"', '"now": T', out)
    out = re.sub(r"as of \S+", "as of T", out)
    return res.returncode, out, res.stderr


def _same(
    cwd: Path, args: list[str], agent: str | None = "beta", **extra: str
) -> subprocess.CompletedProcess[str]:
    # A pair run across a minute's edge may differ in a lease's state only: run it again.
    for _ in range(3):
        lean = _call(cwd, args, agent, **extra)
        full = _call(cwd, args, agent, GITCOORD_LEAN="0", **extra)
        if _seen(lean) == _seen(full):
            return lean
    assert _seen(lean) == _seen(full), args
    return lean


def _lean_taken(cwd: Path, args: list[str], agent: str | None = "beta") -> bool:
    """Whether the call ran without click and pydantic (the lean path answered it)."""
    env = dict(os.environ, GITCOORD_WARM="0")
    if agent is not None:
        env["GITCOORD_AGENT"] = agent
    res = subprocess.run(
        [GITCOORD[0], "-X", "importtime", *GITCOORD[1:], "-C", str(cwd), *args],
        capture_output=True,
        text=True,
        env=env,
        timeout=120,
    )
    seen = _imported(res.stderr)
    heavy = {m for m in seen if m.split(".")[0] in ("pydantic", "click", "rich")}
    return not heavy and "gitcoord.records" not in seen and "gitcoord.cli" not in seen


def _richer(world: World) -> Path:
    """The lean reads' world, and help requests, errors (with and without a trace), decisions
    (proposed, one approved without allowed signers), tasks in several states, an idle agent,
    a stale one, and agents on branches whose changes conflict (the radar has something to say)."""
    a, b, c = world.clones
    b = _rich_world(world)
    assert run(c, "start", "--agent", "gamma").code == 0  # idle: holds nothing
    assert run(world.clone("d"), "start", "--agent", "delta").code == 0
    assert (
        run(a, "request-help", "--to", "beta", "--priority", "urgent", "need [red]x", agent="alpha").code == 0
    )
    assert run(a, "request-help", "--to", "any", "--resource", "src/", "normal one", agent="alpha").code == 0
    trace = world.root / "trace.txt"
    trace.write_text("Traceback (most recent call last):\n  boom\n")
    assert (
        run(
            a,
            "log-error",
            "--type",
            "code_error",
            "--severity",
            "high",
            "--trace-file",
            str(trace),
            "500s",
            agent="alpha",
        ).code
        == 0
    )
    assert run(b, "log-error", "--type", "timeout", "--severity", "low", "flaky", agent="beta").code == 0
    for impact, title in (("high", "split the api"), ("low", "rename a flag")):
        assert (
            run(
                a,
                "log-decision",
                "--category",
                "api",
                "--impact",
                impact,
                "--rationale",
                "why",
                title,
                agent="alpha",
            ).code
            == 0
        )
    assert run(a, "decisions", "approve", "D-" + _last_decision(a), "--note", "go").code == 0
    assert run(a, "task", "add", "urgent thing", "--priority", "high", agent="alpha").code == 0
    assert run(b, "task", "next", agent="beta").code == 0
    for clone, agent in ((a, "alpha"), (b, "beta")):
        git(clone, "switch", "-q", "-c", f"{agent}-work")
        assert run(clone, "check-in", "-m", "on a branch", agent=agent).code == 0
    _commit(a, "README.md", "alpha's line\n", "alpha edits the readme")
    _commit(b, "README.md", "beta's line\n", "beta edits the readme")
    for clone, agent in ((a, "alpha"), (b, "beta")):
        git(clone, "push", "-q", "origin", f"{agent}-work")
        assert run(clone, "check-in", agent=agent).code == 0
    git(b, "fetch", "-q", "origin")
    return b


def _last_decision(repo: Path) -> str:
    ids = [d["id"] for d in run(repo, "decisions", "list", "--json").json()]
    return max(ids, key=lambda i: int(i.split("-")[1])).split("-")[1]


def test_status_is_answered_without_click_or_pydantic(world: World) -> None:
    b = _richer(world)
    for args in (["status"], ["status", "--json"], ["status", "--no-fetch"]):
        assert _lean_taken(b, args), args
    assert "README.md" in _call(b, ["status"]).stdout  # the radar's coming conflict is told


def test_lean_and_full_status_agree_in_a_rich_world(world: World) -> None:
    b = _richer(world)
    for args in STATUS:
        for agent in ("beta", "alpha", "gamma", None):
            _same(b, args, agent)
    _same(b, ["status", "--agent", "alpha"])
    _same(b, ["status", "--agent=gamma", "--json"])
    # Later: the short leases expire (grace), then die; the agent that promised a check-in goes stale.
    for skew in ("120", "900", "4000", "100000"):
        for args in STATUS[:2]:
            _same(b, args, GITCOORD_CLOCK_SKEW_SECONDS=skew)
    shown = _same(b, ["status"]).stdout
    assert "coming conflicts" in shown and "urgent help" in shown and "split the api" in shown


def test_lean_and_full_status_agree_in_local_mode(local_repo: Path, tmp_path: Path) -> None:
    alpha, beta = _team(local_repo, tmp_path)
    assert run(alpha, "claim", "src/*.py", "-m", "glob").code == 0
    assert run(beta, "claim", "docs/", "--shared").code == 0
    _commit(alpha, "README.md", "alpha's line\n", "alpha edits the readme")
    _commit(beta, "README.md", "beta's line\n", "beta edits the readme")
    assert run(beta, "check-in").code == 0
    for args in STATUS:
        for where in (alpha, beta, local_repo):
            _same(where, args, None)
    assert _lean_taken(alpha, ["status"], None)
    assert "README.md" in _call(alpha, ["status", "--json"], None).stdout
    # The radar rewrites the guard's index (and its cache) as the full path does, to the byte.
    index = index_path(local_repo / ".git")
    written = []
    for lean in ("1", "0"):
        index.unlink()
        assert _call(alpha, ["status"], None, GITCOORD_LEAN=lean).returncode == 0
        written.append(index.read_bytes())
    assert written[0] == written[1] and b"README.md" in written[0]


def test_an_empty_store_and_a_fresh_clone_agree(world: World, local_repo: Path) -> None:
    for args in STATUS:
        _same(world.clones[1], args)
        _same(local_repo, args, None)
    assert _lean_taken(local_repo, ["status"], None)


# -- what falls back, with the same output ---------------------------------------------------------


def test_a_reviewed_decision_with_allowed_signers_falls_back(world: World) -> None:
    b = _richer(world)
    (b / ".coord").mkdir(exist_ok=True)
    (b / ".coord" / "allowed_signers").write_text("human@example.com ssh-ed25519 AAAAC3Nz\n")
    config = b / ".coord" / "config.toml"
    before = config.read_text() if config.exists() else ""
    config.write_text(before + '\n[review]\nallowed_signers = ".coord/allowed_signers"\n')
    git(b, "add", ".coord")
    git(b, "commit", "-q", "--no-verify", "-m", "allowed signers")
    for args in STATUS[:2]:
        _same(b, args)
    assert not _lean_taken(b, ["status"])
    assert '"review_verified": false' in _call(b, ["status", "--json"]).stdout


@pytest.mark.parametrize(
    ("committed", "said"),
    [
        ('[review]\nallowed_signers = "/etc/passwd"\n', "must be a path inside the repository"),
        ("[review\n", "at HEAD is not valid TOML"),
    ],
)
def test_a_bad_committed_review_setting_says_the_same_error(world: World, committed: str, said: str) -> None:
    b = world.clones[1]
    (b / ".coord").mkdir(exist_ok=True)
    (b / ".coord" / "config.toml").write_text(committed)
    git(b, "add", ".coord")
    git(b, "commit", "-q", "--no-verify", "-m", "a bad setting")
    (b / ".coord" / "config.toml").write_text("")  # the work tree's own config is fine
    for args in (["status"], ["status", "--json", "--no-fetch"]):
        res = _same(b, args)
        assert res.returncode == 2 and said in res.stderr, res.stderr


def test_malformed_records_fall_back_with_the_same_warning(world: World) -> None:
    b = _richer(world)
    git(b, "fetch", "-q", "origin", "coord:coord")
    plant_records(
        b,
        {
            ".coord/agents/mallory.toml": 'name = "Mallory!"\n',
            ".coord/tasks/T-900.toml": "this is not toml = = \n",
            ".coord/errors/E-901.toml": 'id = "E-901"\nagent = "x"\n',
        },
    )
    git(b, "push", "-q", "origin", "coord")
    for args in STATUS:
        res = _same(b, args)
        for path in ("agents/mallory.toml", "tasks/T-900.toml", "errors/E-901.toml"):
            assert f"skipping malformed record .coord/{path}" in res.stderr, res.stderr
    assert not _lean_taken(b, ["status"])


def test_flags_it_does_not_know_and_no_repository_agree(world: World, tmp_path: Path) -> None:
    b = _richer(world)
    for args in (
        ["status", "--bogus"],
        ["status", "--json", "--json"],
        ["status", "--fetch", "--no-fetch"],
        ["status", "--agent", "Not A Name"],
        ["status", "--agent", " "],
        ["status", "--agent"],
        ["status", "extra"],
        ["status", "--help"],
    ):
        res = _same(b, args)
        assert res.returncode in (0, 2), (args, res.stderr)
    assert not _lean_taken(b, ["status", "--bogus"])
    nowhere = tmp_path / "nowhere"
    nowhere.mkdir()
    res = _same(nowhere, ["status"])
    assert res.returncode != 0 and res.stderr


def test_one_fetch_and_one_error_when_the_remote_is_down(world: World) -> None:
    assert_one_error_when_the_remote_is_down(
        world, _richer(world), (["status"], ["status", "--json", "--fetch"])
    )


def test_one_fetch_per_status_plain_and_falling_back(world: World) -> None:
    b = _richer(world)
    count = _counted_remote(world, b)
    for args in STATUS:
        _call(b, args)
        assert _connections(count) == (0 if "--no-fetch" in args else 1), args
    c = world.clones[2]
    git(c, "fetch", "-q", "origin", "coord:coord")
    plant_records(c, {".coord/tasks/T-900.toml": 'id = "X-900"\n'})
    git(c, "push", "-q", "origin", "coord")
    for args in STATUS:
        res = _call(b, args)
        assert res.returncode == 0 and res.stderr.count("skipping malformed record") == 1, res.stderr
        assert _connections(count) == (0 if "--no-fetch" in args else 1), args


def _on_terminal(cwd: Path, args: list[str], **extra: str) -> tuple[int, bytes]:
    """The call with its stdout on a terminal (a pty), as a person runs it: its exit code and bytes."""
    import pty

    env = dict(os.environ, GITCOORD_WARM="0", GITCOORD_AGENT="beta", COLUMNS="140", TERM="xterm", **extra)
    main, side = pty.openpty()
    proc = subprocess.Popen(
        [*GITCOORD, "-C", str(cwd), *args],
        stdin=subprocess.DEVNULL,
        stdout=side,
        stderr=subprocess.PIPE,
        env=env,
    )
    os.close(side)
    out = b""
    while True:
        try:
            chunk = os.read(main, 65536)
        except OSError:  # the other side closed (EIO on Linux)
            break
        if not chunk:
            break
        out += chunk
    os.close(main)
    assert proc.wait(timeout=120) is not None and proc.stderr is not None
    proc.stderr.close()
    return proc.returncode, out


def test_on_a_terminal_lean_and_full_draw_the_same(world: World) -> None:
    b = _richer(world)
    for _ in range(3):  # the header's time is to the minute: a pair across its edge runs again
        lean, full = _on_terminal(b, ["status"]), _on_terminal(b, ["status"], GITCOORD_LEAN="0")
        if lean == full:
            break
    assert lean == full
    assert lean[0] == 0 and b"coming conflicts" in lean[1] and b"\x1b[" in lean[1]
