"""What one coord write asks git's object reader: each object once (the tip's commit by its ref
only), and no probe for the object format when the tip's id already tells it (SHA-1 and SHA-256)."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import pytest

from gitcoord.coordinator import Coordinator
from gitcoord.git import EMPTY_TREES, CatFile

from .conftest import git, run


@pytest.mark.parametrize("fmt", ["sha1", "sha256"])
def test_a_claim_asks_for_each_object_once(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, fmt: str) -> None:
    repo = tmp_path / fmt
    git(tmp_path, "init", "-q", f"--object-format={fmt}", str(repo))
    (repo / "README.md").write_text("x\n")
    git(repo, "add", "README.md")
    git(repo, "commit", "-q", "-m", "initial")
    assert run(repo, "init").code == 0
    assert run(repo, "claim", "src/a.py", agent="alpha").code == 0  # the agent has a record now
    asked: list[str] = []
    read = CatFile.read

    def counting(self: CatFile, names: Sequence[str]) -> list[tuple[str, str, bytes] | None]:
        asked.extend(names)  # git still answers: this only writes down what was asked
        return read(self, names)

    tip = git(repo, "rev-parse", "refs/heads/coord")
    monkeypatch.setattr(CatFile, "read", counting)
    with Coordinator(repo, agent="alpha") as coord:
        coord.claim(["src/b.py"])
    assert asked, "the claim read nothing through cat-file"
    assert not set(asked) & set(EMPTY_TREES.values()), asked
    assert len(asked) == len(set(asked)), asked
    assert tip not in asked, "the tip's commit was read by its ref already"
    assert git(repo, "fsck", "--strict", "--no-dangling") == ""
