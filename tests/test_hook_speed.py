"""Hooks start Python without `site` (issue 13) and still refuse and commit as before."""

from __future__ import annotations

import os
import shlex
import subprocess
import sys
from pathlib import Path

from gitcoord.hooks.files import script

from .conftest import git, run
from .test_hooks import commit, install, stage


def _exec_argv(text: str) -> list[str]:
    line = next(x for x in text.splitlines() if x.startswith("exec "))
    return shlex.split(line)[1:]


def test_the_installed_hook_skips_site(local_repo: Path) -> None:
    install(local_repo)
    hook = Path(git(local_repo, "rev-parse", "--path-format=absolute", "--git-path", "hooks/pre-commit"))
    argv = _exec_argv(hook.read_text())
    assert "-S" in argv and "-P" in argv
    assert run(local_repo, "claim", "src/a.py", "-m", "mine", agent="alpha").code == 0
    stage(local_repo, "src/a.py")
    refused = commit(local_repo, "-m", "beta edits a", agent="beta")
    assert refused.returncode == 1
    assert "alpha's exclusive claim C-1 on src/a.py" in refused.stderr
    done = commit(local_repo, "-m", "alpha edits a", agent="alpha")
    assert done.returncode == 0, done.stderr


def test_a_boot_line_with_a_gone_package_dir_falls_back_to_site(tmp_path: Path) -> None:
    text = script("pre-commit", None, sys.executable)
    argv = _exec_argv(text)
    code = argv[argv.index("-c") + 1]
    gone = str(tmp_path / "nowhere")
    # The recorded package directory no longer holds gitcoord: `site` finds the installed one.
    moved = code.replace(repr(_root_of(code)), repr(gone))
    assert moved != code
    res = subprocess.run([sys.executable, "-S", "-P", "-c", moved], capture_output=True, text=True)
    assert res.returncode == 2 and "usage: python -m gitcoord.hooks" in res.stderr


def _root_of(code: str) -> str:
    import ast

    for node in ast.walk(ast.parse(code)):
        if isinstance(node, ast.Assign) and getattr(node.targets[0], "id", "") == "r":
            assert isinstance(node.value, ast.Constant)
            return str(node.value.value)
    raise AssertionError(code)


# -- pre-commit starts its `git diff` before its imports (issue 13) ---------------------------------


def test_pre_commit_judges_renames_and_deletions_it_listed_early(local_repo: Path) -> None:
    install(local_repo)
    stage(local_repo, "src/old.py")
    stage(local_repo, "src/gone.py")
    assert commit(local_repo, "-m", "two files", agent="alpha").returncode == 0
    assert run(local_repo, "claim", "src/old.py", "src/gone.py", "-m", "mine", agent="alpha").code == 0
    subprocess.run(["git", "mv", "src/old.py", "src/new.py"], cwd=local_repo, check=True)
    subprocess.run(["git", "rm", "-q", "src/gone.py"], cwd=local_repo, check=True)
    # From a subdirectory: git runs the hook in the top directory, where the early diff is used.
    refused = commit(local_repo / "src", "-m", "beta moves and deletes", agent="beta")
    assert refused.returncode == 1
    assert "src/old.py: alpha's exclusive claim" in refused.stderr
    assert "src/gone.py: alpha's exclusive claim" in refused.stderr


def test_a_pre_commit_run_outside_the_top_directory_lists_the_paths_itself(local_repo: Path) -> None:
    install(local_repo)
    assert run(local_repo, "claim", "src/a.py", "-m", "mine", agent="alpha").code == 0
    stage(local_repo, "src/a.py")
    hook = local_repo / ".git" / "hooks" / "pre-commit"
    env = {k: v for k, v in os.environ.items() if not k.startswith("GIT_")} | {"GITCOORD_AGENT": "beta"}
    # A hook manager may run it from elsewhere in the work tree: the early `git diff` is not used.
    res = subprocess.run([str(hook)], cwd=local_repo / "src", env=env, capture_output=True, text=True)
    assert res.returncode == 1
    assert "src/a.py: alpha's exclusive claim C-1" in res.stderr
