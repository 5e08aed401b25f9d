"""The parse cache: keyed by git ids, so it is never stale, and only ever saves time."""

from __future__ import annotations

import marshal
from datetime import UTC, datetime, timedelta
from pathlib import Path

from gitcoord import Coordinator
from gitcoord.cache import ParsedTrees
from gitcoord.hooks.claims import CLAIMS_INDEX, index_key
from gitcoord.hooks.lean import LeanRepo
from gitcoord.records import Claim

from .conftest import World, git, plant_records, run


def _cache_files(repo: Path) -> list[Path]:
    return sorted(
        (
            Path(git(repo, "rev-parse", "--path-format=absolute", "--git-common-dir"))
            / "gitcoord-state"
            / "cache"
        ).glob("*.json")
    )


def test_reads_follow_every_write(world: World) -> None:
    a, b = world.clones[0], world.clones[1]
    for i in range(3):
        assert run(a, "claim", f"c{i}.py", agent="alpha").code == 0
        # b's cache was filled on its previous read; the new tree id makes it re-read.
        assert sorted(c["resource"] for c in run(b, "claims", "--json").json()) == [
            f"c{j}.py" for j in range(i + 1)
        ]
    assert _cache_files(b)
    assert run(a, "release", "c1.py", agent="alpha").code == 0
    assert sorted(c["resource"] for c in run(b, "claims", "--json").json()) == ["c0.py", "c2.py"]


def _claims(repo: Path) -> list[dict[str, object]]:
    # seconds_left moves with the clock between two reads; everything else must not move.
    return [{k: v for k, v in c.items() if k != "seconds_left"} for c in run(repo, "claims", "--json").json()]


def test_a_damaged_or_missing_cache_only_costs_time(world: World) -> None:
    a = world.clones[0]
    run(a, "claim", "x.py", "y.py", agent="alpha")
    expected = _claims(a)
    for path in _cache_files(a):
        path.write_text("{not json")
    assert _claims(a) == expected
    for path in _cache_files(a):
        path.unlink()
    assert _claims(a) == expected


def test_only_changed_files_are_read_again(tmp_path: Path) -> None:
    cache = ParsedTrees(tmp_path)
    asked: list[list[str]] = []

    def read(shas: object) -> list[bytes | None]:
        asked.append(list(shas))  # type: ignore[call-overload]
        return [f'n = "{sha}"'.encode() for sha in asked[-1]]

    first, _ = cache.read("d", "tree1", lambda: {"a.toml": "s1", "b.toml": "s2"}, read)
    assert first == {"a.toml": {"n": "s1"}, "b.toml": {"n": "s2"}} and asked == [["s1", "s2"]]
    again, _ = cache.read("d", "tree1", lambda: {}, read)  # same tree: nothing listed, nothing read
    assert again == first and len(asked) == 1
    changed, _ = cache.read("d", "tree2", lambda: {"a.toml": "s1", "b.toml": "s3", "c.toml": "s4"}, read)
    assert asked[-1] == ["s3", "s4"]
    assert changed == {"a.toml": {"n": "s1"}, "b.toml": {"n": "s3"}, "c.toml": {"n": "s4"}}


def test_malformed_record_warns_on_every_read(world: World) -> None:
    a = world.clones[0]
    run(a, "claim", "ok.py", agent="alpha")
    hand = world.root / "hand"
    git(world.root, "clone", "-q", "--branch", "coord", str(world.remote), str(hand))
    (hand / ".coord" / "claims" / "C-77.toml").write_text("not = = toml")
    (hand / ".coord" / "claims" / "C-78.toml").write_text('id = "C-78"\nagent = "x"\n')  # TOML, not a claim
    git(hand, "add", ".")
    git(hand, "commit", "-q", "-m", "damage")
    git(hand, "push", "-q", "origin", "coord")
    for _ in range(2):  # the second read comes from the cache and must warn just the same
        with Coordinator(a) as coord:
            snap = coord.snapshot(fetch=True)
            assert [c.resource for c in snap.records(Claim)] == ["ok.py"]
            assert snap.skipped == [".coord/claims/C-77.toml", ".coord/claims/C-78.toml"]


# -- the hooks' claim index (`gitcoord.hooks.claims.SavedIndex`): keyed by the claims tree's id ------


def _index_file(repo: Path) -> Path:
    common = Path(git(repo, "rev-parse", "--path-format=absolute", "--git-common-dir"))
    return common / "gitcoord-state" / "cache" / CLAIMS_INDEX


def _answers(repo: Path, paths: list[str], now: datetime | None = None) -> list[list[tuple[str, str, int]]]:
    index = LeanRepo(repo).claim_index(now=now)
    return [[(c.id, c.agent, c.token) for c in index.covering(p)] for p in paths]


PATHS = ["src/a.py", "src/deep/b.py", "docs/readme.md", "Src/A.py", "free.txt"]


def test_the_claim_index_answers_as_the_records_do_and_follows_every_write(local_repo: Path) -> None:
    assert run(local_repo, "claim", "src/a.py", "docs/", "--shared", agent="alpha").code == 0
    assert run(local_repo, "claim", "src/**/*.py", "--shared", agent="beta").code == 0
    first = _answers(local_repo, PATHS)  # builds and saves the index
    assert _index_file(local_repo).exists()
    assert [a for a, _, _ in first[0]] == ["C-1", "C-3"]
    assert [a for a, _, _ in first[1]] == ["C-3"] and [a for a, _, _ in first[2]] == ["C-2"]
    assert _answers(local_repo, PATHS) == first  # from the saved index
    tree = git(local_repo, "rev-parse", "refs/heads/coord:.coord/claims")
    key = index_key(False)
    for damage in (
        b"",
        b"\x00not marshal",
        marshal.dumps((("old", False), "tree", [], None)),
        marshal.dumps(((1, False), tree, [], (False, {}, {}))),  # the first format's key
        marshal.dumps((key, tree, [("C-1",)], (False, {}, {}))),  # ours by key, not by shape
        marshal.dumps((key, tree, [], (False, [], {}))),
    ):
        _index_file(local_repo).write_bytes(damage)
        assert _answers(local_repo, PATHS) == first
    _index_file(local_repo).unlink()
    assert _answers(local_repo, PATHS) == first
    # A new claims tree: the saved index is for another tree id and is never used for this one.
    assert run(local_repo, "claim", "free.txt", agent="gamma").code == 0
    assert [a for a, _, _ in _answers(local_repo, PATHS)[-1]] == ["C-4"]
    assert run(local_repo, "release", "src/a.py", agent="alpha").code == 0
    assert [a for a, _, _ in _answers(local_repo, PATHS)[0]] == ["C-3"]
    # claims.ignorecase is part of the key: the same tree answers case-folded paths once it is set.
    assert _answers(local_repo, ["Src/A.py"]) == [[]]
    cfg = local_repo / ".coord" / "config.toml"
    cfg.write_text(cfg.read_text().replace("ignorecase = false", "ignorecase = true"))
    assert "ignorecase = true" in cfg.read_text()
    assert [a for a, _, _ in _answers(local_repo, ["Src/A.py"])[0]] == ["C-3"]


def test_the_claim_index_decides_what_is_dead_at_each_call(local_repo: Path) -> None:
    assert run(local_repo, "claim", "src/a.py", agent="alpha").code == 0
    now = datetime.now(UTC)
    assert [a for a, _, _ in _answers(local_repo, ["src/a.py"], now)[0]] == ["C-1"]  # saved now
    later = now + timedelta(days=2)  # past the claim's lease and any grace
    assert _answers(local_repo, ["src/a.py"], later) == [[]]
    assert LeanRepo(local_repo).claim_index(now=later).claims() == []
    assert [c.id for c in LeanRepo(local_repo).claims(now=now)] == ["C-1"]


def test_a_claim_written_in_another_form_is_found_by_its_normal_form(local_repo: Path) -> None:
    """A record may hold its resource as written (`./src//a.py`); the library judges it normalised,
    and so must the hooks, from the records and from the saved index alike."""
    plant_records(
        local_repo,
        {
            ".coord/claims/C-1.toml": (
                'id = "C-1"\nagent = "beta"\nresource = "./src//a.py"\nmode = "exclusive"\ntoken = 1\n'
                'created_at = "2026-01-01T00:00:00Z"\nlast_check_in = "2026-01-01T00:00:00Z"\n'
                'expires_at = "2999-01-01T00:00:00Z"\n'
            )
        },
    )
    refused = run(local_repo, "claim", "src/a.py", agent="alpha")
    assert refused.code == 3 and "C-1" in refused.err
    for _ in range(2):  # built from the records, then from the saved index
        assert _answers(local_repo, ["src/a.py"]) == [[("C-1", "beta", 1)]]
