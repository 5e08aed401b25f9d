"""Enforcement through real `git commit` / `git push` with installed hooks, and `verify`."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

from gitcoord import Coordinator
from gitcoord.records import ErrorRecord

from .conftest import GITCOORD, Result, World, git, run


def commit(
    repo: Path, *args: str, agent: str | None = None, env: dict[str, str] | None = None
) -> subprocess.CompletedProcess[str]:
    full = dict(os.environ, **(env or {}))
    full.pop("GITCOORD_AGENT", None)
    if agent:
        full["GITCOORD_AGENT"] = agent
    return subprocess.run(["git", "commit", "-q", *args], cwd=repo, capture_output=True, text=True, env=full)


def push(repo: Path, *args: str, agent: str | None = None) -> subprocess.CompletedProcess[str]:
    env = dict(os.environ, GITCOORD_AGENT=agent) if agent else dict(os.environ)
    return subprocess.run(["git", "push", "-q", *args], cwd=repo, capture_output=True, text=True, env=env)


def stage(repo: Path, path: str, text: str = "x\n") -> None:
    full = repo / path
    full.parent.mkdir(parents=True, exist_ok=True)
    full.write_text(text)
    git(repo, "add", path)


def install(repo: Path, *args: str) -> None:
    res = run(repo, "hooks", "install", *args)
    assert res.code == 0, res.err


def sneak_in(repo: Path, message: str, agent: str, env: dict[str, str] | None = None) -> Result:
    """Commit what is staged past the hooks (`--no-verify`), then `verify` that commit."""
    done = commit(repo, "--no-verify", "-m", message, agent=agent, env=env)
    assert done.returncode == 0, done.stderr
    return run(repo, "verify", "HEAD~1..HEAD", "--json")


def test_refused_then_accepted_with_trailers(world: World) -> None:
    a, b = world.clones[0], world.clones[1]
    assert run(a, "claim", "src/api.py", "-m", "adding the endpoint", agent="alpha").code == 0
    git(b, "fetch", "-q", "origin", "coord:refs/remotes/origin/coord")
    install(b)
    stage(b, "src/api.py")
    refused = commit(b, "-m", "beta edits api", agent="beta")
    assert refused.returncode == 1
    assert "src/api.py: alpha's exclusive claim C-1 on src/api.py" in refused.stderr
    assert 'last said "adding the endpoint"' in refused.stderr and "until 20" in refused.stderr
    assert "gitcoord request-help --to alpha" in refused.stderr and "--wait" in refused.stderr
    assert git(b, "rev-list", "--count", "HEAD") == "1"
    ok = commit(b, "-m", "alpha edits api", agent="alpha")
    assert ok.returncode == 0, ok.stderr
    body = git(b, "log", "-1", "--format=%B")
    assert "Coord-Agent: alpha" in body and "Coord-Claim: C-1@1" in body
    amended = commit(b, "--amend", "--no-edit", agent="alpha")
    assert amended.returncode == 0, amended.stderr
    body = git(b, "log", "-1", "--format=%B")
    assert body.count("Coord-Claim: C-1@1") == 1 and body.count("Coord-Agent:") == 1


def test_human_and_rename_both_sides(local_repo: Path) -> None:
    repo = local_repo
    stage(repo, "old/name.txt")
    assert commit(repo, "-m", "add", agent="beta").returncode == 0
    install(repo)
    assert run(repo, "claim", "claimed/", agent="alpha").code == 0
    (repo / "claimed").mkdir()
    git(repo, "mv", "old/name.txt", "claimed/name.txt")
    into = commit(repo, "-m", "move in", agent="beta")
    assert into.returncode == 1 and "claimed/name.txt" in into.stderr
    human = commit(repo, "-m", "move in")
    assert human.returncode == 1 and "a human (no agent identity)" in human.stderr
    assert commit(repo, "-m", "move in", agent="alpha").returncode == 0
    git(repo, "mv", "claimed/name.txt", "out.txt")
    out = commit(repo, "-m", "move out", agent="beta")
    assert out.returncode == 1 and "claimed/name.txt" in out.stderr
    git(repo, "rm", "-q", "--cached", "out.txt")
    deleted = commit(repo, "-m", "delete", agent="beta")
    assert deleted.returncode == 1 and "claimed/name.txt" in deleted.stderr


def test_strict_warn_and_off_modes(local_repo: Path) -> None:
    repo = local_repo
    assert run(repo, "claim", "mine.txt", agent="alpha").code == 0
    install(repo, "--mode", "strict")
    stage(repo, "mine.txt")
    stage(repo, "unclaimed.txt")
    strict = commit(repo, "-m", "s", agent="alpha")
    assert strict.returncode == 1
    assert "unclaimed.txt: you hold no claim on it (strict mode)" in strict.stderr
    assert "mine.txt:" not in strict.stderr
    install(repo, "--mode", "warn")
    stage(repo, "mine.txt", "beta's\n")
    warned = commit(repo, "-m", "w", agent="beta")
    assert warned.returncode == 0 and "mode warn" in warned.stderr
    install(repo, "--mode", "off")
    stage(repo, "mine.txt", "again\n")
    assert commit(repo, "-m", "o", agent="beta").returncode == 0


def test_config_mode_applies_when_install_gave_none(local_repo: Path) -> None:
    repo = local_repo
    config = repo / ".coord" / "config.toml"
    config.write_text(config.read_text().replace('mode = "others"', 'mode = "strict"'))
    install(repo)
    stage(repo, "free.txt")
    refused = commit(repo, "-m", "x", agent="alpha")
    assert refused.returncode == 1 and "strict mode" in refused.stderr


def test_override_is_recorded(local_repo: Path) -> None:
    repo = local_repo
    assert run(repo, "claim", "api.py", agent="alpha").code == 0
    install(repo)
    stage(repo, "api.py")
    done = commit(repo, "-m", "hotfix", agent="beta", env={"GITCOORD_OVERRIDE": "prod is down"})
    assert done.returncode == 0, done.stderr
    assert "Coord-Override: E-2 prod is down" in git(repo, "log", "-1", "--format=%B")
    with Coordinator(repo) as coord:
        errors = coord.snapshot().records(ErrorRecord)
    assert len(errors) == 1
    err = errors[0]
    assert (err.type, err.severity, err.agent) == ("conflict", "medium", "beta")
    assert "api.py" in err.message and "C-1 (alpha)" in err.message and "prod is down" in err.message
    assert "Coord-Override: prod is down" in git(repo, "log", "-1", "--format=%B", "coord")
    # verify accepts a commit whose override is on record.
    assert run(repo, "verify", "HEAD~1..HEAD").code == 0


def test_override_of_many_paths_with_odd_names_is_recorded_whole(local_repo: Path) -> None:
    """More paths than the message can name, one with ", " in it: the record lists them all."""
    repo = local_repo
    names = [f"pkg/a_module_with_a_fairly_long_name_{n:03}.py" for n in range(120)] + ["docs/a, b.md"]
    assert run(repo, "claim", "pkg/", "docs/", agent="alpha").code == 0
    install(repo)
    for name in names:
        (repo / name).parent.mkdir(parents=True, exist_ok=True)
        (repo / name).write_text("x\n")
    git(repo, "add", "pkg", "docs")
    done = commit(repo, "-m", "sweeping rename", agent="beta", env={"GITCOORD_OVERRIDE": "release day"})
    assert done.returncode == 0, done.stderr
    with Coordinator(repo) as coord:
        (err,) = coord.snapshot().records(ErrorRecord)
    assert len(err.message) <= 4000 and "more (all in the record's trace)" in err.message
    assert err.message.endswith("; reason: release day") and "C-1 (alpha)" in err.message
    assert sorted(json.loads(err.trace)) == sorted(names)
    assert run(repo, "verify", "HEAD~1..HEAD").code == 0
    # The same override does not stretch to a path it did not list.
    stage(repo, "docs/other.md")
    checked = sneak_in(repo, f"more\n\nCoord-Agent: beta\nCoord-Override: {err.id} release day", "beta")
    assert checked.code == 3 and checked.json()["violations"][0]["path"] == "docs/other.md"


def test_override_of_a_name_that_is_not_utf8_is_recorded_and_verified(local_repo: Path) -> None:
    """git allows any bytes in a name; the override covers exactly the name git reports."""
    repo = local_repo
    assert run(repo, "claim", "lib/", agent="alpha").code == 0
    install(repo)
    (repo / "lib").mkdir()
    (repo / "lib" / os.fsdecode(b"caf\xe9.py")).write_text("x\n")
    git(repo, "add", "lib")
    done = commit(repo, "-m", "latin-1 name", agent="beta", env={"GITCOORD_OVERRIDE": "legacy file"})
    assert done.returncode == 0, done.stderr
    with Coordinator(repo) as coord:
        (err,) = coord.snapshot().records(ErrorRecord)
    assert "lib/caf\ufffd.py" in err.message
    assert json.loads(err.trace) == [os.fsdecode(b"lib/caf\xe9.py")]
    assert run(repo, "verify", "HEAD~1..HEAD").code == 0


def test_override_too_large_for_one_record_is_refused_and_writes_nothing(local_repo: Path) -> None:
    repo = local_repo
    assert run(repo, "claim", "gen/", agent="alpha").code == 0
    install(repo)
    (repo / "gen").mkdir()
    for n in range(1300):  # about 70 KiB of paths: more than one record's trace holds
        (repo / "gen" / f"generated_file_with_a_long_descriptive_name_{n:04}.txt").write_text("x\n")
    git(repo, "add", "gen")
    coord_before, head_before = git(repo, "rev-parse", "coord"), git(repo, "rev-parse", "HEAD")
    refused = commit(repo, "-m", "regenerate", agent="beta", env={"GITCOORD_OVERRIDE": "regenerated"})
    assert refused.returncode == 1
    assert "1300 paths" in refused.stderr and "smaller parts" in refused.stderr
    assert git(repo, "rev-parse", "coord") == coord_before and git(repo, "rev-parse", "HEAD") == head_before


def test_legacy_hook_chained_and_restored(local_repo: Path) -> None:
    repo = local_repo
    hook = repo / ".git" / "hooks" / "pre-commit"
    hook.write_text("#!/bin/sh\necho legacy ran >&2\n[ ! -e block-me ] \n")
    hook.chmod(0o755)
    install(repo)
    install(repo)  # idempotent: the legacy hook is not wrapped twice
    assert (repo / ".git/hooks/pre-commit.legacy").read_text().startswith("#!/bin/sh\necho legacy")
    stage(repo, "a.txt")
    ok = commit(repo, "-m", "a", agent="alpha")
    assert ok.returncode == 0 and "legacy ran" in ok.stderr
    (repo / "block-me").write_text("")
    stage(repo, "b.txt")
    assert commit(repo, "-m", "b", agent="alpha").returncode == 1
    assert run(repo, "hooks", "uninstall").code == 0
    assert hook.read_text().startswith("#!/bin/sh\necho legacy")
    assert not (repo / ".git/hooks/pre-commit.legacy").exists()
    assert not (repo / ".git/hooks/prepare-commit-msg").exists()


def test_worktree_and_hooks_path(local_repo: Path, tmp_path: Path) -> None:
    repo = local_repo
    shared = tmp_path / "shared-hooks"
    git(repo, "config", "core.hooksPath", str(shared))
    install(repo)
    assert (shared / "pre-commit").exists()
    wt = tmp_path / "wt"
    git(repo, "worktree", "add", "-q", "-b", "side", str(wt))
    assert run(repo, "claim", "shared.txt", agent="alpha").code == 0
    stage(wt, "shared.txt")
    refused = commit(wt, "-m", "x", agent="beta")
    assert refused.returncode == 1 and "alpha's exclusive claim" in refused.stderr
    git(repo, "config", "--unset", "core.hooksPath")
    report = run(wt, "hooks", "install", "--json")
    assert report.json()["hooks_dir"] == str((repo / ".git" / "hooks").resolve())


def test_no_verify_caught_by_verify_pre_push_and_server(world: World) -> None:
    a, b = world.clones[0], world.clones[1]
    assert run(a, "claim", "core/", agent="alpha").code == 0
    install(b)
    server = run(world.remote, "hooks", "install", "--server")
    assert server.code == 0, server.err
    stage(b, "core/engine.py")
    assert commit(b, "--no-verify", "-m", "sneaky", agent="beta").returncode == 0
    checked = run(b, "verify", "origin/main..HEAD", "--json")
    assert checked.code == 3
    violation = checked.json()["violations"][0]
    assert violation["path"] == "core/engine.py" and violation["holder"] == "alpha"
    assert violation["committed_by"] == "beta" and violation["claim"] == "C-1"
    assert run(b, "verify", "origin/main..origin/main").code == 0
    refused = push(b, "origin", "HEAD:main", agent="beta")
    assert refused.returncode != 0 and "core/engine.py" in refused.stderr
    fenced = push(b, "--no-verify", "origin", "HEAD:main", agent="beta")
    assert fenced.returncode != 0 and "push to refs/heads/main refused" in fenced.stderr
    assert git(world.remote, "rev-list", "--count", "main") == "1"
    # The coord branch itself is never fenced: claims still land through the remote.
    assert run(world.clones[2], "claim", "docs/", agent="gamma").code == 0


def test_stale_token_after_takeover(world: World) -> None:
    a, b = world.clones[0], world.clones[1]
    assert run(a, "claim", "lib.py", "--minutes", "1", agent="alpha").code == 0
    stage(a, "lib.py")
    install(a)
    assert commit(a, "-m", "alpha works", agent="alpha").returncode == 0
    assert "Coord-Claim: C-1@1" in git(a, "log", "-1", "--format=%B")
    # Seven minutes later (lease 1 + grace 5), beta takes the dead claim over.
    taken = run(b, "claim", "lib.py", agent="beta", env={"GITCOORD_CLOCK_SKEW_SECONDS": "420"})
    assert taken.code == 0, taken.err
    found = run(a, "verify", "HEAD~1..HEAD", "--json", env={"GITCOORD_CLOCK_SKEW_SECONDS": "420"})
    assert found.code == 3
    violation = found.json()["violations"][0]
    assert violation["kind"] == "stale_token" and violation["token"] == 1 and violation["holder"] == "beta"


def test_bad_revrange_and_bare_install(world: World) -> None:
    bad = run(world.clones[0], "verify", "no-such-rev..HEAD")
    assert bad.code == 2
    assert run(world.remote, "hooks", "install").code == 2
    assert run(world.clones[0], "hooks", "install", "--server").code == 2


def test_trailers_by_hand_off_and_without_pre_commit(world: World) -> None:
    """pre-commit hands the trailers to a shell prepare-commit-msg; --no-verify computes them again."""
    a = world.clones[0]
    assert run(a, "claim", "lib/", agent="alpha").code == 0
    install(a)
    stage(a, "lib/one.py")
    assert commit(a, "-m", "through both hooks", agent="alpha").returncode == 0
    assert "Coord-Claim: C-1@1" in git(a, "log", "-1", "--format=%B")
    handoffs = Path(git(a, "rev-parse", "--absolute-git-dir")) / "gitcoord-state"
    assert [path.read_text() for path in handoffs.glob("trailers.*")] == [""]  # used once: emptied
    stage(a, "lib/two.py")
    assert commit(a, "--no-verify", "-m", "pre-commit skipped", agent="alpha").returncode == 0
    body = git(a, "log", "-1", "--format=%B")
    assert "Coord-Agent: alpha" in body and "Coord-Claim: C-1@1" in body


def test_a_used_hand_off_is_never_taken_again(local_repo: Path) -> None:
    """The shell empties the hand-off it applied (no `rm` process): a later commit whose git gets
    the same pid finds it empty and computes its own trailers."""
    from gitcoord.constants import HANDOFF_HEADER
    from gitcoord.hooks.precommit import trailer_options

    install(local_repo)
    git_dir = Path(git(local_repo, "rev-parse", "--absolute-git-dir"))
    hook = git_dir / "hooks" / "prepare-commit-msg"
    message = git_dir / "COMMIT_EDITMSG"
    # The script names the hand-off by its parent's pid: here, this test's process.
    handoff = git_dir / "gitcoord-state" / f"trailers.{os.getpid()}"
    handoff.parent.mkdir(exist_ok=True)
    options = trailer_options([("Coord-Agent", "handed-over")])
    handoff.write_text("".join(f"{line}\n" for line in (HANDOFF_HEADER, *options)))
    env = dict(os.environ, GITCOORD_AGENT="alpha")
    for expected in ("Coord-Agent: handed-over", "Coord-Agent: alpha"):
        message.write_text("a change\n")
        res = subprocess.run(
            [str(hook), str(message), "message"], cwd=local_repo, env=env, capture_output=True
        )
        assert res.returncode == 0, res.stderr
        assert message.read_text().splitlines()[-1] == expected
        assert not handoff.exists() or handoff.read_text() == ""  # emptied, or removed by Python


def test_forged_override_trailers_do_not_pass_verify(local_repo: Path) -> None:
    """An override counts only as the record pre-commit wrote: by the committer, for those paths."""
    repo = local_repo
    assert run(repo, "claim", "api.py", "db.py", agent="alpha").code == 0
    install(repo)
    stage(repo, "api.py")
    assert (
        commit(repo, "-m", "legit", agent="beta", env={"GITCOORD_OVERRIDE": "urgent hotfix"}).returncode == 0
    )
    assert run(repo, "verify", "HEAD~1..HEAD").code == 0
    # A look-alike conflict record written by hand is not an override.
    assert (
        run(
            repo,
            "log-error",
            "--type",
            "conflict",
            "--severity",
            "low",
            "beta overrode the pre-commit hook for db.py; claims: C-1 (alpha); reason: e",
            agent="beta",
        ).code
        == 0
    )
    forgeries = [
        "e",  # no record at all, a reason found in many messages
        "E-2 urgent hotfix",  # a real override, but for api.py, not db.py
        "E-4 e",  # the hand-written look-alike
    ]
    for trailer in forgeries:
        stage(repo, "db.py", text=f"{trailer}\n")
        checked = sneak_in(repo, f"evil\n\nCoord-Agent: beta\nCoord-Override: {trailer}", "beta")
        assert checked.code == 3, trailer
        assert checked.json()["violations"][0]["path"] == "db.py"


def test_verify_trusts_fencing_tokens_not_dates(local_repo: Path) -> None:
    repo = local_repo
    assert run(repo, "claim", "lib.py", agent="alpha").code == 0
    install(repo)
    stage(repo, "lib.py")
    assert commit(repo, "-m", "alpha's work", agent="alpha").returncode == 0  # carries Coord-Claim: C-1@1
    # alpha releases normally and beta claims the file: alpha's commit was made under its own claim.
    assert run(repo, "release", "lib.py", agent="alpha").code == 0
    assert run(repo, "claim", "lib.py", agent="beta").code == 0
    assert run(repo, "verify", "HEAD~1..HEAD").code == 0
    # A --no-verify commit dated years back is judged by the claims live now all the same.
    stage(repo, "lib.py", text="beta's hack\n")
    backdated = {"GIT_COMMITTER_DATE": "2020-01-01T00:00:00Z", "GIT_AUTHOR_DATE": "2020-01-01T00:00:00Z"}
    checked = sneak_in(repo, "old", "gamma", env=backdated)
    assert checked.code == 3 and checked.json()["violations"][0]["holder"] == "beta"


def test_a_token_vouches_only_for_what_its_claim_covered(local_repo: Path) -> None:
    repo = local_repo
    assert run(repo, "claim", "a.py", agent="alpha").code == 0
    install(repo)
    stage(repo, "a.py")
    stage(repo, "b.py")  # unclaimed at the time: allowed in mode others
    assert commit(repo, "-m", "a and b", agent="alpha").returncode == 0
    assert run(repo, "claim", "b.py", agent="beta").code == 0
    checked = run(repo, "verify", "HEAD~1..HEAD", "--json")
    # alpha's token covers a.py, not b.py, which beta now holds: pushing it needs beta's word.
    assert checked.code == 3
    assert [(v["path"], v["kind"]) for v in checked.json()["violations"]] == [("b.py", "claimed")]


def test_pre_commit_framework_entries_run_as_written(local_repo: Path) -> None:
    """Each hook of .pre-commit-hooks.yaml, run the way the framework runs its `entry`."""
    import shlex

    import yaml

    hooks = yaml.safe_load((Path(__file__).resolve().parent.parent / ".pre-commit-hooks.yaml").read_text())
    entries = {h["id"]: shlex.split(h["entry"]) for h in hooks}
    assert set(entries) == {"gitcoord-claims", "gitcoord-trailers", "gitcoord-verify"}
    assert all(argv[:2] == ["gitcoord", "hook-run"] for argv in entries.values())
    repo = local_repo
    assert run(repo, "claim", "held.py", agent="alpha").code == 0
    stage(repo, "held.py")

    def framework(hook: str, *files: str, agent: str) -> subprocess.CompletedProcess[str]:
        # The framework runs `entry` (plus file names, where it passes them) in the work tree.
        argv = [*GITCOORD, *entries[hook][1:], *files]
        return subprocess.run(
            argv, cwd=repo, capture_output=True, text=True, env=dict(os.environ, GITCOORD_AGENT=agent)
        )

    claims = framework("gitcoord-claims", agent="beta")
    assert claims.returncode == 1 and "alpha's exclusive claim" in claims.stderr
    assert framework("gitcoord-claims", agent="alpha").returncode == 0
    message = repo / ".git" / "COMMIT_EDITMSG"
    message.write_text("work\n")
    trailers = framework("gitcoord-trailers", str(message), agent="alpha")
    assert trailers.returncode == 0, trailers.stderr
    assert "Coord-Claim: C-1@1" in message.read_text()


def use_framework(repo: Path, home: Path, *hook_types: str) -> dict[str, str]:
    """The real pre-commit framework, configured from .pre-commit-hooks.yaml as a local repo (no
    network), its hooks installed for `hook_types`; the environment its runs need."""
    import yaml

    manifest = yaml.safe_load((Path(__file__).resolve().parent.parent / ".pre-commit-hooks.yaml").read_text())
    local_hooks = [
        {**hook, "entry": f"{sys.executable} -m {hook['entry']}", "language": "unsupported"}
        for hook in manifest
    ]
    (repo / ".pre-commit-config.yaml").write_text(
        yaml.safe_dump({"repos": [{"repo": "local", "hooks": local_hooks}]})
    )
    git(repo, "add", ".pre-commit-config.yaml")
    git(repo, "commit", "-q", "--no-verify", "-m", "use the pre-commit framework")
    env = {"PRE_COMMIT_HOME": str(home)}
    types = [arg for kind in hook_types for arg in ("-t", kind)]
    installed = subprocess.run(
        [sys.executable, "-m", "pre_commit", "install", *types],
        cwd=repo,
        capture_output=True,
        text=True,
        env={**os.environ, **env},
    )
    assert installed.returncode == 0, installed.stderr
    return env


def test_the_pre_commit_framework_runs_the_manifest_and_doctor_sees_it(
    local_repo: Path, tmp_path: Path
) -> None:
    """The real framework, configured from .pre-commit-hooks.yaml (as a local repo: no network)."""
    repo = local_repo
    env = use_framework(repo, tmp_path / "pre-commit-home", "pre-commit", "prepare-commit-msg")
    half = run(repo, "doctor", "--json")
    assert half.code == 3
    hooks = next(f for f in half.json()["findings"] if f["check"] == "hooks")
    assert "not pre-push" in hooks["message"] and "gitcoord-verify" in hooks["fix"]
    assert (
        subprocess.run(
            [sys.executable, "-m", "pre_commit", "install", "-t", "pre-push"],
            cwd=repo,
            capture_output=True,
            env={**os.environ, **env},
        ).returncode
        == 0
    )
    healthy = {f["check"]: f for f in run(repo, "doctor", "--json").json()["findings"]}
    assert healthy["hooks"]["level"] == "ok" and "pre-commit framework" in healthy["hooks"]["message"]

    assert run(repo, "claim", "held.py", agent="alpha").code == 0
    stage(repo, "held.py")
    refused = commit(repo, "-m", "beta's try", agent="beta", env=env)
    assert refused.returncode == 1 and "alpha's exclusive claim" in refused.stdout + refused.stderr
    done = commit(repo, "-m", "alpha's work", agent="alpha", env=env)
    assert done.returncode == 0, done.stdout + done.stderr
    assert "Coord-Claim: C-1@1" in git(repo, "log", "-1", "--format=%B")


def test_the_framework_pre_push_refuses_a_sneaked_commit_and_skips_the_coord_branch(
    world: World, tmp_path: Path
) -> None:
    a, b = world.clones[0], world.clones[1]
    env = use_framework(b, tmp_path / "pre-commit-home", "pre-push")
    assert run(a, "claim", "src/api.py", agent="alpha").code == 0
    git(b, "fetch", "-q", "origin", "coord:refs/remotes/origin/coord")
    stage(b, "src/api.py")
    assert commit(b, "--no-verify", "-m", "beta's sneaky edit", agent="beta").returncode == 0
    full = {**os.environ, **env, "GITCOORD_AGENT": "beta"}
    pushed = subprocess.run(
        ["git", "push", "-q", "origin", "HEAD"], cwd=b, capture_output=True, text=True, env=full
    )
    assert pushed.returncode != 0 and "src/api.py" in pushed.stdout + pushed.stderr
    # A branch the remote has never seen: the framework gives no range, only the branch.
    fresh = subprocess.run(
        ["git", "push", "-q", "origin", "HEAD:refs/heads/side"],
        cwd=b,
        capture_output=True,
        text=True,
        env=full,
    )
    assert fresh.returncode != 0 and "src/api.py" in fresh.stdout + fresh.stderr
    # The coord branch itself goes through: its commits are records, not code. Made a violation
    # anywhere else by an (odd) claim on .coord/, a record commit pushed by hand shows it.
    assert run(a, "claim", ".coord/", agent="alpha").code == 0
    git(b, "fetch", "-q", "origin", "+coord:refs/remotes/origin/coord")
    index = {**full, "GIT_INDEX_FILE": str(tmp_path / "scratch-index")}

    def plumb(*args: str, stdin: str | None = None) -> str:
        return subprocess.run(
            ["git", *args], cwd=b, env=index, input=stdin, capture_output=True, text=True, check=True
        ).stdout.strip()

    plumb("read-tree", "refs/remotes/origin/coord")
    blob = plumb("hash-object", "-w", "--stdin", stdin="note = 1\n")
    plumb("update-index", "--add", "--cacheinfo", f"100644,{blob},.coord/extra.toml")
    record = plumb("commit-tree", plumb("write-tree"), "-p", "refs/remotes/origin/coord", "-m", "a record")
    elsewhere = subprocess.run(
        ["git", "push", "-q", "origin", f"{record}:refs/heads/records-copy"],
        cwd=b,
        capture_output=True,
        text=True,
        env=full,
    )
    assert elsewhere.returncode != 0 and ".coord/extra.toml" in elsewhere.stdout + elsewhere.stderr
    coord = subprocess.run(
        ["git", "push", "-q", "origin", f"{record}:refs/heads/coord"],
        cwd=b,
        capture_output=True,
        text=True,
        env=full,
    )
    assert coord.returncode == 0, coord.stdout + coord.stderr


def test_override_on_record_without_the_hand_off(local_repo: Path) -> None:
    """The repo's own hooks/ scripts run prepare-commit-msg in Python: the trailer still names
    the record, and a reason with odd spacing still matches it."""
    repo = local_repo
    top = Path(__file__).resolve().parent.parent
    for name in ("pre-commit", "prepare-commit-msg"):
        target = repo / ".git" / "hooks" / name
        target.write_text((top / "hooks" / name).read_text())
        target.chmod(0o755)
    assert run(repo, "claim", "api.py", agent="alpha").code == 0
    stage(repo, "api.py")
    path = f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}"  # the gitcoord under test
    done = commit(
        repo, "-m", "hotfix", agent="beta", env={"GITCOORD_OVERRIDE": "prod  is\tdown", "PATH": path}
    )
    assert done.returncode == 0, done.stderr
    assert "Coord-Override: E-2 prod is down" in git(repo, "log", "-1", "--format=%B")
    assert run(repo, "verify", "HEAD~1..HEAD").code == 0


def test_override_id_found_without_any_hand_off(local_repo: Path) -> None:
    """A hook manager runs the two hooks from unrelated processes: the id is looked up on record."""
    repo = local_repo
    assert run(repo, "claim", "api.py", agent="alpha").code == 0
    stage(repo, "api.py")
    env = dict(os.environ, GITCOORD_AGENT="beta", GITCOORD_OVERRIDE="prod is down")
    hook = [*GITCOORD, "hook-run"]
    assert subprocess.run([*hook, "pre-commit", "-", "-"], cwd=repo, env=env).returncode == 0
    for handoff in (repo / ".git" / "gitcoord-state").glob("trailers.*"):
        handoff.unlink()  # as if the next hook ran in another process tree
    message = repo / ".git" / "COMMIT_EDITMSG"
    message.write_text("hotfix\n")
    assert (
        subprocess.run([*hook, "prepare-commit-msg", "-", "-", str(message)], cwd=repo, env=env).returncode
        == 0
    )
    assert "Coord-Override: E-2 prod is down" in message.read_text()


def test_server_hook_is_not_fooled_by_a_gitcoord_directory_in_the_bare_repo(world: World) -> None:
    """In a bare repository the git dir is the hook's working directory: nothing there is imported."""
    server = run(world.remote, "hooks", "install", "--server")
    assert server.code == 0, server.err
    (world.remote / "gitcoord" / "cache").mkdir(parents=True)  # a package-shaped directory
    (world.remote / "gitcoord" / "hooks.py").write_text("raise SystemExit('imported from the bare repo')\n")
    assert run(world.clones[2], "claim", "docs/", agent="gamma").code == 0
    stage(world.clones[1], "notes.txt")
    assert commit(world.clones[1], "-m", "free path", agent="beta").returncode == 0
    assert push(world.clones[1], "origin", "HEAD:main", agent="beta").returncode == 0
