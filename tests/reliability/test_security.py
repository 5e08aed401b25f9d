"""Security promises: paths stay under `.coord/`, agents do not review, overrides are on record.

- Record ids and agent names never address a path outside `.coord/`: `../`,
  absolute, percent-encoded, backslashed and Unicode look-alike variants go
  through every command that takes an id or a name, every way an identity can
  be given, and the Python API (`Coordinator`, `gitcoord.agent_utils`). Each
  is refused (exit 2, or 3 where a look-alike is a valid but unheld resource),
  and afterwards every path of the coord tree is under `.coord/` with no `..`
  or empty segment, and `git fsck --strict` is clean. The same holds when the
  hostile id or name is *inside* a record someone pushed to the coord branch.
- An agent cannot approve or reject a decision, whichever way its identity is
  given (--agent is covered by tests/test_protocol.py; here: GITCOORD_AGENT,
  the worktree identity of `gitcoord start`, git config coord.agent, the
  Python API); a human in the same repository can.
- A forced release (refused for agents, CLI and API) and a hook override are
  always in the coord history with who and why, and the why cannot forge
  other trailers.
"""

from __future__ import annotations

import os
import re
import subprocess
from pathlib import Path

import pytest

from gitcoord import Coordinator, agent_utils
from gitcoord.errors import GitcoordError, InvalidInput, Refused

from ..conftest import World, git, plant_records, run

# Ids and names that try to leave `.coord/<kind>/`: relative, absolute, encoded, Windows-style,
# Unicode look-alikes (fullwidth solidus and dots, division slash, NFKC-folding digits and letters),
# and valid-looking ids with a tail.
HOSTILE = [
    "../x",
    "../../evil",
    "../../../../etc/passwd",
    "/etc/passwd",
    "//server/share",
    "..",
    ".",
    "",
    "C-1/../../x",
    "C-1/..",
    "T-1/../../evil",
    "M-1/../x",
    "..%2F..%2Fevil",
    "%2e%2e/evil",
    "C-%2e%2e",
    "..\\..\\evil",
    "C-1\\..\\x",
    "\uff0e\uff0e\uff0fevil",
    "\u2025/evil",
    "C-1\u2215..\u2215x",
    "C-\uff11",
    "\uff23-1",
    "C-\u0663",
    "C-1\u200b",
    "\u202eC-1",
    "C-1 ",
    " C-1",
    "C-0",
    "C-01",
    "~/.ssh/id_rsa",
    "$HOME/x",
    "a/b",
    "alpha/../beta",
    "al\u0307pha",
]
NAMES = [h for h in HOSTILE if h] + ["Alpha", "ALPHA", "\u0430lpha", "alpha\u0301", "-alpha", "a" * 41]


def _coord_paths(repo: Path, ref: str = "refs/heads/coord") -> list[str]:
    out = subprocess.run(
        ["git", "ls-tree", "-r", "-t", "-z", "--full-tree", "--name-only", ref],
        cwd=repo,
        capture_output=True,
        check=True,
    ).stdout
    return [p.decode(errors="surrogateescape") for p in out.split(b"\0") if p]


def _assert_contained(repo: Path, ref: str = "refs/heads/coord") -> None:
    """Every entry of the coord tree is `.coord` or below it, with no `..`, `.` or empty segment."""
    for path in _coord_paths(repo, ref):
        assert path == ".coord" or path.startswith(".coord/"), f"{path!r} is outside .coord/"
        assert not {"..", ".", ""} & set(path.split("/")), f"{path!r} has a hostile segment"
    fsck = subprocess.run(
        ["git", "fsck", "--no-progress", "--strict"], cwd=repo, capture_output=True, text=True
    )
    assert fsck.returncode == 0, fsck.stdout + fsck.stderr


def _refused(res: object, *codes: int, said: str) -> None:
    """Refused with one of `codes`, and the first line says what `said` (a regular expression) says."""
    code, err = res.code, res.err  # type: ignore[attr-defined]
    assert code in codes, (code, err)
    assert "Traceback" not in err and err.strip(), err
    assert re.search(said, err.splitlines()[0]), err


# The record kind each id command expects, as its refusal names it.
_ID_KIND = {"help-requests": "H", "inbox": "M", "send": "M", "task": "T", "errors": "E", "decisions": "D"}


@pytest.fixture
def seeded(local_repo: Path) -> Path:
    """A repository holding one record of every kind, so an id that slipped through would find one."""
    r = local_repo
    assert run(r, "claim", "src/a.py", agent="alpha").code == 0
    for args in (
        ["task", "add", "t", "--resource", "src/t.py"],
        ["send", "--to", "beta", "hi"],
        ["request-help", "--to", "beta", "help"],
        ["log-error", "--type", "other", "--severity", "low", "e"],
        ["log-decision", "--category", "c", "--impact", "low", "--rationale", "r", "d"],
    ):
        res = run(r, *args, agent="alpha")
        assert res.code == 0, (args, res.err)
    return r


ID_COMMANDS: list[list[str]] = [
    ["help-requests", "ack", "{}"],
    ["help-requests", "resolve", "{}", "--note", "n"],
    ["inbox", "--mark-read", "{}"],
    ["send", "--to", "beta", "--reply-to", "{}", "hello"],
    ["task", "done", "{}"],
    ["task", "block", "{}", "--reason", "r"],
    ["task", "unblock", "{}"],
    ["task", "add", "x", "--depends-on", "{}"],
    ["errors", "resolve", "{}", "--note", "n"],
    ["decisions", "implement", "{}"],
    ["release", "{}"],
]


@pytest.mark.parametrize("argv", ID_COMMANDS, ids=lambda a: " ".join(a[:2]))
def test_hostile_ids_through_every_id_command(seeded: Path, argv: list[str]) -> None:
    for hostile in HOSTILE:
        if hostile == "" and "--reply-to" in argv:
            continue  # an empty --reply-to means "not a reply"
        args = [a.replace("{}", hostile) for a in argv]
        res = run(seeded, *args, agent="beta")
        # release also takes resources: a look-alike that is a valid path is simply not held (3).
        if argv[0] == "release":
            _refused(
                res,
                2,
                3,
                said=r"^gitcoord: (The resource\b.*\b(is|contains)\b|release refused: you hold no claim on )",
            )
        else:
            _refused(res, 2, said=rf"^gitcoord: '.*' is not a valid {_ID_KIND[argv[0]]}- id\.$")
    for verb in ("approve", "reject"):  # as a human, so the id check is what refuses
        for hostile in HOSTILE:
            _refused(
                run(seeded, "decisions", verb, hostile), 2, said=r"^gitcoord: '.*' is not a valid D- id\.$"
            )
    _assert_contained(seeded)


@pytest.mark.parametrize("how", ["--agent", "env", "git-config", "worktree-file"])
def test_hostile_agent_names_every_way_an_identity_is_given(seeded: Path, how: str) -> None:
    identity = seeded / ".git" / "gitcoord-state" / "agent"
    for name in NAMES:
        extra: list[str] = []
        env: dict[str, str] = {}
        if how == "--agent":
            extra = ["--agent", name]
        elif how == "env":
            env = {"GITCOORD_AGENT": name}
        elif how == "git-config":
            git(seeded, "config", "coord.agent", name)
        else:
            identity.parent.mkdir(parents=True, exist_ok=True)
            identity.write_text(name + "\n", encoding="utf-8")
        for argv in (
            ["claim", "ok/path.py"],
            ["start"],
            ["daily-summary", "--completed", "c", "--next", "n"],
            ["send", "--to", "any", "m"],
            ["check-in"],
        ):
            res = run(seeded, *argv, *extra, env=env)
            _refused(res, 2, said="is not a valid agent name")
    _assert_contained(seeded)


def test_hostile_names_as_recipients_assignees_and_filters(seeded: Path) -> None:
    for name in NAMES:
        _refused(run(seeded, "send", "--to", name, "hi", agent="alpha"), 2, said="is not a valid recipient")
        _refused(
            run(seeded, "request-help", "--to", name, "hi", agent="alpha"), 2, said="is not a valid recipient"
        )
        _refused(
            run(seeded, "task", "add", "t", "--assign", name, agent="alpha"),
            2,
            said="is not a valid agent name",
        )
        _refused(run(seeded, "summaries", "list", "--agent", name), 2, said="is not a valid agent name")
    _assert_contained(seeded)


def test_python_api_refuses_hostile_ids_and_names(seeded: Path) -> None:
    for name in NAMES:
        with pytest.raises(InvalidInput):
            Coordinator(seeded, agent=name)
        with pytest.raises(InvalidInput):
            agent_utils.claim_resource(name, "ok.py", repo_path=seeded)
        with pytest.raises(InvalidInput):
            agent_utils.startup_protocol(name, repo_path=seeded)
        with pytest.raises(InvalidInput):
            agent_utils.write_daily_summary(name, 1, "c", "n", repo_path=seeded)
        with pytest.raises(InvalidInput):
            agent_utils.request_help("alpha", name, "m", repo_path=seeded)
    with Coordinator(seeded, agent="beta") as c:

        def reply(i: str) -> object:
            return c.send("alpha", "m", reply_to=i or "-")  # an empty reply_to means "not a reply"

        calls = [
            c.ack_help,
            lambda i: c.resolve_help(i, "n"),
            lambda i: c.mark_read([i]),
            reply,
            lambda i: c.done_task(i),
            lambda i: c.unblock_task(i),
            lambda i: c.block_task(i, reason="r"),
            lambda i: c.resolve_error(i, "n"),
            c.implement_decision,
            lambda i: c.add_task("x", depends_on=[i]),
            lambda i: c.summaries(agent=i),
        ]
        for call in calls:
            for hostile in HOSTILE:
                with pytest.raises(InvalidInput):
                    call(hostile)
        for hostile in HOSTILE:
            with pytest.raises((InvalidInput, Refused)):
                c.release([hostile])
            with pytest.raises((InvalidInput, Refused)):
                c.approve_decision(hostile, reviewer="human:h@example.com")
    for hostile in filter(None, HOSTILE):  # None/"" means "all my claims" there
        # A look-alike that is a valid resource is just not held: False, as the original answered.
        try:
            renewed = agent_utils.check_in("alpha", hostile, repo_path=seeded)
        except GitcoordError:
            renewed = False
        assert renewed is False, hostile
        with pytest.raises(GitcoordError):
            agent_utils.claim_resource("alpha", "../" + hostile, repo_path=seeded)
        with pytest.raises(GitcoordError):
            agent_utils.claim_resource("alpha", "/" + hostile, repo_path=seeded)
    _assert_contained(seeded)


# -- hostile values inside records pushed to the coord branch ----------------------------------


_CLAIM = (
    'id = "{id}"\nagent = "alpha"\nresource = "src/{n}.py"\nmode = "exclusive"\ntoken = 90\n'
    'created_at = "2020-01-01T00:00:00Z"\nlast_check_in = "2020-01-01T00:00:00Z"\n'
    'expires_at = "2999-01-01T00:00:00Z"\n'
)
_TASK = (
    'id = "{id}"\ntitle = "planted"\nstatus = "todo"\ncreated_by = "zed"\n'
    'created_at = "2020-01-01T00:00:00Z"\n'
)
_MESSAGE = (
    'id = "{id}"\nfrom_agent = "zed"\nto = "alpha"\nbody = "planted"\ncreated_at = "2020-01-01T00:00:00Z"\n'
)


_PLANTS: dict[str, dict[str, str]] = {
    "claim-id-relative": {".coord/claims/C-90.toml": _CLAIM.format(id="../../evil", n=90)},
    "claim-id-absolute": {".coord/claims/C-91.toml": _CLAIM.format(id="/abs", n=91)},
    "task-id": {".coord/tasks/T-92.toml": _TASK.format(id="../../../task-evil")},
    "message-id": {".coord/messages/M-93.toml": _MESSAGE.format(id="../../msg-evil")},
    "agent-name": {".coord/agents/alpha.toml": 'name = "../../agent-evil"\n'},
}
# Each of these rewrites records it read from the tree: the claims (check-in, release), the task
# (next), the messages (mark-read), and alpha's own agent record (every write alpha makes).
_REWRITES = (
    ["check-in"],
    ["task", "next"],
    ["inbox", "--mark-read"],
    ["release", "--all"],
    ["claim", "z.py"],
)


@pytest.mark.parametrize("plant", list(_PLANTS))
def test_hostile_ids_inside_pushed_records_never_leave_coord(local_repo: Path, plant: str) -> None:
    plant_records(local_repo, _PLANTS[plant])
    for argv in _REWRITES:
        run(local_repo, *argv, agent="alpha")
        _assert_contained(local_repo)


@pytest.mark.parametrize("plant", list(_PLANTS))
def test_hostile_ids_inside_pushed_records_are_handled_cleanly(local_repo: Path, plant: str) -> None:
    plant_records(local_repo, _PLANTS[plant])
    for argv in _REWRITES:
        res = run(local_repo, *argv, agent="alpha")
        assert res.code != 1 and "Traceback" not in res.err, (argv, res.err)
    # Whatever it is, a record alpha was told it released is gone, or the release was refused
    # (z.py is the claim the last rewrite takes, after the release).
    left = subprocess.run(
        ["git", "ls-tree", "--name-only", "refs/heads/coord", ".coord/claims/"],
        cwd=local_repo,
        capture_output=True,
        text=True,
        check=True,
    ).stdout.split()
    claims = run(local_repo, "claims", "--json", agent="alpha").json()
    assert not [c for c in claims if c["agent"] == "alpha" and c["resource"] != "z.py"], (left, claims)


# -- reviews are for humans ---------------------------------------------------------------------------


def _proposed(repo: Path) -> str:
    res = run(
        repo,
        "log-decision",
        "--category",
        "api",
        "--impact",
        "high",
        "--rationale",
        "r",
        "Use JWT",
        "--json",
        agent="beta",
    )
    assert res.code == 0, res.err
    return str(res.json()["id"])


def test_agents_cannot_review_whichever_way_they_are_named(local_repo: Path, tmp_path: Path) -> None:
    r = local_repo
    wt = tmp_path / "wt-alpha"
    git(r, "worktree", "add", "-q", str(wt))
    assert run(wt, "start", agent="alpha").code == 0  # wt now is alpha's worktree, r still nobody's
    did, other = _proposed(r), _proposed(r)
    for verb in ("approve", "reject"):
        # The environment variable.
        res = run(r, "decisions", verb, did, env={"GITCOORD_AGENT": "alpha"})
        assert res.code == 3 and "human act" in res.err, res.err
        # The identity `gitcoord start` left in this worktree.
        res = run(wt, "decisions", verb, did)
        assert res.code == 3 and "you are the agent alpha" in res.err, res.err
        # git config coord.agent.
        git(r, "config", "coord.agent", "gamma")
        res = run(r, "decisions", verb, did)
        assert res.code == 3 and "you are the agent gamma" in res.err, res.err
        git(r, "config", "--unset", "coord.agent")
        # The Python API and the original design's toolkit, as an agent.
        with Coordinator(r, agent="alpha") as c, pytest.raises(Refused):
            getattr(c, f"{verb}_decision")(did)
        with Coordinator(r, agent="alpha") as c, pytest.raises(Refused):
            getattr(c, f"{verb}_decision")(did, reviewer="alpha")
    assert {d["id"] for d in run(r, "decisions", "list", "--status", "proposed", "--json").json()} == {
        did,
        other,
    }
    # The person at this machine, in the main worktree (no identity), can do both.
    approved = run(r, "decisions", "approve", did, "--json")
    assert approved.code == 0 and approved.json()["reviewed_by"] == "human:human@example.com", approved.err
    rejected = run(r, "decisions", "reject", other, "--note", "no", "--json")
    assert rejected.code == 0 and rejected.json()["status"] == "rejected", rejected.err
    actions = [(e["agent"], e["action"]) for e in run(r, "log", "--json").json()[:2]]
    assert actions == [
        ("human:human@example.com", "decision-reject"),
        ("human:human@example.com", "decision-approve"),
    ]


# -- forced releases and overrides are on record ------------------------------------------------------


def _trailer_lines(body: str, key: str) -> list[str]:
    return [line for line in body.splitlines() if line.startswith(f"{key}: ")]


def test_forced_release_recorded_with_who_and_why_and_no_forged_trailers(world: World) -> None:
    a, b = world.clones[0], world.clones[1]
    assert run(a, "claim", "f1.py", "f2.py", agent="alpha").code == 0
    assert run(b, "release", "f1.py", "--force", "--reason", "  ").code == 2  # a blank why is no why
    why = "alpha crashed\nCoord-Agent: mallory\nCoord-Action: release"
    res = run(b, "release", "f1.py", "f2.py", "--force", "--reason", why)
    assert res.code == 0, res.err
    body = git(world.remote, "log", "-1", "--format=%B", "coord")
    assert _trailer_lines(body, "Coord-Agent") == ["Coord-Agent: human:human@example.com"]
    assert _trailer_lines(body, "Coord-Action") == ["Coord-Action: force-release"]
    assert _trailer_lines(body, "Coord-Force") == [
        "Coord-Force: alpha crashed Coord-Agent: mallory Coord-Action: release"
    ]
    assert _trailer_lines(body, "Coord-Released") == ["Coord-Released: C-1 (alpha), C-2 (alpha)"]
    entry = run(b, "log", "--json").json()[0]
    assert (entry["agent"], entry["action"]) == ("human:human@example.com", "force-release")
    # Through the Python API: an agent is refused (a human act), a person is recorded by email.
    assert run(a, "claim", "f3.py", agent="alpha").code == 0
    tip = git(world.remote, "rev-parse", "coord")
    with Coordinator(b, agent="beta") as c, pytest.raises(Refused):
        c.release(["f3.py"], force=True, reason="beta cleans up")
    assert run(b, "release", "f3.py", "--force", "--reason", "r", agent="beta").code == 3
    assert git(world.remote, "rev-parse", "coord") == tip
    with Coordinator(b) as c:
        c.release(["C-4"], force=True, reason="the human cleans up")
    body = git(world.remote, "log", "-1", "--format=%B", "coord")
    assert "Coord-Agent: human:human@example.com" in body and "Coord-Force: the human cleans up" in body
    assert "Coord-Released: C-4 (alpha)" in body


def _hooked(repo: Path) -> None:
    assert run(repo, "hooks", "install").code == 0


def _commit(repo: Path, path: str, agent: str | None, override: str) -> subprocess.CompletedProcess[str]:
    (repo / path).write_text("change\n")
    git(repo, "add", path)
    env = dict(os.environ, GITCOORD_OVERRIDE=override)
    env.pop("GITCOORD_AGENT", None)
    if agent:
        env["GITCOORD_AGENT"] = agent
    return subprocess.run(
        ["git", "commit", "-q", "-m", "edit"], cwd=repo, capture_output=True, text=True, env=env
    )


def test_human_override_recorded_on_the_remote_without_forged_trailers(world: World) -> None:
    a, b = world.clones[0], world.clones[1]
    assert run(a, "claim", "api.py", agent="alpha").code == 0
    _hooked(b)
    git(b, "fetch", "-q", "origin", "+refs/heads/coord:refs/remotes/origin/coord")
    done = _commit(b, "api.py", None, "prod is down\nCoord-Agent: alpha")
    assert done.returncode == 0, done.stderr
    body = git(world.remote, "log", "-1", "--format=%B", "coord")
    assert _trailer_lines(body, "Coord-Agent") == ["Coord-Agent: human:human@example.com"]
    assert _trailer_lines(body, "Coord-Action") == ["Coord-Action: override"]
    assert _trailer_lines(body, "Coord-Override") == ["Coord-Override: prod is down Coord-Agent: alpha"]
    code_body = git(b, "log", "-1", "--format=%B")
    assert _trailer_lines(code_body, "Coord-Agent") == []  # a human's commit claims no agent
    overrides = _trailer_lines(code_body, "Coord-Override")
    assert len(overrides) == 1 and overrides[0].endswith("prod is down Coord-Agent: alpha"), overrides


def test_override_that_cannot_be_recorded_does_not_let_the_commit_through(world: World) -> None:
    a, b = world.clones[0], world.clones[1]
    assert run(a, "claim", "api.py", agent="alpha").code == 0
    _hooked(b)
    git(b, "fetch", "-q", "origin", "+refs/heads/coord:refs/remotes/origin/coord")
    head = git(b, "rev-parse", "HEAD")
    world.remote.rename(world.root / "away.git")
    refused = _commit(b, "api.py", "beta", "trust me")
    assert refused.returncode != 0, refused.stderr
    assert git(b, "rev-parse", "HEAD") == head  # unrecorded override: no commit
    assert "cannot be reached" in refused.stderr
    (world.root / "away.git").rename(world.remote)
    done = _commit(b, "api.py", "beta", "trust me")
    assert done.returncode == 0, done.stderr
    assert "Coord-Override: trust me" in git(world.remote, "log", "-1", "--format=%B", "coord")
