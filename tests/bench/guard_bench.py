"""The editor guard in hooks.mode = "auto" against today's guard (issue 15).

1,000 live claims of ten other agents (literal paths, directories and globs) and the agent's
own claim on the edited path. Each round times, as an editor runs it (`python -P -m gitcoord
guard --format claude`, one process, JSON on stdin):

- `others`: today's guard (hooks.mode = others) on the path the agent holds;
- `auto_held`: auto mode on the same path: no write (the coord commit count is checked);
- `auto_first_edit`: auto mode on a new path each round: one claim written (local mode);
- `floor`: `python -P -c pass`, the interpreter alone;
- `free_no_index` / `free_indexed`: today's guard on a path nobody claims, without and with the
  radar's index of ten other agents' unmerged branches (1,000 changed paths; the path is not
  among them), and `hit_indexed` on a path one of them changed (the answer carries the context);
- `launcher`: the command `gitcoord integrate claude` commits, run as Claude Code runs it (`sh -c`,
  through `.coord/gitcoord`), on the held path; `floor_reads`: the floor of one edit, the three
  git reads the guard needs (rev-parse, config, cat-file) and `python -S -P -c pass`, in one `sh`;
  `floor_interpreter_reads`: the same reads and `python -P -c pass` (the interpreter as the
  launcher starts it): the issue's floor of an edit, "interpreter + the git reads it needs";
- `warm` and `launcher_warm`: `others` and `launcher` once a warm server runs (DESIGN §9, a
  private runtime directory): every edit after an agent's first. The other cases run in-process
  (`GITCOORD_WARM=0`): an edit with no server yet.

Rounds interleave the cases in one repository, so all see the same machine load; after each
first edit one untimed call reads the new coord tree, and `others` and `auto_held` take turns
going first. Prints
{"guard_ms": {"others_median", "auto_held_median", "auto_first_edit_median", "floor_median",
"held_path_writes", "free_no_index_median", "free_indexed_median", "hit_indexed_median",
"index_miss_over_no_index_ms", "index_hit_over_no_index_ms", ...}}. Run:

    python tests/bench/guard_bench.py [--rounds N]
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

from hook_bench import CLAIMS, seed_others

from gitcoord.conflicts_index import index_path, write_index
from gitcoord.coordinator import Coordinator

ME = "me"
BRANCHES = 10
PATHS_PER_BRANCH = 100
HIT = "hot/shared.py"


def git(cwd: Path, *args: str) -> str:
    return subprocess.run(["git", *args], cwd=cwd, check=True, capture_output=True, text=True).stdout.strip()


def setup(root: Path) -> Path:
    repo = seed_others(root)  # the same 1,000 claims of ten other agents as the hook benchmark
    with Coordinator(repo, agent=ME) as coord:
        coord.claim(["src/mine.py"])
    return repo


def seed_index(repo: Path) -> Path:
    """The index a radar run writes for ten other agents' branches; returns its path."""
    head = git(repo, "rev-parse", "HEAD")
    entries = []
    for n in range(BRANCHES):
        git(repo, "update-ref", f"refs/heads/other{n}-work", head)
        paths = [f"branch{n}/f{i}.py" for i in range(PATHS_PER_BRANCH)] + ([HIT] if n == 0 else [])
        entries.append(
            {"agent": f"other{n}", "branch": f"other{n}-work", "ref": f"refs/heads/other{n}-work"}
            | {"commit": head, "paths": paths}
        )
    common = Path(git(repo, "rev-parse", "--path-format=absolute", "--git-common-dir"))
    write_index(common, {"ref": git(repo, "symbolic-ref", "HEAD"), "commit": head}, entries)
    return index_path(common)


def set_mode(repo: Path, mode: str) -> None:
    path = repo / ".coord" / "config.toml"
    text = path.read_text()
    for old in ("others", "auto"):
        text = text.replace(f'mode = "{old}"', f'mode = "{mode}"')
    path.write_text(text)


def guard_ms(repo: Path, path: str, warm: dict[str, str] | None = None) -> tuple[float, str]:
    call = {
        "cwd": str(repo),
        "hook_event_name": "PreToolUse",
        "tool_name": "Edit",
        "tool_input": {"file_path": str(repo / path), "old_string": "a", "new_string": "b"},
    }
    env = dict(os.environ, GITCOORD_AGENT=ME, **(warm or {"GITCOORD_WARM": "0"}))
    start = time.perf_counter()
    res = subprocess.run(
        [sys.executable, "-P", "-m", "gitcoord", "guard", "--format", "claude"],
        input=json.dumps(call),
        cwd=repo,
        capture_output=True,
        text=True,
        env=env,
        check=True,
    )
    return (time.perf_counter() - start) * 1000, res.stdout


READS = """\
git rev-parse --path-format=absolute --git-dir --git-common-dir --is-bare-repository \\
    --show-toplevel >/dev/null
git config -z --list >/dev/null
echo refs/heads/coord:.coord/claims | git cat-file --batch >/dev/null
"""
FLOOR_READS = f"{READS}exec {sys.executable} -S -P -c pass\n"
# The floor for an edit: the interpreter as the launcher starts it (`-P`, with `site`,
# which finds gitcoord) and the three git reads the guard needs.
FLOOR_INTERPRETER_READS = f"{READS}exec {sys.executable} -P -c pass\n"


def integrate(repo: Path) -> tuple[str, Path]:
    """The committed guard command for Claude Code, and the clone's interpreter record."""
    subprocess.run([sys.executable, "-P", "-m", "gitcoord", "integrate", "claude"], cwd=repo, check=True)
    settings = json.loads((repo / ".claude" / "settings.json").read_text())
    command = settings["hooks"]["PreToolUse"][-1]["hooks"][0]["command"]
    common = Path(git(repo, "rev-parse", "--path-format=absolute", "--git-common-dir"))
    return command, common / "gitcoord-state" / "python"


def shell_ms(repo: Path, command: str, path: str, warm: dict[str, str] | None = None) -> tuple[float, str]:
    call = {"cwd": str(repo), "hook_event_name": "PreToolUse", "tool_name": "Edit"}
    call["tool_input"] = {"file_path": str(repo / path), "old_string": "a", "new_string": "b"}
    env = dict(
        os.environ, GITCOORD_AGENT=ME, CLAUDE_PROJECT_DIR=str(repo), **(warm or {"GITCOORD_WARM": "0"})
    )
    start = time.perf_counter()
    res = subprocess.run(
        ["sh", "-c", command], input=json.dumps(call), cwd=repo, capture_output=True, text=True, env=env
    )
    assert res.returncode == 0, res.stderr
    return (time.perf_counter() - start) * 1000, res.stdout


def warm_env(tmp: Path) -> dict[str, str]:
    """A private runtime directory for this run's warm server (DESIGN §9), never the user's."""
    runtime = tmp / "runtime"
    runtime.mkdir(mode=0o700)
    return {"XDG_RUNTIME_DIR": str(runtime), "GITCOORD_WARM": "1"}


def start_warm(repo: Path, warm: dict[str, str]) -> None:
    """One call starts the server (it runs in-process); wait until a call is served."""
    directory = Path(warm["XDG_RUNTIME_DIR"]) / "gitcoord"
    guard_ms(repo, "src/mine.py", warm)
    deadline = time.monotonic() + 60
    while not list(directory.glob("*.sock")) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert list(directory.glob("*.sock")), "the warm server did not start"


def stop_warm(warm: dict[str, str]) -> None:
    for lock in (Path(warm["XDG_RUNTIME_DIR"]) / "gitcoord").glob("*.lock"):
        text = lock.read_text().strip()
        if text:
            with contextlib.suppress(ProcessLookupError):
                os.kill(int(text), signal.SIGTERM)


def floor_ms() -> float:
    start = time.perf_counter()
    subprocess.run([sys.executable, "-P", "-c", "pass"], check=True)
    return (time.perf_counter() - start) * 1000


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--rounds", type=int, default=15)
    rounds = parser.parse_args().rounds
    sys.path.insert(0, str(Path(__file__).resolve().parent))
    from run import precompile  # the harness next to this script

    precompile()
    with tempfile.TemporaryDirectory() as tmp:
        repo = setup(Path(tmp))
        others: list[float] = []
        held: list[float] = []
        first: list[float] = []
        floor: list[float] = []
        no_index: list[float] = []
        indexed: list[float] = []
        hit: list[float] = []
        index = seed_index(repo)
        aside = index.with_name("aside.json")
        command, _ = integrate(repo)
        launched: list[float] = []
        floor_reads: list[float] = []
        floor_full: list[float] = []
        served: list[float] = []
        launched_served: list[float] = []
        warm = warm_env(Path(tmp))
        start_warm(repo, warm)
        writes = 0
        for r in range(rounds):
            floor.append(floor_ms())
            set_mode(repo, "auto")
            ms, out = guard_ms(repo, f"new/f{r}.py")
            assert out == "", out
            first.append(ms)
            guard_ms(repo, "src/mine.py")  # untimed: reads the new coord tree once, as any next call would
            # Alternate which goes first, so neither always meets the machine in the same state.
            for mode in ("others", "auto") if r % 2 == 0 else ("auto", "others"):
                set_mode(repo, mode)
                before = git(repo, "rev-parse", "refs/heads/coord")
                ms, out = guard_ms(repo, "src/mine.py")
                assert out == "", out
                (others if mode == "others" else held).append(ms)
                writes += before != git(repo, "rev-parse", "refs/heads/coord")
            set_mode(repo, "others")
            for case in ("none", "miss", "hit") if r % 2 == 0 else ("hit", "miss", "none"):
                if case == "none":
                    index.rename(aside)
                ms, out = guard_ms(repo, HIT if case == "hit" else "free/edit.py")
                if case == "none":
                    aside.rename(index)
                assert ("additionalContext" in out) == (case == "hit"), out
                {"none": no_index, "miss": indexed, "hit": hit}[case].append(ms)
            for case in ("launcher", "floor") if r % 2 == 0 else ("floor", "launcher"):
                if case == "floor":
                    floor_reads.append(shell_ms(repo, FLOOR_READS, "")[0])
                    floor_full.append(shell_ms(repo, FLOOR_INTERPRETER_READS, "")[0])
                    continue
                ms, out = shell_ms(repo, command, "src/mine.py")
                assert out == "", out
                launched.append(ms)
            # Later edits: the same guard and launcher calls, served by the warm server.
            ms, out = guard_ms(repo, "src/mine.py", warm)
            assert out == "", out
            served.append(ms)
            ms, out = shell_ms(repo, command, "src/mine.py", warm)
            assert out == "", out
            launched_served.append(ms)
        stop_warm(warm)
        floor_median = statistics.median(floor)
        print(
            json.dumps(
                {
                    "guard_ms": {
                        "others_median": round(statistics.median(others), 1),
                        "auto_held_median": round(statistics.median(held), 1),
                        "auto_first_edit_median": round(statistics.median(first), 1),
                        "floor_median": round(floor_median, 1),
                        "auto_held_over_others_ms": round(
                            statistics.median(held) - statistics.median(others), 1
                        ),
                        "held_path_writes": writes,
                        "free_no_index_median": round(statistics.median(no_index), 1),
                        "free_indexed_median": round(statistics.median(indexed), 1),
                        "hit_indexed_median": round(statistics.median(hit), 1),
                        "index_miss_over_no_index_ms": round(
                            statistics.median(indexed) - statistics.median(no_index), 1
                        ),
                        "index_hit_over_no_index_ms": round(
                            statistics.median(hit) - statistics.median(no_index), 1
                        ),
                        "launcher_median": round(statistics.median(launched), 1),
                        "warm_median": round(statistics.median(served), 1),
                        "launcher_warm_median": round(statistics.median(launched_served), 1),
                        "floor_reads_median": round(statistics.median(floor_reads), 1),
                        "floor_interpreter_reads_median": round(statistics.median(floor_full), 1),
                        "launcher_over_floor_reads": round(
                            statistics.median(launched) / statistics.median(floor_reads), 2
                        ),
                        "others_over_floor_reads": round(
                            statistics.median(others) / statistics.median(floor_reads), 2
                        ),
                        "indexed_paths": BRANCHES * PATHS_PER_BRANCH + 1,
                        "claims": CLAIMS + 1,
                        "rounds": rounds,
                        "python": sys.version.split()[0],
                    }
                }
            )
        )


if __name__ == "__main__":
    main()
