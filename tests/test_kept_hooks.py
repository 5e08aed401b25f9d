"""What a served pre-commit keeps between commits instead of asking git again (commit 7417640).

- `kept.SavedWorkspace`: the hooks' server's children save what `rev-parse` and `git config
  --list` answered in the server's runtime directory, used while no stat of the directories and
  config files changed, never for a config that includes files or was changed within the racy
  window;
- the loose-ref shortcut of `LeanRepo.claim_index`: while the coord ref's loose file names the
  commit the saved claim index was read from, no `cat-file` runs;
- `diff-index` for the staged paths (the porcelain before the first commit), and pre-commit reading
  the claims before it waits for them.

Real `git commit` through installed hooks and a real hooks' server. `GIT_TRACE` (one file for every
commit of a test: it is part of the saved answer's key) tells which git commands a commit's hooks
started; a `pre-commit.legacy` (which the hook, served or not, runs first) tells whether a child of
the server ran the hook: its grandparent is then the server.
"""

from __future__ import annotations

import os
import re
import shutil
import time
from dataclasses import dataclass
from pathlib import Path

import pytest

from gitcoord.constants import CACHE_DIR
from tests.conftest import World, git, run
from tests.test_warm_hooks import _hooks_server, _stage, agent_git
from tests.warm_helpers import Warm, edit_in_place, settled

# Run first by the hook wherever it runs: notes the grandparent (the server, when served).
LEGACY = """#!/bin/sh
read -r _pid _comm _state grand _rest < /proc/$PPID/stat
echo "$grand" >> '{log}'
"""
GIT_COMMAND = re.compile(r"trace: built-in: git (\S+)")


@dataclass
class Done:
    code: int
    err: str
    gits: list[str]  # the git commands the commit started (its own `commit` among them)
    served: bool  # the pre-commit ran in a child of the hooks' server


class Commits:
    """`git commit` as an agent runs it, with the warm path on and git traced to one file."""

    def __init__(self, tmp_path: Path, warm: Warm) -> None:
        self.trace = tmp_path / "git.trace"
        self.parents = tmp_path / "hook-parents.log"
        self.env = dict(warm.env, GIT_TRACE=str(self.trace))
        self.warm = warm
        self.server = 0

    def hooks(self, repo: Path) -> None:
        """Hooks installed in `repo` (and its worktrees), with the legacy hook that tells who ran them."""
        assert run(repo, "hooks", "install").code == 0
        hooks = Path(git(repo, "rev-parse", "--path-format=absolute", "--git-common-dir")) / "hooks"
        legacy = hooks / "pre-commit.legacy"
        legacy.write_text(LEGACY.format(log=self.parents))
        legacy.chmod(0o755)

    def start(self, repo: Path) -> None:
        """The first commit runs its hooks in-process and starts the hooks' server."""
        _stage(repo, "first.txt", "first\n")
        assert self.commit(repo, "-m", "first").code == 0
        self.server = _hooks_server(self.warm)

    def commit(self, repo: Path, *args: str, env: dict[str, str] | None = None) -> Done:
        self.trace.unlink(missing_ok=True)
        self.parents.unlink(missing_ok=True)
        res = agent_git(repo, {**self.env, **(env or {})}, "commit", "-q", *args)
        text = self.trace.read_text(errors="replace") if self.trace.exists() else ""
        ran = self.parents.read_text().split() if self.parents.exists() else []
        served = bool(self.server) and ran == [str(self.server)]
        return Done(res.returncode, res.stderr, GIT_COMMAND.findall(text), served)

    def served(self, repo: Path, *args: str, env: dict[str, str] | None = None) -> Done:
        done = self.commit(repo, *args, env=env)
        assert done.served, (done, "the pre-commit ran in a child of the hooks' server")
        return done

    def saved(self) -> list[Path]:
        return sorted(self.warm.directory.glob("ws-*"))


def global_config() -> Path:
    return Path(os.environ["GIT_CONFIG_GLOBAL"])


def trailer_agent(repo: Path) -> str:
    found = re.findall(r"^Coord-Agent: (.+)$", git(repo, "log", "-1", "--format=%B"), re.M)
    return found[-1] if found else ""


def refused_for(done: Done, agent: str, holder: str) -> bool:
    return (
        done.code == 1 and f"commit refused for {agent}:" in done.err and f"{holder}'s exclusive" in done.err
    )


# -- the saved workspace: rev-parse and config ---------------------------------------------------


def test_a_settled_served_pre_commit_runs_only_the_staged_paths_diff(
    tmp_path: Path, local_repo: Path, warm: Warm
) -> None:
    commits = Commits(tmp_path, warm)
    commits.hooks(local_repo)
    assert run(local_repo, "claim", "src/held.py", agent="beta").code == 0
    git(local_repo, "config", "coord.agent", "alpha")
    commits.start(local_repo)
    settled(local_repo / ".git" / "config", global_config())
    primed = commits.served(local_repo, "--allow-empty", "-m", "saves git's answers")
    assert primed.code == 0 and {"rev-parse", "config"} <= set(primed.gits), primed
    assert len(commits.saved()) == 1
    _stage(local_repo, "notes.txt", "n\n")
    done = commits.served(local_repo, "-m", "notes")
    assert done.code == 0, done.err
    # (diff-index: the staged paths; twice here, as the legacy hook may stage more: f0500cd)
    asked = {name for name in done.gits if name in ("rev-parse", "config", "cat-file", "diff", "diff-index")}
    assert asked == {"diff-index"}, done.gits
    assert trailer_agent(local_repo) == "alpha"
    _stage(local_repo, "src/held.py", "x\n")
    refused = commits.served(local_repo, "-m", "edits beta's file")
    assert refused_for(refused, "alpha", "beta"), refused
    assert "rev-parse" not in refused.gits and "config" not in refused.gits and "cat-file" not in refused.gits


def test_every_config_edit_reaches_the_next_served_commit(
    tmp_path: Path, local_repo: Path, warm: Warm
) -> None:
    """The identity comes from git's config: an in-place same-size edit, a `git config` (a new
    file renamed over the old), and an edit of the global file are each seen at once."""
    commits = Commits(tmp_path, warm)
    commits.hooks(local_repo)
    assert run(local_repo, "claim", "src/g.py", agent="gamma").code == 0
    git(local_repo, "config", "coord.agent", "alpha")
    git(local_repo, "config", "--global", "coord.agent", "omega")
    commits.start(local_repo)
    config = local_repo / ".git" / "config"
    settled(config, global_config())
    assert commits.served(local_repo, "--allow-empty", "-m", "prime").code == 0
    _stage(local_repo, "src/g.py", "g\n")
    done = commits.served(local_repo, "-m", "as alpha")
    assert refused_for(done, "alpha", "gamma") and "config" not in done.gits, done

    edit_in_place(config, "alpha", "gamma")
    done = commits.served(local_repo, "-m", "as gamma")
    assert done.code == 0 and "config" in done.gits, done
    assert trailer_agent(local_repo) == "gamma"

    settled(config)
    assert commits.served(local_repo, "--allow-empty", "-m", "prime").code == 0
    assert "config" not in commits.served(local_repo, "--allow-empty", "-m", "kept").gits
    git(local_repo, "config", "coord.agent", "delta")
    _stage(local_repo, "src/g.py", "g2\n")
    done = commits.served(local_repo, "-m", "as delta")
    assert refused_for(done, "delta", "gamma"), done

    git(local_repo, "reset", "-q", "src/g.py")
    git(local_repo, "config", "--unset", "coord.agent")
    settled(config, global_config())
    assert commits.served(local_repo, "--allow-empty", "-m", "prime").code == 0
    assert "config" not in commits.served(local_repo, "--allow-empty", "-m", "kept").gits
    edit_in_place(global_config(), "omega", "sigma")
    _stage(local_repo, "src/g.py", "g3\n")
    done = commits.served(local_repo, "-m", "as sigma")
    assert refused_for(done, "sigma", "gamma"), done


def test_each_worktree_and_each_config_environment_keeps_its_own_answer(
    tmp_path: Path, local_repo: Path, warm: Warm
) -> None:
    """Another worktree (its own git dir and `config.worktree`), `git -c` and GIT_CONFIG_COUNT
    never take the answer saved for another."""
    commits = Commits(tmp_path, warm)
    commits.hooks(local_repo)
    assert run(local_repo, "claim", "src/g.py", agent="gamma").code == 0
    git(local_repo, "config", "coord.agent", "alpha")
    git(local_repo, "config", "extensions.worktreeConfig", "true")
    commits.start(local_repo)
    other = tmp_path / "other"
    git(local_repo, "worktree", "add", "-q", "-b", "side", str(other))
    git(other, "config", "--worktree", "coord.agent", "gamma")
    worktree_config = Path(git(other, "rev-parse", "--path-format=absolute", "--git-dir")) / "config.worktree"
    settled(local_repo / ".git" / "config", global_config(), worktree_config)
    by_count = {"GIT_CONFIG_COUNT": "1", "GIT_CONFIG_KEY_0": "coord.agent", "GIT_CONFIG_VALUE_0": "gamma"}
    places: list[tuple[Path, list[str], dict[str, str]]] = [
        (local_repo, [], {}),
        (other, [], {}),
        (local_repo, ["-c", "coord.agent=gamma"], {}),
        (local_repo, [], by_count),
    ]

    def commit(repo: Path, options: list[str], env: dict[str, str]) -> Done:
        _stage(repo, "src/g.py", f"{time.monotonic_ns()}\n")
        commits.trace.unlink(missing_ok=True)
        commits.parents.unlink(missing_ok=True)
        res = agent_git(repo, {**commits.env, **env}, *options, "commit", "-q", "-m", "g")
        gits = GIT_COMMAND.findall(commits.trace.read_text(errors="replace"))
        assert commits.parents.read_text().split() == [str(commits.server)], "served"
        return Done(res.returncode, res.stderr, gits, True)

    for turn in range(2):  # the first saves each place's answer, the second uses it
        for repo, options, env in places:
            done = commit(repo, options, env)
            if repo == local_repo and not options and not env:
                assert refused_for(done, "alpha", "gamma"), (turn, done)
                git(repo, "reset", "-q", "src/g.py")
            else:
                assert done.code == 0, (turn, options, env, done)
                assert trailer_agent(repo) == "gamma"
            if turn:
                assert "rev-parse" not in done.gits and "config" not in done.gits, (options, env, done)
    assert len(commits.saved()) == len(places)
    edit_in_place(worktree_config, "gamma", "kappa")
    done = commit(other, [], {})
    assert refused_for(done, "kappa", "gamma"), done
    assert refused_for(commit(local_repo, [], {}), "alpha", "gamma")


def test_a_config_that_includes_a_file_is_read_at_every_served_commit(
    tmp_path: Path, local_repo: Path, warm: Warm
) -> None:
    commits = Commits(tmp_path, warm)
    commits.hooks(local_repo)
    assert run(local_repo, "claim", "src/g.py", agent="gamma").code == 0
    extra = tmp_path / "extra.cfg"
    extra.write_text("[coord]\n\tagent = alpha\n")
    git(local_repo, "config", "include.path", str(extra))
    commits.start(local_repo)
    settled(local_repo / ".git" / "config", global_config(), extra)
    for _ in range(2):
        done = commits.served(local_repo, "--allow-empty", "-m", "reads git")
        assert {"rev-parse", "config"} <= set(done.gits), done
    assert commits.saved() == []
    edit_in_place(extra, "alpha", "gamma")
    _stage(local_repo, "src/g.py", "g\n")
    assert commits.served(local_repo, "-m", "as gamma").code == 0
    assert trailer_agent(local_repo) == "gamma"


def test_a_config_file_stamped_in_the_future_is_never_saved(
    tmp_path: Path, local_repo: Path, warm: Warm
) -> None:
    """A file whose stamp is not older than the racy window (here: a clock set back) may change
    again unseen: what git read from it is asked again at every commit."""
    commits = Commits(tmp_path, warm)
    commits.hooks(local_repo)
    git(local_repo, "config", "coord.agent", "alpha")
    commits.start(local_repo)
    config = local_repo / ".git" / "config"
    settled(global_config())
    later = time.time() + 3600
    os.utime(config, (later, later))
    for _ in range(2):
        done = commits.served(local_repo, "--allow-empty", "-m", "reads git")
        assert done.code == 0 and {"rev-parse", "config"} <= set(done.gits), done
    assert commits.saved() == []


def test_trace2_in_the_config_neither_grows_the_runtime_dir_nor_defeats_the_saving(
    tmp_path: Path, local_repo: Path, warm: Warm
) -> None:
    commits = Commits(tmp_path, warm)
    commits.hooks(local_repo)
    # (git reads trace2.* from the system and global files only)
    git(local_repo, "config", "--global", "trace2.eventTarget", str(tmp_path / "trace2.events"))
    commits.start(local_repo)
    settled(local_repo / ".git" / "config", global_config())
    seen = [commits.served(local_repo, "--allow-empty", "-m", f"c{n}") for n in range(4)]
    assert len(commits.saved()) <= 1
    assert "rev-parse" not in seen[-1].gits, seen[-1]


# -- the claims: the loose coord ref ----------------------------------------------------------------


def in_process(repo: Path, *args: str, agent: str = "alpha", env: dict[str, str] | None = None) -> Done:
    """`git commit` with its hooks run in this test's process tree (GITCOORD_WARM=0), traced."""
    trace = repo.parent / f"trace-{time.monotonic_ns()}"
    full = {"GITCOORD_WARM": "0", "GITCOORD_AGENT": agent, "GIT_TRACE": str(trace), **(env or {})}
    res = agent_git(repo, full, "commit", "-q", *args)
    text = trace.read_text(errors="replace") if trace.exists() else ""
    return Done(res.returncode, res.stderr, GIT_COMMAND.findall(text), False)


def coord_tip(repo: Path) -> str:
    return git(repo, "rev-parse", "refs/heads/coord")


def test_the_claims_of_an_unmoved_loose_coord_ref_are_read_without_git(local_repo: Path) -> None:
    assert run(local_repo, "hooks", "install").code == 0
    assert run(local_repo, "claim", "src/held.py", agent="beta").code == 0
    loose = local_repo / ".git" / "refs" / "heads" / "coord"
    assert loose.read_text().strip() == coord_tip(local_repo)
    _stage(local_repo, "a.txt", "a\n")
    assert in_process(local_repo, "-m", "reads the claims").code == 0
    _stage(local_repo, "src/held.py", "x\n")
    done = in_process(local_repo, "-m", "edits beta's file")
    assert refused_for(done, "alpha", "beta") and "cat-file" not in done.gits, done
    git(local_repo, "reset", "-q", "src/held.py")

    # Another agent claims: the ref moves, and the next commit touching that path is refused.
    assert run(local_repo, "claim", "src/other.py", agent="gamma").code == 0
    _stage(local_repo, "src/other.py", "o\n")
    done = in_process(local_repo, "-m", "edits gamma's file")
    assert refused_for(done, "alpha", "gamma"), done
    done = in_process(local_repo, "-m", "edits gamma's file")
    assert refused_for(done, "alpha", "gamma") and "cat-file" not in done.gits, done

    # Packed: no loose file, git is asked (and still refuses).
    git(local_repo, "pack-refs", "--all")
    assert not loose.exists()
    done = in_process(local_repo, "-m", "edits gamma's file")
    assert refused_for(done, "alpha", "gamma") and "cat-file" in done.gits, done
    # gamma releases while the ref is packed: the new loose file names a commit with no claim of
    # gamma's, and the commit goes through.
    assert run(local_repo, "release", "src/other.py", agent="gamma").code == 0
    assert loose.exists()
    done = in_process(local_repo, "-m", "edits the released file")
    assert done.code == 0, done

    # A namespace: refs are not where their loose files would be; git is asked.
    _stage(local_repo, "src/held.py", "y\n")
    done = in_process(local_repo, "-m", "edits beta's file", env={"GIT_NAMESPACE": "team"})
    assert refused_for(done, "alpha", "beta") and "cat-file" in done.gits, done


@pytest.mark.parametrize("text", ["symbolic", "garbage", "trailing words", "upper case"])
def test_a_coord_ref_file_git_reads_otherwise_is_not_trusted(local_repo: Path, text: str) -> None:
    """The loose file names the saved commit only when it holds exactly its id: anything else
    (a symbolic ref to a commit with other claims, text git rejects or reads its own way) is left
    to git, and the hook's verdict is the one it gives with no saved index at all."""
    assert run(local_repo, "hooks", "install").code == 0
    assert run(local_repo, "claim", "src/held.py", agent="beta").code == 0
    before = coord_tip(local_repo)
    assert run(local_repo, "claim", "src/other.py", agent="gamma").code == 0
    after = coord_tip(local_repo)
    _stage(local_repo, "src/other.py", "o\n")
    git(local_repo, "update-ref", "refs/heads/coord", before)
    git(local_repo, "update-ref", "refs/heads/coord-next", after)
    assert in_process(local_repo, "-m", "saves the index of `before`").code == 0
    git(local_repo, "reset", "-q", "--soft", "HEAD~1")
    loose = local_repo / ".git" / "refs" / "heads" / "coord"
    contents = {
        "symbolic": "ref: refs/heads/coord-next\n",
        "garbage": f"{before[:20]}\n",
        "trailing words": f"{after} left by a tool\n",
        "upper case": f"{after.upper()}\n",
    }[text]
    loose.write_text(contents)
    warm_done = in_process(local_repo, "-m", "o")
    assert "cat-file" in warm_done.gits, warm_done
    if warm_done.code == 0:  # let through (git finds no claims behind garbage): again, cold
        git(local_repo, "reset", "-q", "--soft", "HEAD~1")
    shutil.rmtree(local_repo / ".git" / CACHE_DIR)
    cold = in_process(local_repo, "-m", "o")
    assert (warm_done.code, warm_done.err) == (cold.code, cold.err)
    if text != "garbage":  # git reads the others as `after`, where gamma holds the file
        assert refused_for(warm_done, "alpha", "gamma"), warm_done


def test_a_claim_fetched_in_remote_mode_is_seen_through_the_remote_tracking_ref(world: World) -> None:
    a, b = world.clones[0], world.clones[1]
    assert run(b, "hooks", "install").code == 0
    # The team's config in the work tree, as a checkout has it (else HEAD's is read by cat-file).
    (b / ".coord").mkdir()
    shutil.copy(a / ".coord" / "config.toml", b / ".coord" / "config.toml")
    assert run(a, "claim", "src/api.py", agent="alpha").code == 0
    git(b, "fetch", "-q", "origin")
    loose = b / ".git" / "refs" / "remotes" / "origin" / "coord"
    _stage(b, "src/api.py", "b\n")
    assert refused_for(in_process(b, "-m", "api", agent="beta"), "beta", "alpha")
    done = in_process(b, "-m", "api", agent="beta")
    assert refused_for(done, "beta", "alpha") and "cat-file" not in done.gits and loose.exists(), done
    assert run(a, "claim", "src/db.py", agent="alpha").code == 0
    git(b, "reset", "-q", "src/api.py")
    _stage(b, "src/db.py", "b\n")
    assert in_process(b, "-m", "db before the fetch", agent="beta").code == 0
    git(b, "fetch", "-q", "origin")
    _stage(b, "src/db.py", "b2\n")
    assert refused_for(in_process(b, "-m", "db after the fetch", agent="beta"), "beta", "alpha")


# -- the staged paths and the order of the reads ----------------------------------------------------


@pytest.mark.parametrize("served", [False, True], ids=["in-process", "served"])
def test_a_first_commit_on_an_unborn_branch_is_judged(
    tmp_path: Path, local_repo: Path, warm: Warm, served: bool
) -> None:
    """No HEAD: `diff-index HEAD` fails and the porcelain lists the staged paths."""
    commits = Commits(tmp_path, warm)
    commits.hooks(local_repo)
    assert run(local_repo, "claim", "src/held.py", agent="beta").code == 0
    git(local_repo, "config", "coord.agent", "alpha")
    if served:
        commits.start(local_repo)
    git(local_repo, "checkout", "-q", "--orphan", "fresh")
    git(local_repo, "rm", "-q", "-r", "--cached", ".")
    _stage(local_repo, "src/held.py", "x\n")
    commit = commits.served if served else commits.commit
    done = commit(local_repo, "-m", "first on fresh", env={} if served else {"GITCOORD_WARM": "0"})
    assert refused_for(done, "alpha", "beta"), done
    assert "diff-index" in done.gits and "diff" in done.gits, done.gits
    git(local_repo, "rm", "-q", "--cached", "src/held.py")
    _stage(local_repo, "src/free.py", "f\n")
    done = commit(local_repo, "-m", "first on fresh", env={} if served else {"GITCOORD_WARM": "0"})
    assert done.code == 0, done
    assert git(local_repo, "ls-tree", "-r", "--name-only", "HEAD") == "src/free.py"
    assert trailer_agent(local_repo) == "alpha"


def unreadable_claims(repo: Path) -> None:
    """beta's claim record's object gone, and no saved index or parse of it left."""
    blob = git(repo, "rev-parse", "refs/heads/coord:.coord/claims/C-1.toml")
    path = repo / ".git" / "objects" / blob[:2] / blob[2:]
    assert path.exists(), "the record's object is loose"
    path.unlink()
    shutil.rmtree(repo / ".git" / CACHE_DIR, ignore_errors=True)


def test_an_empty_commit_passes_with_unreadable_claims_and_a_real_one_is_refused(local_repo: Path) -> None:
    assert run(local_repo, "hooks", "install").code == 0
    assert run(local_repo, "claim", "src/held.py", agent="beta").code == 0
    unreadable_claims(local_repo)
    head = git(local_repo, "rev-parse", "HEAD")
    empty = in_process(local_repo, "--allow-empty", "-m", "nothing staged")
    # (prepare-commit-msg, handed nothing, warns that it added no Coord-Claim trailers.)
    assert empty.code == 0 and "refused" not in empty.err, empty
    assert git(local_repo, "rev-parse", "HEAD~1") == head
    _stage(local_repo, "src/free.py", "f\n")
    refused = in_process(local_repo, "-m", "something staged")
    assert refused.code == 1, refused
    assert "gitcoord: commit refused: the claims cannot be checked: " in refused.err, refused.err
    assert ".coord/claims/C-1.toml" in refused.err


def test_a_starting_hooks_server_forgets_what_earlier_ones_kept(
    tmp_path: Path, local_repo: Path, warm: Warm
) -> None:
    """Every working directory and environment of a session leaves one saved answer: a new hooks'
    server removes them all (they are only time saved), and nothing else of the directory."""
    warm.directory.mkdir(mode=0o700, parents=True, exist_ok=True)
    stale = warm.directory / "ws-from-an-earlier-server"
    stale.write_bytes(b"not even marshal")
    other = warm.directory / "not-a-saved-answer"
    other.write_text("kept\n")
    commits = Commits(tmp_path, warm)
    commits.hooks(local_repo)
    commits.start(local_repo)
    assert not stale.exists()
    assert other.read_text() == "kept\n"
