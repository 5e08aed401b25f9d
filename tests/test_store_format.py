"""A store of a newer format than this gitcoord knows is refused, never read in part or written.

A later format (DESIGN §2) must find a clone still running this version saying so and stopping:
a write would stamp meta.toml back to format 2 and the two versions would split the store.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.conftest import World, git, plant_records, run, spawn

NEWER = "format = 3\nrev = 40\n"


def _coord_tip(repo: Path, ref: str = "refs/heads/coord") -> str:
    return git(repo, "rev-parse", ref)


@pytest.mark.parametrize("args", [["claim", "src/b.py"], ["check-in"], ["status"], ["claims"], ["inbox"]])
def test_a_newer_store_is_refused_with_exit_4_and_left_as_it_was(local_repo: Path, args: list[str]) -> None:
    assert run(local_repo, "claim", "src/a.py", agent="alpha").code == 0
    plant_records(local_repo, {".coord/meta.toml": NEWER}, "a newer gitcoord wrote this")
    before = _coord_tip(local_repo)

    res = spawn(local_repo, *args, agent="alpha")  # as an agent runs it: the lean reads first

    assert res.code == 4, res
    assert "the coord store on 'coord' is format 3, newer than this gitcoord knows (format 2)" in res.err
    assert "install the newer gitcoord on this machine" in res.err
    assert "Traceback" not in res.err
    assert _coord_tip(local_repo) == before
    assert git(local_repo, "show", "refs/heads/coord:.coord/meta.toml") == NEWER.strip()


def test_a_clone_refuses_what_its_remote_holds_in_a_newer_format(world: World) -> None:
    first, second = world.clones[0], world.clones[1]
    assert run(first, "claim", "src/a.py", agent="alpha").code == 0
    plant_records(first, {".coord/meta.toml": NEWER}, "a newer gitcoord wrote this")
    git(first, "push", "-q", "origin", "refs/heads/coord:refs/heads/coord")
    on_remote = git(world.remote, "rev-parse", "refs/heads/coord")

    res = spawn(second, "claim", "src/b.py", agent="beta")

    assert res.code == 4, res
    assert "is format 3, newer than this gitcoord knows" in res.err
    assert git(world.remote, "rev-parse", "refs/heads/coord") == on_remote


def test_a_damaged_or_older_meta_is_still_this_format(local_repo: Path) -> None:
    """Only a well-formed larger number refuses: a damaged meta.toml is skipped and rewritten by
    the next write, as before (DESIGN §3)."""
    for text in ("format = 'two'\nrev = 3\n", "not toml at all [", "rev = 5\n"):
        plant_records(local_repo, {".coord/meta.toml": text}, "hand edit")
        res = run(local_repo, "claim", f"src/{len(text)}.py", agent="alpha")
        assert res.code == 0, (text, res)
    assert "format = 2" in git(local_repo, "show", "refs/heads/coord:.coord/meta.toml")
