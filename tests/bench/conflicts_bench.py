"""`gitcoord conflicts` with ten agents' branches against the raw git work of the same radar (issue 15).

Ten worktrees of one repository, one per agent, each on its own branch made with `gitcoord
start` there (which records the branch on the agent's record). Every branch rewords the same
line of one shared file and adds a file of its own, and the default branch then rewords it too,
so all 45 pairs and every branch against the default branch are real content conflicts: the
radar's worst case for ten branches.

Each round times, as separate processes:
- `cold`: `gitcoord conflicts --json` with the radar's cache removed (git answers everything);
- `warm`: the same call again (the cache answers what did not move);
- `floor`: the raw git plumbing of the cold radar, one process per call, from this script:
  `diff --name-only` per branch, then `merge-tree --write-tree` per branch against the default
  branch and per pair; plus the interpreter start (`python -c pass`).

Prints {"conflicts_ms": {"branches", "pairs", "cold_median", "warm_median", "floor_median",
"cold_over_floor", "warm_over_floor", "rounds"}}. Run:

    python tests/bench/conflicts_bench.py [--rounds N]
"""

from __future__ import annotations

import argparse
import json
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from itertools import combinations
from pathlib import Path

from run import gitcoord_command, pin_environment

BRANCHES = 10


def git(cwd: Path, *args: str) -> str:
    return subprocess.run(["git", *args], cwd=cwd, check=True, capture_output=True, text=True).stdout.strip()


def timed(argv: list[str], cwd: Path) -> float:
    start = time.perf_counter()
    subprocess.run(argv, cwd=cwd, check=True, capture_output=True)
    return (time.perf_counter() - start) * 1000


def setup(root: Path) -> tuple[Path, list[str]]:
    repo = root / "repo"
    repo.mkdir()
    git(repo, "init", "-q", "-b", "main")
    (repo / "shared.py").write_text("".join(f"line {n}\n" for n in range(50)))
    git(repo, "add", "shared.py")
    git(repo, "commit", "-q", "-m", "initial")
    subprocess.run([*gitcoord_command(), "-C", str(repo), "init"], check=True, capture_output=True)
    agents = [f"agent-{n}" for n in range(BRANCHES)]
    for agent in agents:
        tree = root / agent
        git(repo, "worktree", "add", "-q", "-b", agent, str(tree))
        (tree / "shared.py").write_text(f"{agent} was here\n" + "".join(f"line {n}\n" for n in range(1, 50)))
        (tree / f"{agent}.py").write_text(f"# {agent}\n")
        git(tree, "add", "-A")
        git(tree, "commit", "-q", "-m", f"{agent}'s work")
        subprocess.run(
            [*gitcoord_command(), "-C", str(tree), "start", "--agent", agent], check=True, capture_output=True
        )
    # The default branch moves on the same line: every branch against it is a conflict too.
    (repo / "shared.py").write_text("main moved on\n" + "".join(f"line {n}\n" for n in range(1, 50)))
    git(repo, "commit", "-q", "-am", "main moves on")
    return repo, agents


def floor(repo: Path, agents: list[str]) -> float:
    """The interpreter plus every git call the cold radar needs, one process each."""
    start = time.perf_counter()
    subprocess.run([sys.executable, "-c", "pass"], check=True)
    for agent in agents:
        git(repo, "diff", "--name-only", f"main...{agent}")
    for agent in agents:
        subprocess.run(["git", "merge-tree", "--write-tree", "main", agent], cwd=repo, capture_output=True)
    for one, two in combinations(agents, 2):
        subprocess.run(["git", "merge-tree", "--write-tree", one, two], cwd=repo, capture_output=True)
    return (time.perf_counter() - start) * 1000


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=7)
    opts = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="gitcoord-conflicts-bench-") as tmp:
        root = Path(tmp)
        pin_environment(root)
        repo, agents = setup(root)
        call = [*gitcoord_command(), "-C", str(repo), "conflicts", "--json"]
        report = json.loads(subprocess.run(call, check=True, capture_output=True, text=True).stdout)
        pairs = [p for p in report["pairs"] if p["conflicts"]]
        assert len(pairs) == BRANCHES + BRANCHES * (BRANCHES - 1) // 2, len(pairs)
        cache = Path(git(repo, "rev-parse", "--path-format=absolute", "--git-common-dir")) / "gitcoord-state"
        cold, warm, floors = [], [], []
        for _ in range(opts.rounds):
            shutil.rmtree(cache / "cache", ignore_errors=True)
            cold.append(timed(call, repo))
            warm.append(timed(call, repo))
            floors.append(floor(repo, agents))
    c, w, f = (statistics.median(x) for x in (cold, warm, floors))
    figures = {
        "branches": BRANCHES,
        "pairs": len(pairs),
        "cold_median": round(c, 1),
        "warm_median": round(w, 1),
        "floor_median": round(f, 1),
        "cold_over_floor": round(c / f, 2),
        "warm_over_floor": round(w / f, 2),
        "rounds": opts.rounds,
    }
    print(json.dumps({"conflicts_ms": figures}, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
