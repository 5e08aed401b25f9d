"""The warm server gives every call the result an in-process run gives (issue 13).

Real console script, real server process, real git: each call goes through the server or runs
in-process, and a spying `git` on PATH tells which (the parent of a served call is the server).
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from tests.conftest import git, make_repo
from tests.warm_helpers import Warm, bare_remote_clone, call, git_grandparents, git_spy, mask_times

PINNED_DATES = {"GIT_AUTHOR_DATE": "2026-01-02T03:04:05Z", "GIT_COMMITTER_DATE": "2026-01-02T03:04:05Z"}

SMOKE = [
    ["init"],
    ["start", "--role", "tester"],
    ["claim", "src/x.py", "-m", "on it"],
    ["check-in", "-m", "half way"],
    ["claims"],
    ["claims", "--json"],
    ["status"],
    ["send", "--to", "beta", "hello", "there"],
    ["inbox"],
    ["task", "add", "write", "docs", "--resource", "docs/"],
    ["task", "next"],
    ["task", "next"],  # exit 3: none left
    ["claim", "docs/", "--agent", "beta"],  # exit 3: alpha holds it through the task
    ["log"],
    ["verify", "HEAD"],
    ["release", "src/x.py"],
    ["status", "--json"],
]


def _smoke(clone: Path, env: dict[str, str], warm: bool) -> list[tuple[int, str, str]]:
    root = str(clone.parent)
    out = []
    for args in SMOKE:
        res = call(clone, *args, env=env, agent="alpha", warm=warm)
        out.append((res.code, mask_times(res.out).replace(root, "<root>"), mask_times(res.err)))
    return out


def _coord_state(clone: Path) -> tuple[list[str], list[str]]:
    """Records (path and masked text) and the coord commits (identity and message), local and remote."""
    records = []
    for path in git(clone, "ls-tree", "-r", "--name-only", "refs/heads/coord").splitlines():
        records.append(path + "\n" + mask_times(git(clone, "show", f"refs/heads/coord:{path}")))
    log = git(clone, "log", "--format=%an %ae %cn %ce %ad %cd%n%B", "refs/heads/coord")
    remote = git(clone, "log", "--format=%H", "refs/heads/coord", "--not", "refs/remotes/origin/coord")
    return records, [mask_times(log), f"unpushed: {remote!r}"]


def test_smoke_set_gives_the_same_through_the_server_and_in_process(tmp_path: Path, warm: Warm) -> None:
    spy_env, spy_log = git_spy(tmp_path)
    served_env = dict(warm.env, **spy_env, **PINNED_DATES)
    hot = bare_remote_clone(tmp_path / "hot")
    # The same code commit in both (its id is in `status`): a seed made a second later would differ.
    cold = bare_remote_clone(tmp_path / "cold", seed=tmp_path / "hot" / "seed")
    server = warm.start(tmp_path)
    spy_log.unlink(missing_ok=True)

    served = _smoke(hot, served_env, warm=True)
    assert git_grandparents(spy_log) == {server}, (
        "every git of every served call ran in a child of the server"
    )
    spy_log.unlink()
    local = _smoke(cold, served_env, warm=False)
    assert server not in git_grandparents(spy_log)

    assert [code for code, _, _ in served] == [0] * 11 + [3, 3, 0, 0, 0, 0]
    for args, a, b in zip(SMOKE, served, local, strict=True):
        assert a == b, f"gitcoord {' '.join(args)}"
    assert _coord_state(hot) == _coord_state(cold)
    assert warm.server_pid() == server


def test_the_callers_cwd_env_umask_and_stdin_are_honoured(tmp_path: Path, warm: Warm) -> None:
    spy_env, spy_log = git_spy(tmp_path)
    repo = make_repo(tmp_path / "repo")
    server = warm.start(tmp_path)
    env = dict(warm.env, **spy_env)

    # umask: `init` writes .coord/config.toml with the caller's umask.
    assert call(repo, "init", env=dict(env, GITCOORD_AGENT="alpha"), umask=0o077).code == 0
    assert (repo / ".coord" / "config.toml").stat().st_mode & 0o777 == 0o600
    # cwd: a subdirectory, no -C; HOME: the identity from the caller's global git config.
    sub = repo / "deep" / "er"
    sub.mkdir(parents=True)
    home = tmp_path / "other-home"
    home.mkdir()
    (home / ".gitconfig").write_text(
        "[coord]\n\tagent = homey\n[user]\n\tname = H\n\temail = h@example.com\n"
    )
    res = call(sub, "claim", "src/a.py", env=dict(env, HOME=str(home)), unset=["GIT_CONFIG_GLOBAL"])
    assert (res.code, res.err) == (0, "")
    # GITCOORD_AGENT and GIT_AUTHOR_*: who holds the claim, who wrote the commit.
    author = {"GIT_AUTHOR_NAME": "Zed Writer", "GIT_AUTHOR_EMAIL": "zed@example.com"}
    assert call(sub, "claim", "src/b.py", env=dict(env, GITCOORD_AGENT="zed", **author)).code == 0
    assert git(repo, "log", "-1", "--format=%an <%ae>", "refs/heads/coord") == "Zed Writer <zed@example.com>"
    claims = call(repo, "claims", "--json", env=env).out
    assert '"homey"' in claims and '"zed"' in claims
    # GIT_DIR from elsewhere: the same answer as in-process.
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    git_dir = dict(env, GIT_DIR=str(repo / ".git"), GIT_WORK_TREE=str(repo))
    served = call(elsewhere, "claims", env=git_dir)
    assert git_grandparents(spy_log) == {server}, "every call so far was served"
    local = call(elsewhere, "claims", env=git_dir, warm=False)
    spy_log.unlink()
    assert (served.code, served.out, served.err) == (local.code, local.out, local.err)
    assert "src/a.py" in served.out
    # stdin: a trace read from `-`.
    res = call(
        repo,
        "log-error",
        "--type",
        "other",
        "--severity",
        "low",
        "--trace-file",
        "-",
        "it broke",
        env=env,
        agent="alpha",
        input="Trace: line 9\n",
    )
    assert res.code == 0, res.err
    errors = git(repo, "ls-tree", "-r", "--name-only", "refs/heads/coord", ".coord/errors/")
    assert "Trace: line 9" in git(repo, "show", f"refs/heads/coord:{errors.splitlines()[0]}")
    assert git_grandparents(spy_log) == {server}


def test_warm_off_runs_in_process_and_starts_no_server(local_repo: Path, warm: Warm) -> None:
    res = call(local_repo, "claims", env=warm.env, warm=False)
    assert (res.code, res.err) == (0, "")
    assert not warm.directory.exists()


@pytest.mark.parametrize("mode", [0o755, 0o750, 0o701])
def test_a_directory_others_can_enter_is_never_used(local_repo: Path, warm: Warm, mode: int) -> None:
    warm.directory.mkdir(mode=0o700)
    os.chmod(warm.directory, mode)
    for _ in range(2):
        res = call(local_repo, "claim", "src/x.py", env=warm.env, agent="alpha")
        assert (res.code, res.err) == (0, "")
    assert list(warm.directory.iterdir()) == [], "no server started, no socket made"
