"""Second review of the hooks' C client (DESIGN §9 "The hooks' C client"), as it runs from the warm
path's runtime directory: the lines an installed hook runs before its Python command must never fail
a commit that the Python command alone would let through.

Real `git commit` through the installed scripts and a real hooks' server, as in
tests/test_warm_native.py.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from gitcoord.hooks import native
from tests.conftest import git, run, wait_for
from tests.test_warm_hooks import Trace, _hooks_server, _stage
from tests.test_warm_native import served_repo
from tests.warm_helpers import Warm, _alive


def commit(repo: Path, env: dict[str, str], message: str) -> subprocess.CompletedProcess[str]:
    """`git commit` with exactly `env` (nothing of the suite's own environment added back)."""
    return subprocess.run(
        ["git", "commit", "-q", "-m", message],
        cwd=repo,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
        start_new_session=True,
    )


def as_bash_sh(tmp_path: Path, repo: Path) -> None:
    """The installed scripts run by bash as `sh`, as where /bin/sh is bash (Fedora, Arch): only their
    first line changes, to a `sh` that is bash."""
    bash = shutil.which("bash")
    if bash is None:
        pytest.skip("no bash here")
    sh = tmp_path / "sh"
    sh.symlink_to(bash)
    for name in ("pre-commit", "prepare-commit-msg"):
        hook = repo / ".git" / "hooks" / name
        text = hook.read_text()
        assert text.startswith("#!/bin/sh\n")
        hook.write_text(f"#!{sh}\n" + text.removeprefix("#!/bin/sh\n"))


def test_a_hook_run_under_an_inherited_set_u_commits(tmp_path: Path, local_repo: Path, warm: Warm) -> None:
    # bash (also as `sh`) takes its options from SHELLOPTS in its environment: a job that exported it
    # after `set -u` hands nounset to every script it starts, git's hooks too. The Python command
    # alone never expands an unset variable; the C client's lines must not either (GITCOORD_WARM is
    # unset almost everywhere, XDG_RUNTIME_DIR in a cron job, a container, an ssh session).
    env = served_repo(local_repo, warm)
    as_bash_sh(tmp_path, local_repo)
    strict = {**os.environ, **env, "SHELLOPTS": "nounset"}
    del strict["GITCOORD_WARM"]
    trace = Trace(tmp_path)
    _stage(local_repo, "free.txt", "free\n")
    served = commit(local_repo, {**strict, **trace.env}, "free")
    assert (served.returncode, served.stderr) == (0, "")
    assert trace.served()
    here = {**strict, "GITCOORD_WARM": "0"}
    del here["XDG_RUNTIME_DIR"]
    _stage(local_repo, "free2.txt", "free\n")
    in_process = commit(local_repo, here, "free2")
    assert (in_process.returncode, in_process.stderr) == (0, "")
    assert git(local_repo, "log", "-2", "--format=%s").split() == ["free2", "free"]


def test_an_upgraded_c_client_is_built_though_the_old_server_runs(
    tmp_path: Path, local_repo: Path, warm: Warm
) -> None:
    # A copy of the package is what gets upgraded (touching the installed one would stop every
    # other test's server); hooks installed from it run it (their boot code names its directory).
    copy = tmp_path / "pkg"
    shutil.copytree(
        Path(__file__).resolve().parent.parent / "gitcoord",
        copy / "gitcoord",
        ignore=shutil.ignore_patterns("__pycache__"),
    )
    hook = local_repo / ".git" / "hooks" / "pre-commit"

    def install() -> str:
        """`gitcoord hooks install` of the copy; the name of the client its hooks exec."""
        env = {**os.environ, "PYTHONPATH": str(copy), "GITCOORD_WARM": "0"}
        done = subprocess.run(
            [sys.executable, "-m", "gitcoord", "hooks", "install"],
            cwd=local_repo,
            env=env,
            capture_output=True,
            text=True,
            timeout=300,
        )
        assert done.returncode == 0, done.stderr
        assert repr(str(copy)) in hook.read_text()
        (name,) = set(re.findall(r"hookc-[0-9a-f]{16}", hook.read_text()))
        return name

    first = install()
    env = {**os.environ, **warm.env, "GITCOORD_AGENT": "alpha"}
    _stage(local_repo, "free.txt", "free\n")
    assert commit(local_repo, env, "free").returncode == 0
    wait_for(lambda: bool(list(warm.directory.glob("hook-*.sock"))), "the hooks' server's link")
    old = _hooks_server(warm)
    assert (warm.directory / first).exists()
    # An upgrade that changes the C client alone (a fix in hookc.c): the hooks now name a new client.
    source = copy / "gitcoord" / "hooks" / "hookc.c"
    source.write_text(source.read_text() + "/* upgraded */\n")
    upgraded = install()
    assert upgraded != first
    _stage(local_repo, "free2.txt", "free\n")
    assert commit(local_repo, env, "free2").returncode == 0
    # The old server built the old client and builds only at its start: were it to go on serving
    # the hooks (its code stamp blind to hookc.c), the upgraded client would never be built while
    # commits keep it from idling out, and every commit would start Python.
    wait_for(lambda: (warm.directory / upgraded).exists(), "the upgraded client, built by a new server")
    wait_for(lambda: not _alive(old), "the old server to exit on its changed code")


def loader(program: Path) -> bytes | None:
    """The dynamic loader an ELF program names (its PT_INTERP segment), None for a static one."""
    data = program.read_bytes()
    assert data[:5] == b"\x7fELF\x02", "a 64-bit ELF program"
    order = "little" if data[5] == 1 else "big"
    phoff = int.from_bytes(data[0x20:0x28], order)
    size, count = int.from_bytes(data[0x36:0x38], order), int.from_bytes(data[0x38:0x3A], order)
    for at in range(phoff, phoff + size * count, size):
        if int.from_bytes(data[at : at + 4], order) == 3:  # PT_INTERP
            offset = int.from_bytes(data[at + 8 : at + 16], order)
            length = int.from_bytes(data[at + 32 : at + 40], order)
            return data[offset : offset + length].rstrip(b"\0")
    return None


def test_the_client_runs_in_every_environment_that_shares_the_runtime_directory(
    tmp_path: Path, local_repo: Path, warm: Warm
) -> None:
    # toolbox and distrobox share XDG_RUNTIME_DIR, the home and the work tree's paths with the host,
    # and their C library is another (musl, or a newer glibc whose programs need GLIBC_2.34 where the
    # host has less). The interpreter's path and the boot code are the same, so is the link; a
    # server there finds the host's client does not run, builds its own over it and links it: the
    # host's next commit execs a program its loader cannot start, sh cannot come back, and the
    # commit fails until that server is gone. A client that needs no loader runs in all of them.
    probe = tmp_path / "probe.c"
    probe.write_text("int main(void) { return 0; }\n")
    if subprocess.run(
        ["cc", "-static", "-o", str(tmp_path / "probe"), str(probe)], capture_output=True
    ).returncode:
        pytest.skip("no static C library here: the client is built as a dynamic program")
    served_repo(local_repo, warm)
    client = warm.directory / native.name()
    assert os.access(client, os.X_OK)
    assert loader(client) is None, "the client needs this environment's dynamic loader"


def test_a_compiler_named_with_its_arguments_builds_the_client(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # $CC is a command line, as make and Python's own build read it: `ccache cc`, `zig cc`,
    # `gcc -std=gnu99`. Taken as one program name it was never found, and nothing said so.
    cc = shutil.which("cc")
    if cc is None:
        pytest.skip("no C compiler here")
    where = tmp_path / "bin"
    where.mkdir(mode=0o700)
    monkeypatch.setenv("CC", f"{cc} -Wall")
    built = native.build(str(where))
    assert built is not None and built == where / native.name()
    done = subprocess.run([str(built)], capture_output=True, text=True)
    assert done.returncode == 2 and done.stderr.startswith("usage: hookc")


def test_doctor_does_not_promise_a_client_that_no_compiler_can_build(
    tmp_path: Path, local_repo: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    runtime = tmp_path / "rt"
    (runtime / "gitcoord").mkdir(parents=True, mode=0o700)
    monkeypatch.setenv("XDG_RUNTIME_DIR", str(runtime))
    monkeypatch.setenv("CC", str(tmp_path / "no-such-cc"))
    assert run(local_repo, "hooks", "install").code == 0
    found = run(local_repo, "doctor", "--json").json()["findings"]
    (hooks,) = [f for f in found if f["check"] == "hooks"]
    assert hooks["level"] == "ok"
    # Not "the server builds it when it starts": with no compiler it never does.
    assert "builds it" not in hooks["message"]
    assert "no C compiler (`$CC` or `cc`) here" in hooks["message"]


def test_a_hook_run_under_an_inherited_noclobber_empties_its_hand_off(
    tmp_path: Path, local_repo: Path, warm: Warm
) -> None:
    # The shell empties a used hand-off with a redirection; under `set -C` (noclobber, which bash
    # takes from an exported SHELLOPTS) a plain `>` may not overwrite it: `>|` may.
    env = served_repo(local_repo, warm)
    as_bash_sh(tmp_path, local_repo)
    strict = {**os.environ, **env, "SHELLOPTS": "noclobber"}
    del strict["GITCOORD_WARM"]
    _stage(local_repo, "free.txt", "free\n")
    done = commit(local_repo, strict, "free")
    assert (done.returncode, done.stderr) == (0, "")
    handoffs = list((local_repo / ".git" / "gitcoord-state").glob("trailers.*"))
    assert handoffs and all(path.read_text() == "" for path in handoffs)
