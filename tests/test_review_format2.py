"""Review of store format 2 (issue 14): races and odd input around each agent's own ref.

Interleavings are made deterministic with a `reference-transaction` hook that holds one git
ref update at its `prepared` step until the test lets it go: real git, no mocks, no timing.
"""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

import pytest

from tests.conftest import GITCOORD, git, run, spawn, wait_for

SHARED = "refs/heads/coord"

_GATE_HOOK = """#!/bin/sh
# Holds the first update of REF (armed by the test) at `prepared` until the test says go.
[ "$1" = prepared ] || {{ cat >/dev/null; exit 0; }}
if grep -q " {ref}$" && [ -e "{gate}/armed" ]; then
    rm -f "{gate}/armed"
    : > "{gate}/waiting"
    while [ ! -e "{gate}/go" ]; do sleep 0.05; done
fi
exit 0
"""


def _gate(repo: Path, ref: str) -> Path:
    """Arm a gate on the next update of `ref` in `repo`; returns its directory."""
    gate = repo.parent / "gate"
    gate.mkdir(exist_ok=True)
    hooks = Path(git(repo, "rev-parse", "--git-path", "hooks"))
    hooks = hooks if hooks.is_absolute() else repo / hooks
    hooks.mkdir(parents=True, exist_ok=True)
    hook = hooks / "reference-transaction"
    hook.write_text(_GATE_HOOK.format(ref=ref, gate=gate))
    hook.chmod(0o755)
    (gate / "armed").touch()
    return gate


def _held_write(repo: Path, gate: Path, *args: str, agent: str) -> subprocess.Popen[bytes]:
    proc = subprocess.Popen(
        [*GITCOORD, "-C", str(repo), *args],
        env=dict(os.environ, GITCOORD_AGENT=agent),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )
    wait_for(lambda: (gate / "waiting").exists() or proc.poll() is not None, "the held write")
    assert proc.poll() is None, proc.communicate()
    return proc


def test_an_own_ref_write_that_read_before_a_shared_write_does_not_hide_it(local_repo: Path) -> None:
    """A release lands on the shared ref after two check-ins of the same agent landed on its own
    ref, both of which read the shared ref before the release: the release's bookkeeping must
    stand, or the next check-in reports the released claim as lost."""
    assert run(local_repo, "claim", "src/a.py", agent="alpha").code == 0
    gate = _gate(local_repo, SHARED)
    release = _held_write(local_repo, gate, "release", "src/a.py", agent="alpha")
    for _ in range(2):  # lease to spare: each lands on alpha's own ref only
        assert run(local_repo, "check-in", agent="alpha").code == 0
    (gate / "go").touch()
    _out, err = release.communicate(timeout=120)
    assert release.returncode == 0, err

    res = run(local_repo, "check-in", "--json", agent="alpha")

    assert res.code == 0, res
    assert res.json()["lost"] == []
    agents = {a["name"]: a for a in run(local_repo, "status", "--json", agent="beta").json()["agents"]}
    assert agents["alpha"]["resource"] == ""


def _plant_own(repo: Path, agent: str, text: str) -> None:
    """Put `text` on `agent`'s own ref as its record, by plumbing, as a careless or hostile pusher could."""
    blob = subprocess.run(
        ["git", "hash-object", "-w", "--stdin"], cwd=repo, input=text, text=True, capture_output=True
    ).stdout.strip()
    agents = subprocess.run(
        ["git", "mktree"],
        cwd=repo,
        input=f"100644 blob {blob}\t{agent}.toml\n",
        text=True,
        capture_output=True,
    ).stdout.strip()
    root = subprocess.run(
        ["git", "mktree"], cwd=repo, input=f"040000 tree {agents}\tagents\n", text=True, capture_output=True
    ).stdout.strip()
    tree = subprocess.run(
        ["git", "mktree"], cwd=repo, input=f"040000 tree {root}\t.coord\n", text=True, capture_output=True
    ).stdout.strip()
    commit = git(repo, "commit-tree", tree, "-m", "planted")
    git(repo, "update-ref", f"refs/coord/agents/{agent}", commit)


@pytest.mark.parametrize(
    "text",
    [
        'name = "beta"\nseq = 50\nupdated_rev = 99\n',  # another agent's name inside
        'name = "alpha"\nseq = 50\nupdated_rev = 99\nlast_check_in = "soon"\n',  # not a time
        'name = "alpha"\nseq = 50\nupdated_rev = 99\nheld = 3\n',  # not a table
        "this is = = not TOML\n",
    ],
)
def test_a_malformed_own_copy_is_skipped_and_the_shared_copy_stands(local_repo: Path, text: str) -> None:
    assert run(local_repo, "claim", "src/a.py", agent="alpha").code == 0
    _plant_own(local_repo, "alpha", text)

    full = run(local_repo, "status", "--json", agent="gamma")
    lean = spawn(local_repo, "status", "--json", agent="gamma", env={"GITCOORD_WARM": "0"})

    for res in (full, lean):
        assert res.code == 0, res
        assert "skipping malformed record refs/coord/agents/alpha:.coord/agents/alpha.toml" in res.err
        report = res.json()
        assert {a["name"]: a["resource"] for a in report["agents"]} == {"alpha": "src/a.py"}
        assert report["skipped"] == ["refs/coord/agents/alpha:.coord/agents/alpha.toml"]
    res = run(local_repo, "check-in", "--json", agent="alpha")  # alpha's own write repairs its ref
    assert res.code == 0 and res.json()["lost"] == [], res
    assert "seq = 2" in git(local_repo, "show", "refs/coord/agents/alpha:.coord/agents/alpha.toml")
