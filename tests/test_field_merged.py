"""Issue 15, part B: claims released when their work lands, conflicts named before the merge,
and waiting without polling. Real git throughout: worktrees, a bare remote, real `git commit`
and `git merge` through the installed hooks."""

from __future__ import annotations

import os
import subprocess
import time
from pathlib import Path

from tests.conftest import GITCOORD, World, git, run, spawn, wait_for


def _commit(cwd: Path, name: str, text: str, message: str) -> str:
    (cwd / name).write_text(text)
    git(cwd, "add", name)
    git(cwd, "commit", "-q", "-m", message)
    return git(cwd, "rev-parse", "HEAD")


def _claims(repo: Path) -> dict[str, dict[str, object]]:
    return {c["resource"]: c for c in run(repo, "claims", "--json").json()}


def _team(local_repo: Path, tmp_path: Path) -> tuple[Path, Path]:
    """Two agents in worktrees of one repository, each on its own branch, hooks installed by `start`."""
    git(local_repo, "add", ".coord/config.toml")
    git(local_repo, "commit", "-q", "-m", "gitcoord config")
    alpha, beta = tmp_path / "alpha", tmp_path / "beta"
    git(local_repo, "worktree", "add", "-q", "-b", "alpha-work", str(alpha))
    git(local_repo, "worktree", "add", "-q", "-b", "beta-work", str(beta))
    assert run(alpha, "start", "--agent", "alpha").code == 0
    assert run(beta, "start", "--agent", "beta").code == 0
    return alpha, beta


# -- release when the work lands ----------------------------------------------------------------


def test_merge_releases_exactly_the_claims_its_commits_carried(local_repo: Path, tmp_path: Path) -> None:
    alpha, beta = _team(local_repo, tmp_path)
    said = run(alpha, "claim", "a.txt", "b.txt", "--until-merged")
    assert said.code == 0 and "released when its work lands" in said.out
    assert run(alpha, "claim", "keep.txt").code == 0  # not until-merged: a merge never touches it
    assert run(beta, "claim", "c.txt", "--until-merged").code == 0
    _commit(alpha, "a.txt", "a\n", "a")
    _commit(alpha, "b.txt", "b\n", "b")
    _commit(alpha, "keep.txt", "k\n", "keep")
    _commit(beta, "c.txt", "c\n", "c")
    assert "Coord-Claim: C-" in git(alpha, "log", "-1", "--format=%B", "HEAD~2")
    # alpha goes on working on b.txt after its last commit: a check-in a minute later.
    later = {"GITCOORD_CLOCK_SKEW_SECONDS": "60"}
    assert run(alpha, "check-in", "b.txt", env=later).code == 0

    git(local_repo, "merge", "-q", "--no-ff", "-m", "merge alpha", "alpha-work")  # post-merge runs here
    merge = git(local_repo, "rev-parse", "HEAD")

    held = _claims(local_repo)
    assert "a.txt" not in held  # landed, never renewed since: released by the hook
    assert {"b.txt", "keep.txt", "c.txt"} <= set(held)  # in use; not until-merged; beta's work not merged
    entry = run(local_repo, "log", "--json", "-n", "1").json()[0]
    assert entry["action"] == "release-merged"
    body = git(local_repo, "log", "-1", "--format=%B", "coord")
    assert f"Coord-Merge: refs/heads/main {merge}" in body
    assert "(alpha)" in body and "beta" not in body
    # Released because it landed, not taken: alpha's next check-in reports nothing lost.
    res = run(alpha, "check-in", env=later)
    assert res.code == 0, res.err


def test_an_agent_releases_only_its_own_landed_claims(local_repo: Path, tmp_path: Path) -> None:
    alpha, beta = _team(local_repo, tmp_path)
    assert run(alpha, "claim", "a.txt", "--until-merged").code == 0
    assert run(beta, "claim", "c.txt", "--until-merged").code == 0
    _commit(alpha, "a.txt", "a\n", "a")
    _commit(beta, "c.txt", "c\n", "c")
    git(
        local_repo,
        "-c",
        "core.hooksPath=/dev/null",
        "merge",
        "-q",
        "--no-ff",
        "-m",
        "both",
        "alpha-work",
        "beta-work",
    )  # no post-merge: the command does the work here

    res = run(alpha, "release", "--merged", "--json")
    assert res.code == 0, res.err
    assert [r["resource"] for r in res.json()["released"]] == ["a.txt"]
    assert set(_claims(local_repo)) == {"c.txt"}  # beta's landed claim: not alpha's to release

    res = run(local_repo, "release", "--merged", "main")  # no identity (as CI): every landed claim
    assert res.code == 0, res.err
    assert "released c.txt" in res.out and "beta" in res.out
    assert _claims(local_repo) == {}


def test_release_merged_refuses_bad_input(local_repo: Path) -> None:
    res = run(local_repo, "release", "--merged", "no-such-branch", agent="alpha")
    assert res.code == 2 and "'no-such-branch' names no commit in this repository." in res.err
    res = run(local_repo, "release", "--merged", "main", "master", agent="alpha")
    assert res.code == 2 and "--merged takes at most one REF, not 2 arguments." in res.err
    res = run(local_repo, "release", "--merged", "--all", agent="alpha")
    assert res.code == 2 and "--merged goes alone" in res.err
    assert "Traceback" not in res.err


# -- conflicts named before the merge --------------------------------------------------------------


def _same_lines(alpha: Path, beta: Path) -> None:
    _commit(alpha, "README.md", "alpha's line\n", "alpha edits the readme")
    _commit(beta, "README.md", "beta's line\n", "beta edits the readme")
    _commit(alpha, "shared.txt", "one\ntwo\nthree\nfour\nfive\nsix\nseven\n", "alpha adds shared")


def test_conflicts_named_before_the_merge_in_worktrees(local_repo: Path, tmp_path: Path) -> None:
    alpha, beta = _team(local_repo, tmp_path)
    _same_lines(alpha, beta)
    assert run(alpha, "check-in").code == 0 and run(beta, "check-in").code == 0  # records branch and head

    report = run(local_repo, "conflicts", "--json").json()
    assert report["default"] == "main"
    assert {b["agent"]: b["branch"] for b in report["branches"]} == {
        "alpha": "alpha-work",
        "beta": "beta-work",
    }
    [pair] = report["pairs"]
    assert (pair["a"], pair["b"], pair["conflicts"]) == ("alpha", "beta", ["README.md"])
    assert "rebase" in pair["next"] and "request-help" in pair["next"]

    text = run(local_repo, "conflicts").out
    assert "alpha (alpha-work) x beta (beta-work): conflict in README.md" in text

    started = run(alpha, "start", "--json").json()
    assert started["conflicts"] == [
        {"path": "README.md", "with": "beta", "branch": "beta-work", "next": pair["next"]}
    ]
    lines = run(beta, "start").out.splitlines()
    warning = next(i for i, line in enumerate(lines) if "README.md" in line and "alpha" in line)
    assert warning < 5, lines  # near the top
    assert not (tmp_path / "alpha" / "README.md").read_text().startswith("<<<")  # nothing merged
    checked = run(alpha, "check-in")
    assert checked.code == 0 and "coming conflict: README.md with beta's branch beta-work" in checked.out
    status = run(local_repo, "status", "--json").json()
    assert [(x["between"], x["conflicts"]) for x in status["conflicts"]] == [("alpha x beta", "README.md")]
    assert "coming conflicts" in run(local_repo, "status").out


def test_conflicts_read_pushed_branches_in_remote_mode(world: World) -> None:
    a, b, c = world.clones
    for clone, agent in ((a, "alpha"), (b, "beta")):
        git(clone, "switch", "-q", "-c", f"{agent}-work")
        assert run(clone, "start", "--agent", agent).code == 0
    _commit(a, "README.md", "alpha's line\n", "alpha edits the readme")
    _commit(b, "README.md", "beta's line\n", "beta edits the readme")
    for clone, agent in ((a, "alpha"), (b, "beta")):
        git(clone, "push", "-q", "origin", f"{agent}-work")
        assert run(clone, "check-in").code == 0

    report = run(c, "conflicts", "--json").json()  # a third clone, which has neither branch locally
    assert {b["ref"] for b in report["branches"]} == {"origin/alpha-work", "origin/beta-work"}
    assert [(p["a"], p["b"], p["conflicts"]) for p in report["pairs"]] == [("alpha", "beta", ["README.md"])]
    started = run(a, "start", "--json").json()
    assert [(x["path"], x["with"]) for x in started["conflicts"]] == [("README.md", "beta")]


def test_conflicts_cost_for_ten_branches(local_repo: Path, tmp_path: Path) -> None:
    """Ten agents' branches, each pair changing a file in common: measured, reported, bounded loosely."""
    git(local_repo, "add", ".coord/config.toml")
    git(local_repo, "commit", "-q", "-m", "config")
    for i in range(10):
        wt = tmp_path / f"wt{i}"
        git(local_repo, "worktree", "add", "-q", "-b", f"b{i}", str(wt))
        assert run(wt, "check-in", agent=f"agent{i}").code == 0
        _commit(wt, "README.md", f"line of {i}\n", f"edit {i}")
        assert run(wt, "check-in", agent=f"agent{i}").code == 0
    start = time.monotonic()
    res = spawn(local_repo, "conflicts", "--json")
    took = time.monotonic() - start
    assert res.code == 0, res.err
    import json

    assert len(json.loads(res.out)["pairs"]) == 45
    print(f"conflicts with 10 branches (cold cache): {took:.2f} s")


# -- waiting without polling ------------------------------------------------------------------------


def test_inbox_wait_wakes_on_a_message(local_repo: Path, tmp_path: Path) -> None:
    # What one gitcoord process costs on this machine now: the bound is derived from it.
    start = time.monotonic()
    assert spawn(local_repo, "inbox", "--json", agent="beta").code == 0
    one_run = time.monotonic() - start

    trace = tmp_path / "trace"
    env = dict(os.environ, GITCOORD_AGENT="beta", GIT_TRACE=str(trace))
    waiter = subprocess.Popen(
        [*GITCOORD, "-C", str(local_repo), "inbox", "--wait", "600", "--json"],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        # It has read the coord branch once (its cat-file started) and now sleeps on the ref.
        wait_for(lambda: trace.exists() and "cat-file" in trace.read_text(errors="replace"), "the first read")
        assert waiter.poll() is None
        assert run(local_repo, "send", "--to", "beta", "your review is done", agent="alpha").code == 0
        sent = time.monotonic()
        out, err = waiter.communicate(timeout=600)
        woke = time.monotonic() - sent
    finally:
        if waiter.poll() is None:
            waiter.kill()
    assert waiter.returncode == 0, err
    assert "your review is done" in out
    assert woke < max(5.0, 3 * one_run), f"woke {woke:.2f} s after the message; one run takes {one_run:.2f} s"


def test_waits_return_at_once_when_something_is_there(local_repo: Path) -> None:
    assert run(local_repo, "request-help", "--to", "beta", "look at the parser", agent="alpha").code == 0
    assert run(local_repo, "send", "--to", "beta", "hello", agent="alpha").code == 0
    res = run(local_repo, "help-requests", "list", "--wait", "600", "--json", agent="beta")
    assert res.code == 0 and [h["message"] for h in res.json()] == ["look at the parser"]
    res = run(local_repo, "inbox", "--wait", "600", "--json", agent="beta")
    assert res.code == 0 and [m["body"] for m in res.json()] == ["hello"]


def test_wait_refuses_bad_input(local_repo: Path) -> None:
    res = run(local_repo, "inbox", "--wait", "-1", agent="beta")
    assert res.code == 2 and "--wait must be 0 or more seconds" in res.err
    res = run(local_repo, "inbox", "--wait", "5", "--mark-read", agent="beta")
    assert res.code == 2 and "--wait goes with reading the inbox" in res.err
    res = run(local_repo, "help-requests", "list", "--wait", "nan", agent="beta")
    assert res.code == 2 and "--wait must be" in res.err


def test_work_not_all_landed_keeps_the_claim(local_repo: Path, tmp_path: Path) -> None:
    """A commit carrying the token that is still only on the agent's branch keeps the claim."""
    alpha, _ = _team(local_repo, tmp_path)
    assert run(alpha, "claim", "a.txt", "--until-merged").code == 0
    _commit(alpha, "a.txt", "one\n", "first part")
    git(local_repo, "-c", "core.hooksPath=/dev/null", "merge", "-q", "--no-ff", "-m", "first", "alpha-work")
    _commit(alpha, "a.txt", "two\n", "second part, not merged yet")
    res = run(local_repo, "release", "--merged", "--json")
    assert res.code == 0, res.err
    [kept] = res.json()["kept"]
    assert res.json()["released"] == [] and "is not on the branch yet" in kept["why"]
    git(local_repo, "-c", "core.hooksPath=/dev/null", "merge", "-q", "--no-ff", "-m", "second", "alpha-work")
    res = run(local_repo, "release", "--merged", "--json")
    assert [r["resource"] for r in res.json()["released"]] == ["a.txt"]


def test_hooks_install_adds_post_merge_and_uninstall_removes_it(local_repo: Path) -> None:
    res = run(local_repo, "hooks", "install", "--json")
    assert res.code == 0, res.err
    assert "post-merge" in res.json()["installed"]
    hook = local_repo / ".git" / "hooks" / "post-merge"
    text = hook.read_text()
    assert "import hook_entry; hook_entry()" in text and " post-merge " in text  # gitcoord's post-merge
    assert run(local_repo, "hooks", "uninstall").code == 0
    assert not hook.exists()


def test_the_ci_workflow_releases_on_a_push_to_the_default_branch(world: World) -> None:
    """The release job's steps (but the pip install), run in a fresh clone as GitHub's checkout makes it."""
    import shlex

    import yaml  # type: ignore[import-untyped]

    a = world.clones[0]
    res = run(a, "ci", "github", "--json")
    assert res.code == 0, res.err
    flow = yaml.safe_load(Path(res.json()["path"]).read_text())
    assert flow["on"]["push"]["branches"] == ["coord", "main"]
    job = flow["jobs"]["release-merged"]
    assert "default_branch" in job["if"] and "default_branch" in flow["jobs"]["sync"]["if"]
    assert job["steps"][0]["with"]["fetch-depth"] == 0  # every branch: commits not yet landed count

    git(a, "switch", "-q", "-c", "alpha-work")
    assert run(a, "start", "--agent", "alpha").code == 0
    assert run(a, "claim", "a.txt", "--until-merged").code == 0
    _commit(a, "a.txt", "a\n", "a")
    git(a, "push", "-q", "origin", "alpha-work")
    git(a, "switch", "-q", "main")
    git(a, "-c", "core.hooksPath=/dev/null", "merge", "-q", "--no-ff", "-m", "merge alpha", "alpha-work")
    git(a, "push", "-q", "origin", "main")
    assert "a.txt" in _claims(a)

    runner = world.clone("runner")  # what actions/checkout with fetch-depth 0 leaves
    for step in job["steps"]:
        command = step.get("run", "")
        if not command or "pip install" in command:
            continue
        for line in command.strip().splitlines():
            argv = shlex.split(line.replace("$DEFAULT_BRANCH", "main"))
            if argv[0] == "gitcoord":
                argv = [*GITCOORD, *argv[1:]]
            done = subprocess.run(argv, cwd=runner, capture_output=True, text=True, timeout=300)
            assert done.returncode == 0, f"{line}: {done.stderr}"
    assert "a.txt" not in _claims(a)
    assert "Coord-Merge: origin/main " in git(world.remote, "log", "-1", "--format=%B", "coord")


def test_mcp_inbox_and_help_requests_take_wait(local_repo: Path) -> None:
    import anyio

    from gitcoord.coordinator import Coordinator
    from tests.test_mcp import _data, _session_run

    with Coordinator(local_repo, agent="alpha") as alpha:
        alpha.send("beta", "parser fixed")
        alpha.request_help("beta", "review the parser")
    _, (inbox, helps, bad) = anyio.run(
        _session_run,
        local_repo,
        "beta",
        [
            ("inbox", {"wait": 600, "mark_read": True}),
            ("help_requests", {"wait": 600}),
            ("inbox", {"wait": -1}),
        ],
    )
    assert [m["body"] for m in _data(inbox)["messages"]] == ["parser fixed"]
    assert [h["message"] for h in _data(helps)["help_requests"]] == ["review the parser"]
    assert bad.is_error and "--wait must be 0 or more seconds" in bad.content[0].text
