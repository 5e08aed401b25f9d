"""Every command in the README runs as written.

Each ```sh block of README.md is preceded by a marker line: `<!-- runnable -->`, and this test runs
it, or `<!-- not run: REASON -->`, and the reason says why a test cannot (a fresh machine, a real
Notion token, ids of your own records). Runnable blocks run in their order in the README, each in
its own `bash -e -o pipefail`, each starting in one scratch directory that holds `my-repo`: a clone
of a bare remote, as a team's repository would be. `gitcoord` is the one of this test's venv.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

from tests.conftest import git

ROOT = Path(__file__).resolve().parent.parent
README = ROOT / "README.md"
RUNNABLE = "<!-- runnable -->"
SHELL_FENCES = ("```sh", "```bash", "```shell", "```console", "```zsh")
NOT_RUN = re.compile(r"<!-- not run: (?P<reason>\S.*\S) -->")


def _shell_blocks(text: str) -> list[tuple[int, str, str]]:
    """(line number, marker line, code) of every shell block (```sh, ```bash, ...)."""
    lines = text.splitlines()
    found = []
    i = 0
    while i < len(lines):
        if lines[i].strip().lower() in SHELL_FENCES:
            start = i
            end = next(j for j in range(i + 1, len(lines)) if lines[j].strip() == "```")
            before = next((lines[j] for j in range(start - 1, -1, -1) if lines[j].strip()), "")
            found.append((start + 1, before.strip(), "\n".join(lines[start + 1 : end]) + "\n"))
            i = end
        i += 1
    return found


BLOCKS = _shell_blocks(README.read_text(encoding="utf-8"))


def test_every_shell_block_says_whether_it_runs() -> None:
    unmarked = [line for line, marker, _ in BLOCKS if marker != RUNNABLE and not NOT_RUN.fullmatch(marker)]
    assert unmarked == [], f"README.md lines {unmarked}: mark {RUNNABLE} or <!-- not run: why -->"
    assert sum(marker == RUNNABLE for _, marker, _ in BLOCKS) >= 2


def test_readme_opens_with_its_purpose_and_the_dashboard() -> None:
    text = README.read_text(encoding="utf-8")
    head = text.split("```", 1)[0]
    assert "![" in head and "(docs/dashboard.png)" in head, "the picture comes before any command"
    purpose = head.split("\n\n")[1]
    assert len(re.findall(r"[.!?](?:\s|$)", purpose)) == 3, f"three sentences: {purpose!r}"


def test_the_test_command_is_the_one_ci_runs() -> None:
    ci = (ROOT / ".ci" / "run").read_text(encoding="utf-8")
    assert ".venv/bin/pytest -n 2 -q" in ci
    codes = [code for _, _, code in BLOCKS]
    assert any(code.rstrip().endswith("&& .venv/bin/pytest -n 2 -q") for code in codes)
    assert any(code.rstrip().endswith("&& .venv/bin/gitcoord demo") for code in codes)


def _scratch(tmp_path: Path) -> Path:
    """A bare remote with one commit on main, and `my-repo`, its clone, in a scratch directory."""
    remote = tmp_path / "team.git"
    git(tmp_path, "init", "-q", "--bare", str(remote))
    seed = tmp_path / "seed"
    git(tmp_path, "clone", "-q", str(remote), str(seed))
    (seed / "README.md").write_text("the team's project\n")
    git(seed, "add", "README.md")
    git(seed, "commit", "-q", "-m", "start")
    git(seed, "push", "-q", "origin", "HEAD:main")
    scratch = tmp_path / "scratch"
    scratch.mkdir()
    git(scratch, "clone", "-q", str(remote), "my-repo")
    return scratch


def test_runnable_blocks_run_as_written(tmp_path: Path) -> None:
    scratch = _scratch(tmp_path)
    env = {**os.environ, "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}"}
    runnable = [(line, code) for line, marker, code in BLOCKS if marker == RUNNABLE]
    if not runnable:
        pytest.fail("no runnable block in README.md")
    for line, code in runnable:
        script = tmp_path / f"readme-{line}.sh"
        script.write_text(code)
        res = subprocess.run(
            ["bash", "-e", "-o", "pipefail", str(script)],
            cwd=scratch,
            env=env,
            capture_output=True,
            text=True,
            timeout=600,
        )
        assert res.returncode == 0, (
            f"README.md block at line {line} exited {res.returncode}:\n{code}\n"
            f"--- stdout\n{res.stdout}\n--- stderr\n{res.stderr}"
        )


def test_a_failing_block_fails_the_run(tmp_path: Path) -> None:
    """The runner has teeth: a command that exits non-zero in the middle of a block stops it."""
    script = tmp_path / "bad.sh"
    script.write_text("true\ngitcoord claim --no-such-option x\necho unreachable\n")
    env = {**os.environ, "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}"}
    res = subprocess.run(
        ["bash", "-e", "-o", "pipefail", str(script)], cwd=tmp_path, env=env, capture_output=True, text=True
    )
    assert res.returncode == 2
    assert "unreachable" not in res.stdout
    assert "No such option '--no-such-option'" in res.stderr
