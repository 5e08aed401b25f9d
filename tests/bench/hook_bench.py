"""Pre-commit overhead: a commit through gitcoord's hooks against the same commit without hooks.

1,000 live claims of other agents (literal paths, directories and globs), 200 staged files the
committing agent may touch. Rounds alternate hooked and hookless commits in one repository, so
both see the same machine load. Prints {"hook_ms": {"median": overhead, "floor_median": hookless}}
plus the median of the pre-commit hook alone (prepare-commit-msg skipped). Run:

    python tests/bench/hook_bench.py [--rounds N]
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from gitcoord.coordinator import Coordinator
from gitcoord.hooks.install import install
from gitcoord.resources import parse_resource
from gitcoord.store import Txn

CLAIMS = 1000
STAGED = 200


def git(cwd: Path, *args: str, env: dict[str, str] | None = None) -> None:
    subprocess.run(["git", *args], cwd=cwd, check=True, capture_output=True, env=env)


def resource(i: int) -> str:
    if i % 10 == 0:
        return f"lib{i}/**/*.py"
    if i % 10 == 1:
        return f"pkg{i}/"
    return f"area{i % 50}/module{i}.py"


def seed_others(root: Path) -> Path:
    """A repository whose coord branch holds CLAIMS live claims of ten other agents."""
    repo = root / "repo"
    repo.mkdir()
    git(repo, "init", "-q")
    git(repo, "commit", "-q", "--allow-empty", "-m", "initial")
    with Coordinator(repo) as coord:
        coord.init()
        wanted = [parse_resource(resource(i)) for i in range(CLAIMS)]
        for n in range(10):  # ten other agents, a hundred claims each, one write each

            def work(txn: Txn, n: int = n) -> None:
                coord.grant_claims(txn, f"other{n}", wanted[n * 100 : (n + 1) * 100])
                txn.action, txn.what = "claim", "bench"

            coord.write(work, actor=f"other{n}")
    return repo


def setup(root: Path) -> Path:
    repo = seed_others(root)
    empty = root / "no-hooks"
    empty.mkdir()
    return repo


def commit_ms(repo: Path, round_no: int, env: dict[str, str], extra: list[str]) -> float:
    for i in range(STAGED):
        path = repo / "work" / f"d{i % 20}" / f"f{i}.txt"
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(f"{round_no} {extra}\n")
    git(repo, "add", "work")
    start = time.perf_counter()
    git(repo, *extra, "commit", "-q", "-m", f"round {round_no}", env=env)
    return (time.perf_counter() - start) * 1000


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--rounds", type=int, default=15)
    rounds = parser.parse_args().rounds
    from run import precompile  # the harness next to this script

    precompile()
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        repo = setup(root)
        install(repo, mode="others")
        env = dict(os.environ, GITCOORD_AGENT="me")
        bare = ["-c", f"core.hooksPath={root / 'no-hooks'}"]
        only_pre_commit = root / "pre-commit-only"
        only_pre_commit.mkdir()
        (only_pre_commit / "pre-commit").write_text((repo / ".git/hooks/pre-commit").read_text())
        (only_pre_commit / "pre-commit").chmod(0o755)
        hooked, floor, pre = [], [], []
        for r in range(rounds):
            floor.append(commit_ms(repo, 3 * r, env, bare))
            hooked.append(commit_ms(repo, 3 * r + 1, env, []))
            pre.append(commit_ms(repo, 3 * r + 2, env, ["-c", f"core.hooksPath={only_pre_commit}"]))
        floor_median = statistics.median(floor)
        print(
            json.dumps(
                {
                    "hook_ms": {
                        "median": round(statistics.median(hooked) - floor_median, 1),
                        "floor_median": round(floor_median, 1),
                        "pre_commit_only_median": round(statistics.median(pre) - floor_median, 1),
                        "claims": CLAIMS,
                        "staged": STAGED,
                        "rounds": rounds,
                        "python": sys.version.split()[0],
                    }
                }
            )
        )


if __name__ == "__main__":
    main()
