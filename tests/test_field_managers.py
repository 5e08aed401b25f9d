"""Enforcement that cannot silently turn off: hook managers (the real pre-commit framework, husky 9,
lefthook 2), a tracked `core.hooksPath`, and every clone guarded by `gitcoord start` (issue 10).

husky and lefthook come from npm (`.ci/run` installs them into .ci/tools); their tests are skipped,
saying so, where they are absent.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from .conftest import World, git, run
from .test_hooks import commit, stage

TOOLS = Path(__file__).resolve().parent.parent / ".ci" / "tools" / "node_modules" / ".bin"
HUSKY, LEFTHOOK = TOOLS / "husky", TOOLS / "lefthook"
needs_husky = pytest.mark.skipif(
    not HUSKY.exists(), reason="husky 9 is not installed: `npm ci --prefix .ci/tools`"
)
needs_lefthook = pytest.mark.skipif(
    not LEFTHOOK.exists(), reason="lefthook 2 is not installed: `npm ci --prefix .ci/tools`"
)


def tool(repo: Path, *argv: str | Path) -> None:
    res = subprocess.run(
        [str(a) for a in argv],
        cwd=repo,
        capture_output=True,
        text=True,
        env=dict(os.environ, CI="", LEFTHOOK="1"),
    )
    assert res.returncode == 0, res.stdout + res.stderr


def tracked(repo: Path, *paths: str) -> None:
    git(repo, "add", *paths)
    git(repo, "commit", "-q", "--no-verify", "-m", "team setup")


def guarded(repo: Path, team_log: Path | None = None) -> None:
    """alpha holds held.py: beta's real commit of it is refused, a free path goes through, and the
    team's own hook ran for it."""
    ran = team_log.read_text().count("team ran") if team_log else 0
    if run(repo, "claims", "--json").out.count("held.py") == 0:
        assert run(repo, "claim", "held.py", agent="alpha").code == 0
    stage(repo, "held.py", f"{os.urandom(4).hex()}\n")
    refused = commit(repo, "-m", "beta's try", agent="beta")
    assert refused.returncode != 0 and "alpha's exclusive claim" in refused.stdout + refused.stderr
    git(repo, "reset", "-q", "held.py")
    stage(repo, f"free-{os.urandom(4).hex()}.py")
    done = commit(repo, "-m", "free work", agent="beta")
    assert done.returncode == 0, done.stdout + done.stderr
    if team_log is not None:
        assert team_log.read_text().count("team ran") > ran


def no_machine_path(*files: Path) -> None:
    for path in files:
        text = path.read_text()
        assert sys.executable not in text and str(Path(sys.executable).parent) not in text, path


@pytest.fixture
def team_log(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    log = tmp_path / "team.log"
    log.write_text("")
    monkeypatch.setenv("TEAM_LOG", str(log))
    return log


# -- husky 9 --------------------------------------------------------------------------------


def husky_repo(repo: Path) -> str:
    (repo / ".husky").mkdir()
    original = 'echo team ran >> "$TEAM_LOG"\n'
    (repo / ".husky" / "pre-commit").write_text(original)
    tracked(repo, ".husky/pre-commit")
    return original


@needs_husky
def test_husky_then_gitcoord_runs_in_the_teams_scripts_and_survives_husky(
    local_repo: Path, team_log: Path
) -> None:
    repo = local_repo
    original = husky_repo(repo)
    tool(repo, HUSKY)
    stub = (repo / ".husky" / "_" / "pre-commit").read_text()
    res = run(repo, "hooks", "install", "--json")
    assert res.code == 0, res.err
    assert res.json()["manager"] == "husky"
    assert (repo / ".husky" / "_" / "pre-commit").read_text() == stub  # husky's stub is never renamed
    assert not (repo / ".husky" / "_" / "pre-commit.legacy").exists()
    no_machine_path(*(repo / ".husky" / n for n in ("pre-commit", "prepare-commit-msg", "pre-push")))
    guarded(repo, team_log)
    tool(repo, HUSKY)  # npm `prepare` runs it again
    guarded(repo, team_log)
    doctor = {f["check"]: f for f in run(repo, "doctor", "--json", agent="alpha").json()["findings"]}
    assert doctor["hooks"]["level"] == "ok" and "inside husky" in doctor["hooks"]["message"]

    assert run(repo, "hooks", "uninstall").code == 0
    assert (repo / ".husky" / "pre-commit").read_text() == original
    assert (
        not (repo / ".husky" / "prepare-commit-msg").exists() and not (repo / ".husky" / "pre-push").exists()
    )
    assert (repo / ".husky" / "_" / "pre-commit").read_text() == stub


@needs_husky
def test_gitcoord_then_husky_is_reported_and_start_repairs_it(local_repo: Path, team_log: Path) -> None:
    repo = local_repo
    husky_repo(repo)
    assert run(repo, "hooks", "install").code == 0
    tool(repo, HUSKY)  # core.hooksPath moves to .husky/_: the hooks installed above no longer run
    doctor = {f["check"]: f for f in run(repo, "doctor", "--json", agent="alpha").json()["findings"]}
    assert doctor["hooks"]["level"] == "problem" and "unguarded" in doctor["hooks"]["message"]
    assert "husky" in doctor["hooks"]["message"]
    started = run(repo, "start", "--json", agent="beta")
    assert started.code == 0, started.err
    hooks = started.json()["hooks"]
    assert hooks["manager"] == "husky" and hooks["installed"] == [
        "pre-commit",
        "prepare-commit-msg",
        "pre-push",
    ]
    guarded(repo, team_log)


@needs_husky
def test_husky_pre_push_still_hands_the_refs_to_the_teams_script(world: World, tmp_path: Path) -> None:
    a = world.clones[0]
    (a / ".husky").mkdir()
    seen = tmp_path / "refs-seen"
    (a / ".husky" / "pre-push").write_text(f"cat > {seen}\n")
    tracked(a, ".husky/pre-push")
    tool(a, HUSKY)
    assert run(a, "hooks", "install").code == 0
    res = subprocess.run(["git", "push", "-q", "origin", "HEAD:main"], cwd=a, capture_output=True, text=True)
    assert res.returncode == 0, res.stderr
    assert "refs/heads/main" in seen.read_text()
    sneaked_push_is_refused(a)


def sneaked_push_is_refused(repo: Path) -> None:
    """A commit made with --no-verify on alpha's claim is stopped by pre-push, run by the manager."""
    assert run(repo, "claim", "held.py", agent="alpha").code == 0
    stage(repo, "held.py")
    assert commit(repo, "--no-verify", "-m", "sneaked", agent="beta").returncode == 0
    env = dict(os.environ, GITCOORD_AGENT="beta")
    res = subprocess.run(
        ["git", "push", "-q", "origin", "HEAD:main"], cwd=repo, capture_output=True, text=True, env=env
    )
    assert res.returncode != 0 and "alpha" in res.stdout + res.stderr, res.stdout + res.stderr


@needs_lefthook
def test_lefthook_pre_push_refuses_a_sneaked_commit(world: World, team_log: Path) -> None:
    a = world.clones[0]
    (a / "lefthook.yml").write_text(LEFTHOOK_CONFIG)
    tracked(a, "lefthook.yml")
    tool(a, LEFTHOOK, "install")
    assert run(a, "hooks", "install").code == 0
    tool(a, LEFTHOOK, "install", "--force")  # the team's reinstall keeps gitcoord's jobs
    sneaked_push_is_refused(a)


# -- lefthook 2 -----------------------------------------------------------------------------


LEFTHOOK_CONFIG = 'pre-commit:\n  jobs:\n    - name: team\n      run: echo team ran >> "$TEAM_LOG"\n'


@needs_lefthook
def test_lefthook_then_gitcoord_runs_as_lefthook_jobs_and_survives_reinstall(
    local_repo: Path, team_log: Path
) -> None:
    repo = local_repo
    (repo / "lefthook.yml").write_text(LEFTHOOK_CONFIG)
    tracked(repo, "lefthook.yml")
    tool(repo, LEFTHOOK, "install")
    hooks = repo / ".git" / "hooks"
    lefthooks = (hooks / "pre-commit").read_text()
    res = run(repo, "hooks", "install", "--json")
    assert res.code == 0, res.err
    assert res.json()["manager"] == "lefthook"
    assert "lefthook.yml" in res.json()["files"] and ".coord/lefthook.yml" in res.json()["files"]
    assert (hooks / "pre-commit").read_text() == lefthooks  # lefthook's script stays in place
    no_machine_path(repo / "lefthook.yml", repo / ".coord" / "lefthook.yml")
    guarded(repo, team_log)
    tool(repo, LEFTHOOK, "install", "--force")
    guarded(repo, team_log)
    doctor = {f["check"]: f for f in run(repo, "doctor", "--json", agent="alpha").json()["findings"]}
    assert doctor["hooks"]["level"] == "ok" and "inside lefthook" in doctor["hooks"]["message"]

    assert run(repo, "hooks", "uninstall").code == 0
    assert (repo / "lefthook.yml").read_text() == LEFTHOOK_CONFIG
    assert not (repo / ".coord" / "lefthook.yml").exists()


@needs_lefthook
def test_gitcoord_then_lefthook_install_keeps_enforcement(local_repo: Path, team_log: Path) -> None:
    repo = local_repo
    (repo / "lefthook.yml").write_text(LEFTHOOK_CONFIG)
    tracked(repo, "lefthook.yml")
    assert run(repo, "hooks", "install").code == 0
    tool(repo, LEFTHOOK, "install")  # renames gitcoord's scripts to HOOK.old, which it never runs
    assert (repo / ".git" / "hooks" / "pre-commit.old").exists()
    guarded(repo, team_log)
    assert run(repo, "hooks", "uninstall").code == 0
    assert (repo / "lefthook.yml").read_text() == LEFTHOOK_CONFIG
    assert not (repo / ".git" / "hooks" / "pre-commit.old").exists()


# -- the pre-commit framework ---------------------------------------------------------------


FRAMEWORK_CONFIG = (
    "repos:\n- repo: local\n  hooks:\n  - id: team\n    name: team\n"
    "    entry: sh -c 'echo team ran >> \"$TEAM_LOG\"'\n    language: unsupported\n"
    "    pass_filenames: false\n    always_run: true\n"
)


def framework(repo: Path, home: Path, *args: str) -> None:
    res = subprocess.run(
        [sys.executable, "-m", "pre_commit", *args],
        cwd=repo,
        capture_output=True,
        text=True,
        env=dict(os.environ, PRE_COMMIT_HOME=str(home)),
    )
    assert res.returncode == 0, res.stdout + res.stderr


@pytest.fixture
def framework_repo(local_repo: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> tuple[Path, Path]:
    """(the repository, PRE_COMMIT_HOME): the team's .pre-commit-config.yaml committed."""
    home = tmp_path / "pre-commit-home"
    monkeypatch.setenv("PRE_COMMIT_HOME", str(home))
    (local_repo / ".pre-commit-config.yaml").write_text(FRAMEWORK_CONFIG)
    tracked(local_repo, ".pre-commit-config.yaml")
    return local_repo, home


def test_framework_first_refuses_with_the_lines_and_never_renames_its_script(
    framework_repo: tuple[Path, Path], team_log: Path
) -> None:
    repo, home = framework_repo
    framework(repo, home, "install")
    script = (repo / ".git" / "hooks" / "pre-commit").read_text()
    refused = run(repo, "hooks", "install")
    assert refused.code == 3
    assert (
        "the pre-commit framework owns pre-commit" in refused.err and "- id: gitcoord-claims" in refused.err
    )
    assert (repo / ".git" / "hooks" / "pre-commit").read_text() == script
    assert not (repo / ".git" / "hooks" / "pre-commit.legacy").exists()
    stage(repo, "before.py")
    assert commit(repo, "-m", "the team still commits").returncode == 0  # no "migration mode" failure

    lines = refused.err[refused.err.index("- repo: local") :].split("\nand run")[0]
    (repo / ".pre-commit-config.yaml").write_text(FRAMEWORK_CONFIG + lines + "\n")
    no_machine_path(repo / ".pre-commit-config.yaml")
    tracked(repo, ".pre-commit-config.yaml", ".coord/gitcoord")
    res = run(repo, "hooks", "install", "--json")
    assert res.code == 0, res.err
    assert res.json()["manager"] == "pre-commit"
    guarded(repo, team_log)
    doctor = {f["check"]: f for f in run(repo, "doctor", "--json", agent="alpha").json()["findings"]}
    assert doctor["hooks"]["level"] == "ok" and "pre-commit framework" in doctor["hooks"]["message"]
    assert run(repo, "hooks", "uninstall").code == 0
    assert (repo / ".git" / "hooks" / "pre-commit").read_text() == script


def test_gitcoord_then_framework_install_runs_ours_in_migration_mode(
    framework_repo: tuple[Path, Path], team_log: Path
) -> None:
    repo, home = framework_repo
    assert run(repo, "hooks", "install").code == 0
    framework(repo, home, "install")  # ours becomes pre-commit.legacy
    guarded(repo, team_log)
    assert run(repo, "hooks", "install").code == 0  # sees gitcoord running inside, changes nothing
    assert run(repo, "hooks", "uninstall").code == 0
    assert not (repo / ".git" / "hooks" / "pre-commit.legacy").exists()
    assert "File generated by pre-commit" in (repo / ".git" / "hooks" / "pre-commit").read_text()


# -- a tracked core.hooksPath ----------------------------------------------------------------


def test_tracked_hooks_path_gets_the_launcher_and_guards_other_worktrees(
    local_repo: Path, team_log: Path, tmp_path: Path
) -> None:
    repo = local_repo
    git(repo, "config", "core.hooksPath", ".githooks")
    (repo / ".githooks").mkdir()
    team = '#!/bin/sh\necho team ran >> "$TEAM_LOG"\n'
    (repo / ".githooks" / "pre-commit").write_text(team)
    (repo / ".githooks" / "pre-commit").chmod(0o755)
    tracked(repo, ".githooks/pre-commit")
    res = run(repo, "hooks", "install", "--json")
    assert res.code == 0, res.err
    assert res.json()["manager"] == "tracked"
    hooks = [repo / ".githooks" / n for n in ("pre-commit", "prepare-commit-msg", "pre-push")]
    no_machine_path(*hooks)
    tracked(repo, ".githooks", ".coord/gitcoord")
    guarded(repo, team_log)

    other = tmp_path / "other-worktree"
    git(repo, "worktree", "add", "-q", str(other))
    guarded(other)
    assert run(repo, "hooks", "uninstall").code == 0
    assert (repo / ".githooks" / "pre-commit").read_text() == team


# -- every clone -----------------------------------------------------------------------------


def test_a_clone_that_only_ran_start_refuses_a_claimed_commit(world: World) -> None:
    a, b = world.clones[0], world.clones[1]
    assert run(a, "hooks", "install").code == 0
    assert run(a, "claim", "held.py", agent="alpha").code == 0
    doctor = {f["check"]: f for f in run(b, "doctor", "--json", agent="beta").json()["findings"]}
    assert doctor["hooks"]["level"] == "problem" and "unguarded" in doctor["hooks"]["message"]

    started = run(b, "start", "--json", agent="beta")
    assert started.code == 0, started.err
    assert started.json()["hooks"]["installed"] == ["pre-commit", "prepare-commit-msg", "pre-push"]
    stage(b, "held.py")
    refused = commit(b, "-m", "beta's try", agent="beta")
    assert refused.returncode != 0 and "alpha's exclusive claim" in refused.stdout + refused.stderr
    again = run(b, "start", agent="beta")
    assert again.code == 0 and "hooks:" not in again.out  # already guarded: nothing to say
    text = run(world.clones[2], "start", agent="gamma")
    assert "hooks: installed gitcoord's pre-commit, prepare-commit-msg, pre-push hook(s)" in text.out


def test_start_leaves_hooks_alone_when_the_config_turns_them_off(world: World) -> None:
    b = world.clones[1]
    (b / ".coord").mkdir()
    (b / ".coord" / "config.toml").write_text('[hooks]\nmode = "off"\n')
    started = run(b, "start", "--json", agent="beta")
    assert started.code == 0, started.err
    assert started.json()["hooks"] is None
    assert not (b / ".git" / "hooks" / "pre-commit").exists()


def test_a_lefthook_config_with_its_own_extends_is_refused_with_the_line_to_add(local_repo: Path) -> None:
    repo = local_repo
    config = LEFTHOOK_CONFIG + "extends:\n  - team/base.yml\n"
    (repo / "lefthook.yml").write_text(config)
    refused = run(repo, "hooks", "install")
    assert refused.code == 3
    assert refused.err == (
        "gitcoord: lefthook.yml already has an `extends:` list; gitcoord does not rewrite it.\n"
        "hint: add `  - .coord/lefthook.yml` to that list and install again (it writes that "
        "file).\n"
    )
    assert (repo / "lefthook.yml").read_text() == config
    assert not (repo / ".coord" / "lefthook.yml").exists() and not (repo / ".coord" / "gitcoord").exists()
    assert not (repo / ".git" / "hooks" / "pre-commit").exists()


def test_start_reports_a_clone_it_cannot_guard_and_still_starts(world: World) -> None:
    b = world.clones[1]
    hooks = b / ".git" / "hooks"
    for name in ("pre-commit", "pre-commit.legacy"):
        (hooks / name).write_text("#!/bin/sh\nexit 0\n")
        (hooks / name).chmod(0o755)
    started = run(b, "start", agent="beta")
    assert started.code == 0, started.err
    assert "hooks: this clone is NOT guarded: both " in started.out
    assert run(b, "start", "--json", agent="beta").json()["hooks"]["problem"].startswith("both ")


def test_start_does_not_write_into_a_hooks_path_outside_the_repository(world: World) -> None:
    """A global core.hooksPath serves every repository of the user: `start` leaves it alone and
    says how to guard this clone; an explicit `hooks install` still installs there."""
    b = world.clones[1]
    shared = world.root / "my-global-hooks"
    shared.mkdir()
    (shared / "pre-commit").write_text("#!/bin/sh\necho mine\n")
    git(b, "config", "--global", "core.hooksPath", str(shared))
    started = run(b, "start", "--json", agent="beta")
    assert started.code == 0, started.err
    hooks = started.json()["hooks"]
    assert hooks["installed"] == [] and hooks["files"] == []
    assert f"core.hooksPath ({shared}) is outside this repository" in hooks["problem"]
    assert "gitcoord hooks install" in hooks["problem"]
    assert sorted(p.name for p in shared.iterdir()) == ["pre-commit"]
    assert (shared / "pre-commit").read_text() == "#!/bin/sh\necho mine\n"
    assert "core.hooksPath" in run(b, "start", agent="beta").out
    assert run(b, "hooks", "install").code == 0  # asked for by name: it goes where git looks
    assert "gitcoord" in (shared / "pre-commit").read_text()
