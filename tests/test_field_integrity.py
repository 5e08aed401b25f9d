"""Field hardening, integrity: a record that could not be read is never "no record".

Real git throughout: a bare remote serving a `--filter=blob:none` clone whose promisor
remote goes away while a claim's blob is not local, and records pushed by plumbing that
parse but hold values no command could have written.
"""

from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path

import pytest

from tests.conftest import GITCOORD, git, make_repo, plant_records, run, spawn

UNREADABLE = "cannot read the coord records: "


# -- partial clone, promisor remote unreachable -----------------------------------------------------


def _missing_objects(repo: Path, rev: str) -> set[str]:
    """Objects of `rev`'s tree that are not in this clone (no lazy fetch: --missing=print)."""
    out = git(repo, "rev-list", "--objects", "--no-walk", "--missing=print", rev)
    return {line[1:] for line in out.splitlines() if line.startswith("?")}


def _commit(
    repo: Path, path: str, *, agent: str | None, no_verify: bool = False
) -> subprocess.CompletedProcess[str]:
    (repo / path).parent.mkdir(parents=True, exist_ok=True)
    (repo / path).write_text(f"edit of {path}\n")
    git(repo, "add", path)
    env = {k: v for k, v in os.environ.items() if k != "GITCOORD_AGENT"}
    if agent:
        env["GITCOORD_AGENT"] = agent
    return subprocess.run(
        ["git", "commit", "-q", "-m", f"edit {path}", *(["--no-verify"] if no_verify else [])],
        cwd=repo,
        capture_output=True,
        text=True,
        env=env,
    )


def _guard(repo: Path, path: str, agent: str) -> subprocess.CompletedProcess[str]:
    call = {"tool_name": "Edit", "cwd": str(repo), "tool_input": {"file_path": str(repo / path)}}
    return subprocess.run(
        [*GITCOORD, "guard", "--format", "claude"],
        cwd=repo,
        input=json.dumps(call),
        capture_output=True,
        text=True,
        env=dict(os.environ, GITCOORD_AGENT=agent),
    )


def _cached_nulls(repo: Path) -> list[str]:
    """Cache entries that hold no parse (what a failed read used to be stored as)."""
    found = []
    for path in (repo / ".git" / "gitcoord-state" / "cache").glob("*.json"):
        files = json.loads(path.read_text())["files"]
        found += [f"{path.name}:{name}" for name, (_, parsed) in files.items() if parsed is None]
    return found


def claimed_in_partial_clone(tmp_path: Path, filter_spec: str) -> tuple[Path, Path, Path]:
    """(remote, full clone a, `--filter=FILTER_SPEC` clone b with hooks): alpha claimed src/api.py
    in a, and b fetched it with plain git, so the promisor's filter left objects of it behind."""
    seed = make_repo(tmp_path / "seed")
    remote = tmp_path / "remote.git"
    git(tmp_path, "clone", "-q", "--bare", str(seed), str(remote))
    git(remote, "config", "uploadpack.allowFilter", "true")
    a = tmp_path / "a"
    git(tmp_path, "clone", "-q", str(remote), str(a))
    assert run(a, "init").code == 0
    b = tmp_path / "b"
    git(tmp_path, "clone", "-q", f"--filter={filter_spec}", remote.as_uri(), str(b))
    assert run(b, "hooks", "install").code == 0
    assert run(a, "claim", "src/api.py", "-m", "refactor", agent="alpha").code == 0
    git(b, "fetch", "-q", "origin")
    return remote, a, b


@pytest.fixture
def partial(tmp_path: Path) -> tuple[Path, Path, Path, str]:
    """(remote, full clone a, partial clone b, blob id of alpha's claim): the claim was
    fetched into b without its blob, and the remote has just gone away."""
    remote, a, b = claimed_in_partial_clone(tmp_path, "blob:none")  # the claim's blob stays behind
    blob = git(b, "ls-tree", "origin/coord", ".coord/claims/").split()[2]
    assert blob in _missing_objects(b, "origin/coord")
    remote.rename(tmp_path / "remote.away")
    return remote, a, b, blob


def test_partial_clone_unreadable_claim_fails_closed_everywhere(
    partial: tuple[Path, Path, Path, str],
) -> None:
    remote, _, b, blob = partial
    base = git(b, "rev-parse", "HEAD")

    listed = run(b, "claims", "--no-fetch", "--json", agent="beta")
    assert listed.code == 4, listed
    assert UNREADABLE in listed.err and "promisor remote 'origin'" in listed.err, listed.err
    assert "retry when it is back" in listed.err

    status = run(b, "status", "--no-fetch", "--json", agent="beta")
    assert status.code == 4 and UNREADABLE in status.err, status

    claimed = run(b, "claim", "src/api.py", agent="beta")
    assert claimed.code == 4, claimed
    assert "granted" not in claimed.out

    refused = _commit(b, "src/api.py", agent="beta")
    assert refused.returncode != 0, refused
    assert UNREADABLE in refused.stderr and "promisor remote 'origin'" in refused.stderr, refused.stderr
    assert git(b, "rev-parse", "HEAD") == base

    denied = _guard(b, "src/api.py", "beta")
    assert denied.returncode == 0, denied.stderr
    answer = json.loads(denied.stdout)["hookSpecificOutput"]
    assert answer["permissionDecision"] == "deny"
    assert UNREADABLE in answer["permissionDecisionReason"]

    # A human's commit made past the hook: verify cannot say "clean" about claims it cannot see.
    assert _commit(b, "src/api.py", agent=None, no_verify=True).returncode == 0
    verified = spawn(b, "verify", "--no-fetch", f"{base}..HEAD")
    assert verified.code == 4, verified
    assert UNREADABLE in verified.err and "clean" not in verified.out, verified

    doctor = run(b, "doctor", "--json")
    assert doctor.code == 4, doctor
    assert UNREADABLE in doctor.out + doctor.err, doctor
    assert not _cached_nulls(b)

    # The remote is back: everything reads the claim again; nothing false was remembered.
    (remote.parent / "remote.away").rename(remote)
    listed = run(b, "claims", "--no-fetch", "--json", agent="beta")
    assert listed.code == 0, listed
    assert [c["resource"] for c in listed.json()] == ["src/api.py"]
    assert blob not in _missing_objects(b, "origin/coord")
    claimed = run(b, "claim", "src/api.py", agent="beta")
    assert claimed.code == 3 and "alpha" in claimed.err, claimed
    denied = _guard(b, "src/api.py", "beta")
    assert json.loads(denied.stdout)["hookSpecificOutput"]["permissionDecision"] == "deny"
    assert "alpha's exclusive claim" in denied.stdout
    verified = spawn(b, "verify", "--no-fetch", f"{base}..HEAD")
    assert verified.code == 3 and "alpha" in verified.out + verified.err, verified
    assert not _cached_nulls(b)


def test_cache_entry_of_a_failed_read_is_read_again(partial: tuple[Path, Path, Path, str]) -> None:
    """A cache written by an older gitcoord holds `null` for a failed read: never trusted."""
    remote, _, b, _ = partial
    (remote.parent / "remote.away").rename(remote)
    assert run(b, "claims", "--no-fetch", agent="beta").code == 0
    cache = b / ".git" / "gitcoord-state" / "cache" / ".coord__claims.json"
    data = json.loads(cache.read_text())
    for entry in data["files"].values():
        entry[1] = None
    cache.write_text(json.dumps(data))
    listed = run(b, "claims", "--no-fetch", "--json", agent="beta")
    assert [c["resource"] for c in listed.json()] == ["src/api.py"], listed
    refused = _commit(b, "src/api.py", agent="beta")
    assert refused.returncode != 0 and "alpha" in refused.stderr, refused.stderr


def test_verify_refuses_to_judge_a_token_whose_claim_it_cannot_read(
    partial: tuple[Path, Path, Path, str],
) -> None:
    """A commit made under a claim since released: verify reads that claim from the history.
    If it cannot, it says so (exit 4) instead of calling the commit a violation or clean."""
    remote, a, b, _ = partial
    (remote.parent / "remote.away").rename(remote)
    assert run(a, "hooks", "install").code == 0
    assert _commit(a, "src/api.py", agent="alpha").returncode == 0
    assert "Coord-Claim: C-1@1" in git(a, "log", "-1", "--format=%B")
    git(a, "push", "-q", "origin", "HEAD:main")
    assert run(a, "release", "src/api.py", agent="alpha").code == 0
    assert run(a, "claim", "src/api.py", agent="gamma").code == 0
    git(b, "fetch", "-q", "origin")
    assert run(b, "claims", "--no-fetch", agent="beta").code == 0  # the live claim's blob arrives lazily
    remote.rename(remote.parent / "remote.away")
    verified = spawn(b, "verify", "--no-fetch", "origin/main~1..origin/main")
    assert verified.code == 4, verified
    assert UNREADABLE + ".coord/claims/C-1.toml" in verified.err, verified.err
    (remote.parent / "remote.away").rename(remote)
    verified = spawn(b, "verify", "--no-fetch", "origin/main~1..origin/main")
    assert verified.code == 0 and "clean" in verified.out, verified


def test_a_fetch_brings_every_coord_record_into_a_partial_clone(
    partial: tuple[Path, Path, Path, str],
) -> None:
    """Records fetched with the branch are readable later, with the remote gone."""
    remote, _, b, _ = partial
    (remote.parent / "remote.away").rename(remote)
    assert _missing_objects(b, "origin/coord")
    assert run(b, "claims", agent="beta").code == 0  # fetches first (remote mode)
    assert not _missing_objects(b, "origin/coord")
    remote.rename(remote.parent / "remote.away")
    listed = run(b, "claims", "--no-fetch", "--json", agent="beta")
    assert listed.code == 0, listed
    assert [c["resource"] for c in listed.json()] == ["src/api.py"]
    assert run(b, "status", "--no-fetch", agent="beta").code == 0


# -- records that parse but hold impossible values -------------------------------------------------


_LONG = "src/" + "a" * 1196
_IMPOSSIBLE = {
    ".coord/claims/C-90.toml": (
        f'id = "C-90"\nagent = "zed"\nresource = "{_LONG}"\nmode = "exclusive"\ntoken = 90\n'
        'created_at = "2020-01-01T00:00:00Z"\nlast_check_in = "2020-01-01T00:00:00Z"\n'
        'expires_at = "2999-01-01T00:00:00Z"\n'
    ),
    ".coord/tasks/T-91.toml": (
        'id = "T-91"\ntitle = "planted"\nresources = ["../../etc/passwd"]\nstatus = "todo"\n'
        'created_by = "zed"\ncreated_at = "2020-01-01T00:00:00Z"\n'
    ),
}


def test_records_with_impossible_values_are_skipped_and_reported(local_repo: Path) -> None:
    assert run(local_repo, "task", "add", "real work", "--resource", "src/real.py", agent="alpha").code == 0
    plant_records(local_repo, _IMPOSSIBLE)

    claimed = run(local_repo, "claim", "src/api.py", agent="beta")
    assert claimed.code == 0, claimed
    assert "skipping malformed record .coord/claims/C-90.toml" in claimed.err
    assert "over the limit of 1024 bytes" in claimed.err

    picked = run(local_repo, "task", "next", "--json", agent="gamma")
    assert picked.code == 0, picked
    assert picked.json()["title"] == "real work"
    assert "skipping malformed record .coord/tasks/T-91.toml" in picked.err
    assert "resources: The resource '../../etc/passwd' contains a '..' segment" in picked.err

    status = run(local_repo, "status", "--json", agent="beta")
    assert status.code == 0
    assert set(status.json()["skipped"]) >= set(_IMPOSSIBLE)

    assert run(local_repo, "hooks", "install").code == 0  # so that the records are doctor's only problem
    doctor = run(local_repo, "doctor", "--json")
    assert doctor.code == 3, doctor
    problems = [f for f in doctor.json()["findings"] if f["level"] == "problem"]
    assert [f["check"] for f in problems] == ["records"], problems
    assert "2 malformed record(s)" in problems[0]["message"]
    assert (
        ".coord/claims/C-90.toml" in problems[0]["message"]
        and ".coord/tasks/T-91.toml" in problems[0]["message"]
    )


def test_impossible_claim_is_ignored_by_the_hooks_too(local_repo: Path) -> None:
    """The hooks read claims without pydantic; they skip the same record the store skips."""
    assert run(local_repo, "hooks", "install").code == 0
    plant_records(local_repo, _IMPOSSIBLE)
    done = _commit(local_repo, "src/other.py", agent="beta")
    assert done.returncode == 0, done.stderr
