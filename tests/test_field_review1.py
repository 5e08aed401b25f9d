"""Field hardening, review: holes found in the merged slices of issue 10, each with real git."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

import pytest

from .conftest import World, git, make_repo, run, spawn
from .test_field_integrity import claimed_in_partial_clone


def _remote_heads(remote: Path) -> set[str]:
    return set(git(remote, "for-each-ref", "--format=%(refname:short)", "refs/heads").split())


# -- init asks the remote itself whether it already holds a store -------------------------------


@pytest.mark.parametrize("how", ["single-branch", "cloned-before"])
def test_init_refuses_a_second_store_its_clone_has_not_fetched(tmp_path: Path, how: str) -> None:
    """A `--single-branch` (or `--depth`) clone, or one made before the store was, has no
    remote-tracking ref of the store's branch: init must ask the remote, not its stale copy."""
    seed = make_repo(tmp_path / "seed")
    remote = tmp_path / "remote.git"
    git(tmp_path, "clone", "-q", "--bare", str(seed), str(remote))
    second = tmp_path / "second"
    if how == "cloned-before":
        git(tmp_path, "clone", "-q", str(remote), str(second))
    first = tmp_path / "first"
    git(tmp_path, "clone", "-q", str(remote), str(first))
    assert run(first, "init", "--branch", "agents").code == 0
    if how == "single-branch":
        git(tmp_path, "clone", "-q", "--single-branch", remote.as_uri(), str(second))
    assert "agents" not in git(second, "branch", "-a")

    res = run(second, "init")
    assert res.code == 3, res.out + res.err
    assert "'origin' already holds a coord store on branch 'agents'" in res.err
    assert _remote_heads(remote) == {"main", "agents"}
    assert not (second / ".coord").exists()
    adopted = run(second, "init", "--branch", "agents", "--json")
    assert adopted.code == 0, adopted.err
    assert adopted.json()["created"] is False


# -- cost: a fetch pays no git process for what `git config --list` already said ----------------


def _git_processes(trace: Path) -> list[str]:
    return [
        line.split("trace: built-in: ", 1)[1]
        for line in trace.read_text().splitlines()
        if "trace: built-in: " in line
    ]


def test_a_fetch_asks_git_config_nothing_it_already_read(world: World, tmp_path: Path) -> None:
    """`claims` fetches in remote mode; whether the remote is a promisor is in the config that
    `Workspace` read with its one `git config --list`, so no second `git config` runs."""
    a = world.clones[0]
    assert run(a, "claim", "src/api.py", "-m", "x", agent="alpha").code == 0
    trace = tmp_path / "trace"
    listed = spawn(a, "claims", agent="beta", env={"GIT_TRACE": str(trace)})
    assert listed.code == 0, listed
    calls = _git_processes(trace)
    assert any(call.startswith("git fetch") for call in calls), calls
    assert [call for call in calls if call.startswith("git config")] == ["git config -z --list"], calls


# -- a tree:0 partial clone: the unreadable coord tree is named, not cut to "refs/remotes" --------


def test_hooks_name_the_unreadable_coord_tree_of_a_tree0_clone(tmp_path: Path) -> None:
    remote, _, b = claimed_in_partial_clone(tmp_path, "tree:0")  # the coord tip's trees stay behind
    remote.rename(tmp_path / "remote.away")
    (b / "src").mkdir()
    (b / "src" / "api.py").write_text("beta's edit\n")
    git(b, "add", "src/api.py")
    refused = subprocess.run(
        ["git", "commit", "-q", "-m", "edit"],
        cwd=b,
        capture_output=True,
        text=True,
        env=dict(os.environ, GITCOORD_AGENT="beta"),
    )
    assert refused.returncode != 0
    said = refused.stderr
    assert (
        "commit refused: the claims cannot be checked: cannot read the coord records: .coord/claims" in said
    )
    assert "(object refs/" not in said, said
    assert "refs/remotes/origin/coord:.coord/claims" in said, said


# -- hook managers: a team file whose last line has no newline comes back byte for byte ----------

TOOLS = Path(__file__).resolve().parent.parent / ".ci" / "tools" / "node_modules" / ".bin"


@pytest.mark.skipif(
    not (TOOLS / "husky").exists(), reason="husky 9 is not installed: `npm ci --prefix .ci/tools`"
)
@pytest.mark.parametrize("original", ["#!/bin/sh", '#!/bin/sh\necho team ran >> "$TEAM_LOG"'])
def test_husky_script_without_a_final_newline_is_guarded_and_restored_exactly(
    local_repo: Path, original: str, tmp_path: Path
) -> None:
    repo = local_repo
    (repo / ".husky").mkdir()
    (repo / ".husky" / "pre-commit").write_text(original)
    git(repo, "add", ".husky/pre-commit")
    git(repo, "commit", "-q", "--no-verify", "-m", "team hook")
    done = subprocess.run(
        [str(TOOLS / "husky")], cwd=repo, capture_output=True, text=True, env=dict(os.environ, CI="")
    )
    assert done.returncode == 0, done.stderr
    assert run(repo, "hooks", "install").code == 0
    script = (repo / ".husky" / "pre-commit").read_text()
    assert script.splitlines()[0] == "#!/bin/sh", script  # the shebang line stays a shebang line
    assert run(repo, "claim", "held.py", agent="alpha").code == 0
    (repo / "held.py").write_text("beta's edit\n")
    git(repo, "add", "held.py")
    refused = subprocess.run(
        ["git", "commit", "-q", "-m", "edit"],
        cwd=repo,
        capture_output=True,
        text=True,
        env=dict(os.environ, GITCOORD_AGENT="beta", TEAM_LOG=str(tmp_path / "log")),
    )
    assert refused.returncode != 0 and "alpha's exclusive claim" in refused.stderr, refused.stderr
    assert run(repo, "hooks", "uninstall").code == 0
    assert (repo / ".husky" / "pre-commit").read_text() == original


@pytest.mark.skipif(not (TOOLS / "lefthook").exists(), reason="lefthook 2 is not installed")
def test_lefthook_config_without_a_final_newline_is_restored_exactly(local_repo: Path) -> None:
    repo = local_repo
    original = "pre-commit:\n  jobs:\n    - name: team\n      run: 'true'"
    (repo / "lefthook.yml").write_text(original)
    git(repo, "add", "lefthook.yml")
    git(repo, "commit", "-q", "--no-verify", "-m", "team hooks")
    done = subprocess.run(
        [str(TOOLS / "lefthook"), "install"],
        cwd=repo,
        capture_output=True,
        text=True,
        env=dict(os.environ, CI="", LEFTHOOK="1"),
    )
    assert done.returncode == 0, done.stdout + done.stderr
    assert run(repo, "hooks", "install").code == 0
    assert ".coord/lefthook.yml" in (repo / "lefthook.yml").read_text()
    assert run(repo, "hooks", "uninstall").code == 0
    assert (repo / "lefthook.yml").read_text() == original
