"""Review of the hooks' C client (`hooks/hookc.c`, DESIGN §9 "The hooks' C client"): cases where it
must behave exactly as the Python client or an in-process hook does.

Real `git commit` through the installed scripts and a real hooks' server, as in
tests/test_warm_native.py.
"""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

from gitcoord.hooks import native
from tests.conftest import run, wait_for
from tests.test_warm_hooks import _stage
from tests.test_warm_native import client as client  # the fixture: skips where no compiler builds it
from tests.test_warm_native import served_repo
from tests.warm_helpers import Warm


def no_locale(env: dict[str, str]) -> dict[str, str]:
    """`env` over ours without any locale variable: what a daemon, a CI job or a sandboxed agent has."""
    full = {**os.environ, **env}
    return {k: v for k, v in full.items() if k != "LANG" and not k.startswith("LC_")}


def commit(repo: Path, env: dict[str, str], message: str) -> subprocess.CompletedProcess[bytes]:
    return subprocess.run(
        ["git", "commit", "-q", "-m", message],
        cwd=repo,
        env=env,
        capture_output=True,
        timeout=300,
        start_new_session=True,
    )


def test_a_commit_without_a_locale_says_what_it_says_in_process(
    local_repo: Path, warm: Warm, client: Path
) -> None:
    # Python in the C locale coerces it to C.UTF-8 and runs in UTF-8 mode (PEP 538, 540): an
    # in-process hook, and the Python client's request, have both. The hooks' server was started
    # under a UTF-8 locale; the C client must not hand it a call that would run in the "C" locale.
    env = served_repo(local_repo, warm)
    assert run(local_repo, "claim", "src/café.py", agent="beta").code == 0
    _stage(local_repo, "src/café.py", "x\n")
    bare = no_locale(env)
    served = commit(local_repo, bare, "edits beta's file")
    here = commit(local_repo, {**bare, "GITCOORD_WARM": "0"}, "edits beta's file")
    assert here.returncode == 1 and "src/café.py: beta's exclusive claim C-".encode() in here.stderr
    assert (served.returncode, served.stderr.decode()) == (here.returncode, here.stderr.decode())


LOCALE_LEGACY = """#!/bin/sh
echo "LC_CTYPE=${LC_CTYPE-unset}" > "$LOCALE_MARK"
"""


def test_a_hook_without_a_locale_sees_the_environment_it_sees_in_process(
    tmp_path: Path, local_repo: Path, warm: Warm, client: Path
) -> None:
    # In-process, Python's locale coercion exports LC_CTYPE=C.UTF-8 to what the hook starts (its
    # legacy hook, git); the Python client sends that environment. So must a served call.
    env = served_repo(local_repo, warm)
    legacy = local_repo / ".git" / "hooks" / "pre-commit.legacy"
    legacy.write_text(LOCALE_LEGACY)
    legacy.chmod(0o755)
    mark = tmp_path / "locale"
    bare = {**no_locale(env), "LOCALE_MARK": str(mark)}
    _stage(local_repo, "free.txt", "free\n")
    here = commit(local_repo, {**bare, "GITCOORD_WARM": "0"}, "free")
    assert here.returncode == 0, here.stderr
    in_process = mark.read_text()
    _stage(local_repo, "free2.txt", "free\n")
    served = commit(local_repo, bare, "free2")
    assert served.returncode == 0, served.stderr
    assert mark.read_text() == in_process == "LC_CTYPE=C.UTF-8\n"


def foreign_client(tmp_path: Path, local_repo: Path, runtime: Path) -> Path:
    """Hooks installed, and where the hooks' client lives (this user's runtime directory) an
    executable file whose loader is not on this machine (another C library or architecture)."""
    assert run(local_repo, "hooks", "install").code == 0
    foreign = runtime / "gitcoord" / native.name()
    assert native.name() in (local_repo / ".git" / "hooks" / "pre-commit").read_text()
    source = tmp_path / "elsewhere.c"
    source.write_text("int main(void) { return 0; }\n")
    foreign.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    built = subprocess.run(
        ["cc", "-o", str(foreign), str(source), "-Wl,--dynamic-linker=/nonexistent/ld-elsewhere.so"],
        capture_output=True,
        text=True,
    )
    assert built.returncode == 0, built.stderr
    _stage(local_repo, "free.txt", "free\n")
    return foreign


def test_warm_off_never_runs_the_client(tmp_path: Path, local_repo: Path, client: Path, warm: Warm) -> None:
    # GITCOORD_WARM=0 turns the warm path off (DESIGN §9): the way past a client that cannot start.
    foreign_client(tmp_path, local_repo, warm.runtime)
    env = {**os.environ, **warm.env, "GITCOORD_AGENT": "alpha", "GITCOORD_WARM": "0"}
    done = commit(local_repo, env, "free")
    assert done.returncode == 0, done.stderr


def test_a_client_its_server_has_not_tried_is_never_run(
    tmp_path: Path, local_repo: Path, client: Path, warm: Warm
) -> None:
    # sh cannot come back from an `exec` that fails: the script execs the client only while the
    # link of the server that built and tried it is there. Here no server has linked, so the hook
    # runs its Python command, which starts the hooks' server; that server replaces the program
    # with one it built and tried, and links it.
    foreign = foreign_client(tmp_path, local_repo, warm.runtime)
    before = foreign.read_bytes()
    env = {**os.environ, **warm.env, "GITCOORD_AGENT": "alpha"}
    done = commit(local_repo, env, "free")
    assert done.returncode == 0, done.stderr
    wait_for(lambda: bool(list(warm.directory.glob("hook-*.sock"))), "the hooks' server's link")
    assert foreign.read_bytes() != before
    _stage(local_repo, "free2.txt", "free\n")
    again = commit(local_repo, env, "free2")
    assert again.returncode == 0, again.stderr
