"""Review of store format 2 (issue 14): races and odd input around each agent's own ref.

Interleavings are made deterministic with a `reference-transaction` hook that holds one git
ref update at its `prepared` step until the test lets it go: real git, no mocks, no timing.
"""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

from tests.conftest import GITCOORD, git, run, wait_for

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
