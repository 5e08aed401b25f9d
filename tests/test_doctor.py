"""`gitcoord doctor`: planted faults are found, each with its fix; a healthy setup exits 0."""

from __future__ import annotations

import http.server
import os
import shlex
import shutil
import subprocess
import sys
import threading
from pathlib import Path
from typing import Any

import pytest

from .conftest import World, git, run


def _findings(res: Any) -> dict[str, dict[str, str]]:
    return {f["check"]: f for f in res.json()["findings"]}


def _git_env(cwd: Path, *args: str, env: dict[str, str], data: bytes | None = None) -> str:
    res = subprocess.run(
        ["git", *args], cwd=cwd, input=data, capture_output=True, env={**os.environ, **env}, check=True
    )
    return res.stdout.decode().strip()


def _plant(clone: Path, path: str, content: bytes) -> None:
    """Commit a file straight onto the remote's coord branch, as a broken tool might."""
    git(clone, "fetch", "-q", "origin", "coord")
    env = {"GIT_INDEX_FILE": str(clone / ".git" / "planted-index")}
    _git_env(clone, "read-tree", "origin/coord", env=env)
    blob = _git_env(clone, "hash-object", "-w", "--stdin", env=env, data=content)
    _git_env(clone, "update-index", "--add", "--cacheinfo", f"100644,{blob},{path}", env=env)
    tree = _git_env(clone, "write-tree", env=env)
    commit = _git_env(clone, "commit-tree", tree, "-p", "origin/coord", "-m", "planted", env=env)
    git(clone, "push", "-q", "origin", f"{commit}:refs/heads/coord")


@pytest.fixture
def hooked(world: World) -> Path:
    a = world.clones[0]
    git(a, "add", ".coord/config.toml")  # the team's config is committed (README)
    git(a, "commit", "-q", "-m", "gitcoord config")
    assert run(a, "hooks", "install").code == 0
    assert run(a, "claim", "src/api.py", agent="alpha").code == 0
    return a


def test_healthy_setup_exits_zero(hooked: Path) -> None:
    res = run(hooked, "doctor", "--json", agent="alpha")
    assert res.code == 0, res.out + res.err
    assert res.json()["healthy"] is True
    found = _findings(res)
    signing = found.pop("signing")  # no allowed signers here: signing is recommended, not required
    assert signing["level"] == "warning" and "allowed_signers" in signing["fix"]
    assert {f["level"] for f in found.values()} == {"ok"}
    assert set(found) == {
        "config",
        "config-edits",
        "case",
        "identity",
        "remote",
        "coord-branch",
        "hooks",
        "editor-guard",
        "records",
        "clock",
    }


def test_finds_missing_hook_and_malformed_record(world: World, hooked: Path) -> None:
    _plant(hooked, ".coord/claims/C-999.toml", b"this is = = not toml\n")
    bare = world.clones[1]  # never ran `hooks install`
    res = run(bare, "doctor", "--json", agent="beta")
    assert res.code == 3
    found = _findings(res)
    assert found["hooks"]["level"] == "problem" and "pre-commit" in found["hooks"]["message"]
    assert found["hooks"]["fix"] == "run `gitcoord hooks install`."
    assert found["records"]["level"] == "problem"
    assert ".coord/claims/C-999.toml" in found["records"]["message"]
    assert "git show coord:PATH" in found["records"]["fix"]
    assert "doctor found 2 problem(s): hooks, records." in res.err
    # The people's rendering carries the same findings and fixes.
    text = run(bare, "doctor", agent="beta")
    assert text.code == 3
    assert "PROBLEM hooks:" in text.out and "fix: run `gitcoord hooks install`." in text.out


def test_finds_clock_behind_the_coord_history(hooked: Path) -> None:
    res = run(hooked, "doctor", "--json", agent="alpha", env={"GITCOORD_CLOCK_SKEW_SECONDS": "-900"})
    assert res.code == 3
    clock = _findings(res)["clock"]
    assert clock["level"] == "problem" and "behind" in clock["message"] and "NTP" in clock["fix"]


def test_finds_unreachable_remote_and_bad_config(world: World, hooked: Path) -> None:
    (hooked / ".coord" / "config.toml").write_text("[lease]\nminutes = -1\n")
    world.remote.rename(world.root / "gone.git")
    res = run(hooked, "doctor", "--json", agent="alpha")
    assert res.code == 4  # coordination unavailable: the remote cannot be reached
    assert res.json()["remote_unreachable"] is True
    found = _findings(res)
    assert found["config"]["level"] == "problem" and "lease.minutes" in found["config"]["message"]
    assert found["remote"]["level"] == "problem" and "unreachable" in found["remote"]["message"]
    # The remote back, the bad config alone is a problem of the ordinary kind.
    (world.root / "gone.git").rename(world.remote)
    again = run(hooked, "doctor", "--json", agent="alpha")
    assert again.code == 3 and again.json()["remote_unreachable"] is False


def test_not_a_repository_is_bad_input(tmp_path: Path) -> None:
    res = run(tmp_path, "doctor")
    assert res.code == 2 and "not inside a git repository" in res.err


def test_unparsable_config_is_a_finding_not_a_crash(hooked: Path) -> None:
    (hooked / ".coord" / "config.toml").write_text("[lease\nminutes = 30\n")
    res = run(hooked, "doctor", "--json", agent="alpha")
    assert res.code == 3, res.err
    config = _findings(res)["config"]
    assert config["level"] == "problem" and "not valid TOML" in config["message"]
    assert ".coord/config.toml" in config["fix"]


def test_configured_remote_that_does_not_exist_is_a_finding(hooked: Path) -> None:
    (hooked / ".coord" / "config.toml").write_text('[coord]\nremote = "upstream"\n')
    res = run(hooked, "doctor", "--json", agent="alpha")
    assert res.code == 3, res.err
    found = _findings(res)
    assert found["config"]["level"] == "problem" and "'upstream' does not exist" in found["config"]["message"]
    assert "git remote add" in found["config"]["fix"]
    # The other checks still ran, on the defaults.
    assert {"remote", "coord-branch", "hooks", "records", "clock"} <= set(found)


def test_hook_git_would_skip_is_a_problem(hooked: Path) -> None:
    where = Path(git(hooked, "rev-parse", "--path-format=absolute", "--git-path", "hooks"))
    (where / "pre-commit").chmod(0o644)
    gone = hooked.parent / "deleted-venv" / "bin" / "python"
    push = where / "pre-push"
    push.write_text(push.read_text().replace(sys.executable, str(gone)))
    res = run(hooked, "doctor", "--json", agent="alpha")
    assert res.code == 3
    hooks = _findings(res)["hooks"]
    assert hooks["level"] == "problem"
    assert "pre-commit" in hooks["message"] and "not executable" in hooks["message"]
    assert "pre-push" in hooks["message"] and str(gone) in hooks["message"]
    assert hooks["fix"] == "run `gitcoord hooks install`."
    assert run(hooked, "hooks", "install").code == 0
    assert run(hooked, "doctor", "--json", agent="alpha").code == 0


def test_hooks_under_core_hookspath_in_a_worktree(hooked: Path) -> None:
    git(hooked, "config", "core.hooksPath", ".githooks")
    tree = hooked.parent / "wt"
    git(hooked, "worktree", "add", "-q", str(tree))
    missing = _findings(run(tree, "doctor", "--json", agent="alpha"))["hooks"]
    assert missing["level"] == "problem" and ".githooks" in missing["message"]
    assert run(tree, "hooks", "install").code == 0
    assert (tree / ".githooks" / "pre-commit").exists()
    found = _findings(run(tree, "doctor", "--json", agent="alpha"))["hooks"]
    assert found["level"] == "ok" and str(tree / ".githooks") in found["message"]


def test_bare_remote_without_the_pre_receive_fence(world: World) -> None:
    res = run(world.remote, "doctor", "--json")
    found = _findings(res)
    assert res.code == 0 and found["coord-branch"]["level"] == "ok"
    assert found["hooks"]["level"] == "warning" and "pre-receive" in found["hooks"]["message"]
    assert found["hooks"]["fix"] == "run `gitcoord hooks install --server` in this repository."
    assert run(world.remote, "hooks", "install", "--server").code == 0
    assert _findings(run(world.remote, "doctor", "--json"))["hooks"]["level"] == "ok"


class _AskForPassword(http.server.BaseHTTPRequestHandler):
    def do_GET(self) -> None:
        self.send_response(401)
        self.send_header("WWW-Authenticate", 'Basic realm="coord"')
        self.send_header("Content-Length", "0")
        self.end_headers()

    def log_message(self, *args: Any) -> None:
        pass


@pytest.mark.skipif(shutil.which("script") is None, reason="needs script(1) for a terminal")
def test_remote_asking_for_a_password_never_prompts_on_the_terminal(hooked: Path) -> None:
    server = http.server.HTTPServer(("127.0.0.1", 0), _AskForPassword)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        git(hooked, "remote", "set-url", "origin", f"http://127.0.0.1:{server.server_port}/remote.git")
        command = shlex.join([sys.executable, "-m", "gitcoord", "-C", str(hooked), "doctor"])
        # Under a terminal, as a person runs it: git would ask for a user name there and wait.
        res = subprocess.run(
            ["script", "-qec", command, "/dev/null"],
            capture_output=True,
            text=True,
            stdin=subprocess.DEVNULL,
            timeout=60,
            env={**os.environ, "GITCOORD_AGENT": "alpha"},
        )
    finally:
        server.shutdown()
    assert "Username for" not in res.stdout
    assert "PROBLEM remote" in res.stdout and "terminal prompts disabled" in res.stdout
