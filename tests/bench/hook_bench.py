"""Pre-commit overhead: a commit through gitcoord's hooks against the same commit without hooks.

1,000 live claims of other agents (literal paths, directories and globs), 200 staged files the
committing agent may touch. Rounds alternate hooked and hookless commits in one repository, so
both see the same machine load. Prints {"hook_ms": {"median": overhead, "floor_median": hookless}}
plus the median of the pre-commit hook alone (prepare-commit-msg skipped), and the floor of any
Python pre-commit: a hook that runs the four git processes this one needs (rev-parse, config,
diff-index --cached, cat-file) and `python -S -P -c pass`.
`median` is an agent's commit once the hooks' warm server runs (DESIGN §9: every commit after its
first); `first_commit_median` is the same commit with the hook in-process, as the first commit of
a session runs (GITCOORD_WARM=0). The server lives in a runtime directory of the bench's own.
`--baseline DIR` also times the pre-commit
of another gitcoord source tree (say `git archive main | tar -x -C DIR`) in the same rounds,
so a change is measured against what it replaces under the same load. Run:

    python tests/bench/hook_bench.py [--rounds N] [--baseline DIR]
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import signal
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


# What a pre-commit in Python cannot do without: the git processes gitcoord's needs, then an
# interpreter that imports nothing.
FLOOR_HOOK = f"""\
#!/bin/sh
git rev-parse --path-format=absolute --git-dir --git-common-dir --is-bare-repository \\
    --show-toplevel >/dev/null
git config -z --list >/dev/null
git diff-index --cached --name-status -z -M --ita-invisible-in-index HEAD -- >/dev/null
echo refs/heads/coord:.coord/claims | git cat-file --batch >/dev/null
exec {sys.executable} -S -P -c pass
"""


def start_hooks_server(repo: Path, env: dict[str, str]) -> None:
    """One hooked commit (in-process: no server yet), then wait until the server it started listens."""
    commit_ms(repo, -1, env, [])
    directory = Path(env["XDG_RUNTIME_DIR"]) / "gitcoord"
    deadline = time.monotonic() + 120
    while not list(directory.glob("*.sock")):
        if time.monotonic() > deadline:
            raise SystemExit("the hooks' warm server did not start")
        time.sleep(0.05)


def stop_servers(runtime: Path) -> None:
    for lock in (runtime / "gitcoord").glob("*.lock"):
        text = lock.read_text().strip()
        if text:
            with contextlib.suppress(ProcessLookupError):
                os.kill(int(text), signal.SIGTERM)


def hook_dir(root: Path, name: str, text: str) -> list[str]:
    """A hooks directory holding only a pre-commit with `text`; the `git -c` options using it."""
    where = root / name
    where.mkdir()
    (where / "pre-commit").write_text(text)
    (where / "pre-commit").chmod(0o755)
    return ["-c", f"core.hooksPath={where}"]


def baseline_hook(tree: Path) -> str:
    """The pre-commit text the gitcoord source tree `tree` installs (mode others)."""
    code = "from gitcoord.hooks.files import script; print(script('pre-commit', 'others'), end='')"
    env = dict(os.environ, PYTHONPATH=str(tree))
    return subprocess.run(
        [sys.executable, "-c", code], env=env, check=True, capture_output=True, text=True
    ).stdout


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--rounds", type=int, default=15)
    parser.add_argument("--baseline", type=Path, help="another gitcoord source tree to time too")
    options = parser.parse_args()
    rounds = options.rounds
    from run import precompile  # the harness next to this script

    precompile()
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        repo = setup(root)
        install(repo, mode="others")
        runtime = root / "runtime"
        runtime.mkdir(mode=0o700)
        env = dict(os.environ, GITCOORD_AGENT="me", XDG_RUNTIME_DIR=str(runtime))
        env.pop("GITCOORD_WARM", None)
        in_process = dict(env, GITCOORD_WARM="0")
        bare = ["-c", f"core.hooksPath={root / 'no-hooks'}"]
        only_pre = hook_dir(root, "pre-commit-only", (repo / ".git/hooks/pre-commit").read_text())
        python_floor = hook_dir(root, "python-floor", FLOOR_HOOK)
        base = hook_dir(root, "baseline", baseline_hook(options.baseline)) if options.baseline else None
        base_env = dict(env, PYTHONPATH=str(options.baseline))
        start_hooks_server(repo, env)
        hooked, first, floor, pre, pyfloor, before = [], [], [], [], [], []
        try:
            for r in range(rounds):
                floor.append(commit_ms(repo, 6 * r, env, bare))
                hooked.append(commit_ms(repo, 6 * r + 1, env, []))
                first.append(commit_ms(repo, 6 * r + 2, in_process, []))
                pre.append(commit_ms(repo, 6 * r + 3, env, only_pre))
                pyfloor.append(commit_ms(repo, 6 * r + 4, env, python_floor))
                if base:
                    before.append(commit_ms(repo, 6 * r + 5, base_env, base))
        finally:
            stop_servers(runtime)
        floor_median = statistics.median(floor)
        extra = {}
        if before:
            extra = {
                "baseline_pre_commit_only_median": round(statistics.median(before) - floor_median, 1),
                "pre_commit_over_baseline": round(
                    (statistics.median(pre) - floor_median) / (statistics.median(before) - floor_median), 2
                ),
            }
        print(
            json.dumps(
                {
                    "hook_ms": {
                        "median": round(statistics.median(hooked) - floor_median, 1),
                        "floor_median": round(floor_median, 1),
                        "first_commit_median": round(statistics.median(first) - floor_median, 1),
                        "pre_commit_only_median": round(statistics.median(pre) - floor_median, 1),
                        "python_hook_floor_median": round(statistics.median(pyfloor) - floor_median, 1),
                        **extra,
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
