"""Adversarial review of what the hooks keep or skip since 7c606b6: `kept.SavedWorkspace`, the
loose-ref shortcut of `LeanRepo.claim_index`, the per-claim rows of `hooks.claims.SavedIndex`, and
the pre-commit that now reads the claims before it knows whether anything is staged.

Real git, real `git commit` and `git push` through installed hooks, a real hooks' server. Each
test names a behaviour that differed from the one before these commits (or from the documented
contract) and failed on the code the review read; each is fixed.
"""

from __future__ import annotations

import marshal
import os
from pathlib import Path

from gitcoord.constants import CACHE_DIR
from gitcoord.hooks.claims import CLAIMS_INDEX
from tests.conftest import World, git, run
from tests.test_guard import claude_call, guard
from tests.test_kept_hooks import LEGACY, in_process, refused_for
from tests.test_warm_hooks import _hooks_server, _stage, agent_git
from tests.warm_helpers import Warm, settled


def damage_one_row(repo: Path) -> None:
    """Flip the first byte of the one claim's row inside the saved claim index, as a bad sector or
    a stray write would: the file as a whole still loads (its key and shapes are intact), the row
    does not."""
    path = repo / ".git" / CACHE_DIR / CLAIMS_INDEX
    data = path.read_bytes()
    payload = marshal.loads(data)[2]  # (key, checksum, payload): the payload holds the rows
    rows = marshal.loads(payload)[1][0]
    assert len(rows) == 1
    at = data.index(rows[0])
    path.write_bytes(data[:at] + bytes([data[at] ^ 0xFF]) + data[at + 1 :])
    marshal.loads(path.read_bytes())


def test_a_damaged_row_of_the_saved_claim_index_is_rebuilt_from_the_records(local_repo: Path) -> None:
    assert run(local_repo, "hooks", "install").code == 0
    assert run(local_repo, "claim", "src/held.py", agent="beta").code == 0
    edit = claude_call(local_repo, "Edit", str(local_repo / "src/held.py"))
    denied = guard(local_repo, "claude", edit, agent="alpha")
    assert '"permissionDecision": "deny"' in denied.stdout, denied
    _stage(local_repo, "a.txt", "a\n")
    assert in_process(local_repo, "-m", "saves the claim index").code == 0

    damage_one_row(local_repo)
    _stage(local_repo, "src/held.py", "x\n")
    done = in_process(local_repo, "-m", "edits beta's file")
    assert "Traceback" not in done.err, done.err
    assert refused_for(done, "alpha", "beta"), done
    again = guard(local_repo, "claude", edit, agent="alpha")
    assert (again.returncode, again.stdout) == (denied.returncode, denied.stdout), again


def test_a_commit_with_nothing_staged_does_not_fetch_the_coord_branch(world: World) -> None:
    a, b = world.clones[0], world.clones[1]
    assert run(b, "hooks", "install").code == 0
    (b / ".coord").mkdir()
    text = (a / ".coord" / "config.toml").read_text()
    assert "fetch = false" in text
    (b / ".coord" / "config.toml").write_text(text.replace("fetch = false", "fetch = true"))
    git(b, "fetch", "-q", "origin")
    git(b, "remote", "set-url", "origin", str(world.root / "offline.git"))  # the laptop is offline
    done = in_process(b, "--allow-empty", "-m", "nothing staged", agent="beta")
    assert done.code == 0, done
    assert "fetch" not in done.gits, done.gits
    assert "could not fetch" not in done.err, done.err


def test_served_pushes_to_a_fenced_bare_repository_keep_one_saved_answer(
    tmp_path: Path, world: World, warm: Warm
) -> None:
    assert run(world.remote, "hooks", "install", "--server").code == 0
    parents = tmp_path / "pre-receive-parents.log"
    legacy = world.remote / "hooks" / "pre-receive.legacy"
    legacy.write_text(LEGACY.format(log=parents))
    legacy.chmod(0o755)
    a = world.clones[0]
    git(a, "pull", "-q")
    settled(world.remote / "config", Path(os.environ["GIT_CONFIG_GLOBAL"]))
    server = 0
    for n in range(4):
        _stage(a, f"f{n}.txt", f"{n}\n")
        git(a, "commit", "-q", "-m", f"c{n}")
        parents.unlink(missing_ok=True)
        pushed = agent_git(a, dict(warm.env, GITCOORD_AGENT="alpha"), "push", "-q", "origin", "HEAD")
        assert pushed.returncode == 0, pushed.stderr
        if n == 0:  # in-process; it starts the hooks' server
            server = _hooks_server(warm)
        else:
            assert parents.read_text().split() == [str(server)], "the pre-receive was served"
    saved = sorted(path.name for path in warm.directory.glob("ws-*"))
    assert len(saved) == 1, saved
