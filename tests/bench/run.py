"""The gitcoord benchmark harness: figures as JSON, each against a floor measured in the same run.

    python tests/bench/run.py [--quick] [--only mcp] [--json FILE]

Everything runs through real processes and real git on file:// remotes in a
temp dir, with a pinned identity and HOME / GIT_CONFIG_GLOBAL pointing into
that dir, so the user's own git config is never read. Timings are medians of
several runs; on a shared 2-core machine they are noisy, which is why every
figure comes with a floor taken in the same run, right next to it.

The report opens with `issue13`: every issue-13 figure (the eight agent calls first and
later, the editor guard, the hooks, the MCP warm claim) with its floor, ratio, target and
met/missed, and the growth ratios; the parts follow (`calls`, `guard`, `hooks`, `mcp`).
The JSON keys of issue 7 are interface: `claim_ms`, `hook_ms`, `contention`,
`status_ms`, `scale`, `notion`, `comparison`. A part that cannot run (a
feature not built yet, a tool not installed) is null or carries a `skipped`
reason instead of numbers.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import random
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import AsyncIterator, Callable, Sequence
from datetime import UTC, datetime, timedelta
from functools import partial
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve()
PINNED_ENV = {
    "GIT_AUTHOR_NAME": "Bench Human",
    "GIT_AUTHOR_EMAIL": "bench@example.com",
    "GIT_COMMITTER_NAME": "Bench Human",
    "GIT_COMMITTER_EMAIL": "bench@example.com",
    "GIT_CONFIG_NOSYSTEM": "1",
    "GIT_TERMINAL_PROMPT": "0",
    # In process: every figure here is the in-process path, which is also a session's first call;
    # tests/bench/calls.py measures the warm path (issue 13) with its own runtime directory.
    "GITCOORD_WARM": "0",
}
# Variables that would point our git calls (or gitcoord's identity) somewhere else.
SCRUBBED_ENV = (
    "GITCOORD_AGENT",
    "GIT_DIR",
    "GIT_WORK_TREE",
    "GIT_INDEX_FILE",
    "GIT_OBJECT_DIRECTORY",
    "GIT_COMMON_DIR",
    "GITCOORD_CLOCK_SKEW_SECONDS",
    "NOTION_TOKEN",
    "NOTION_BASE_URL",
)
# What a cold `claim` imports before it talks to git: the CLI and the library under it.
CLAIM_IMPORTS = "import gitcoord.cli, gitcoord.coordinator"
REQUIRED_LIBRARIES = "import pydantic, pydantic.main, click, tomli_w, tomllib"
HOT = ["hot/core.py", "hot/", "hot/*.py", "hot/sub/x.py"]


# -- environment and processes ---------------------------------------------------------


def pin_environment(root: Path) -> None:
    """Point HOME and the global git config into `root`: the real user config is never read."""
    home = root / "home"
    home.mkdir(parents=True, exist_ok=True)
    (home / ".gitconfig").write_text(
        "[user]\n\tname = Bench Human\n\temail = bench@example.com\n"
        '[init]\n\tdefaultBranch = main\n[protocol "file"]\n\tallow = always\n'
        "[gc]\n\tauto = 0\n"
    )
    for name in SCRUBBED_ENV:
        os.environ.pop(name, None)
    os.environ.update(PINNED_ENV, HOME=str(home), GIT_CONFIG_GLOBAL=str(home / ".gitconfig"))


def gitcoord_command() -> list[str]:
    """The console script next to this interpreter (what an agent runs), else `-m gitcoord`."""
    script = Path(sys.executable).parent / "gitcoord"
    return [str(script)] if script.exists() else [sys.executable, "-m", "gitcoord"]


def git(cwd: Path, *args: str, input: bytes | None = None) -> str:
    res = subprocess.run(["git", *args], cwd=cwd, input=input, capture_output=True)
    if res.returncode != 0:
        raise RuntimeError(f"git {' '.join(args)} failed in {cwd}: {res.stderr.decode(errors='replace')}")
    return res.stdout.decode().strip()


def timed(
    cmd: Sequence[str],
    cwd: Path,
    *,
    env: dict[str, str] | None = None,
    input: bytes | None = None,
    ok: Sequence[int] = (0,),
) -> tuple[float, bytes]:
    """Run one process; (wall milliseconds, stdout). Raises when the exit code is unexpected."""
    start = time.perf_counter()
    res = subprocess.run(
        list(cmd), cwd=cwd, input=input, capture_output=True, env=dict(os.environ, **(env or {}))
    )
    ms = (time.perf_counter() - start) * 1000
    if res.returncode not in ok:
        raise RuntimeError(f"{' '.join(cmd)} exited {res.returncode}: {res.stderr.decode(errors='replace')}")
    return ms, res.stdout


def median(values: Sequence[float]) -> float:
    return round(statistics.median(values), 1)


def p95(values: Sequence[float]) -> float:
    ordered = sorted(values)
    return round(ordered[min(len(ordered) - 1, int(0.95 * len(ordered)))], 1) if ordered else 0.0


# -- repositories ---------------------------------------------------------------------------


class World:
    """A bare remote with the coord branch, and clones of it over file:// URLs."""

    def __init__(self, root: Path) -> None:
        self.root = root
        root.mkdir(parents=True)
        seed = root / "seed"
        seed.mkdir()
        git(seed, "init", "-q")
        (seed / "README.md").write_text("bench\n")
        git(seed, "add", "README.md")
        git(seed, "commit", "-q", "-m", "initial")
        self.remote = root / "remote.git"
        git(root, "clone", "-q", "--bare", str(seed), str(self.remote))
        shutil.rmtree(seed)
        self.first = self.clone("a")
        timed([*gitcoord_command(), "-C", str(self.first), "init"], self.first)

    def clone(self, name: str) -> Path:
        path = self.root / name
        git(self.root, "clone", "-q", f"file://{self.remote}", str(path))
        return path


def bulk_write(clone: Path, records: Callable[[Any], list[Any]]) -> None:
    """Many records in ONE coord commit, through one Coordinator transaction."""
    from gitcoord import Coordinator

    with Coordinator(clone, agent="seeder") as coord:

        def work(txn: Any) -> None:
            for record in records(txn):
                txn.put(record)
            txn.action, txn.what = "seed", "bench records"

        coord.write(work)


def many_records(count: int) -> Callable[[Any], list[Any]]:
    """`count` records spread over the kinds `status` shows (tasks, messages, help, errors, decisions)."""
    from gitcoord.records import Decision, ErrorRecord, HelpRequest, Message, Task

    def build(txn: Any) -> list[Any]:
        now = txn.now
        out: list[Any] = []
        for i in range(count):
            kind = i % 5
            if kind == 0:
                out.append(Task(id=txn.new_id("T"), title=f"task {i}", created_by="seeder", created_at=now))
            elif kind == 1:
                out.append(
                    Message(
                        id=txn.new_id("M"), from_agent="seeder", to="any", body=f"note {i}", created_at=now
                    )
                )
            elif kind == 2:
                out.append(
                    HelpRequest(
                        id=txn.new_id("H"),
                        from_agent="seeder",
                        to="any",
                        message=f"help {i}",
                        created_at=now,
                        status="resolved",
                    )
                )
            elif kind == 3:
                out.append(
                    ErrorRecord(
                        id=txn.new_id("E"),
                        agent="seeder",
                        type="other",
                        severity="low",
                        message=f"error {i}",
                        created_at=now,
                        status="resolved",
                    )
                )
            else:
                out.append(
                    Decision(
                        id=txn.new_id("D"),
                        agent="seeder",
                        category="bench",
                        impact="low",
                        title=f"decision {i}",
                        rationale="bench",
                        created_at=now,
                        status="implemented",
                    )
                )
        return out

    return build


def others_claims(count: int, start: int = 0) -> Callable[[Any], list[Any]]:
    """`count` live exclusive claims of 20 other agents, on paths the bench never touches."""
    from gitcoord.records import Claim

    def build(txn: Any) -> list[Any]:
        now = txn.now
        out = []
        for i in range(start, start + count):
            cid = txn.new_id("C")
            resource = f"area{i}/module.py" if i % 3 else f"area{i}/"
            out.append(
                Claim(
                    id=cid,
                    agent=f"other{i % 20}",
                    resource=resource,
                    token=int(cid[2:]),
                    created_at=now,
                    last_check_in=now,
                    expires_at=now + timedelta(hours=2),
                )
            )
        return out

    return build


def add_history(clone: Path, commits: int) -> None:
    """`commits` more coord commits (same tree) through fast-import, then pushed: a long history, fast."""
    tip = git(clone, "rev-parse", "refs/heads/coord")
    tree = git(clone, "rev-parse", f"{tip}^{{tree}}")
    stamp = int(time.time())
    chunks = []
    for i in range(commits):
        msg = f"bench: filler {i}\n\nCoord-Agent: bench\nCoord-Action: filler\n".encode()
        frm = f"from {tip}\n" if i == 0 else ""
        chunks.append(
            f"commit refs/heads/coord\ncommitter Bench <b@example.com> {stamp} +0000\n"
            f"data {len(msg)}\n".encode()
            + msg
            + f"{frm}M 040000 {tree} \n\n".encode()
        )
    # `M 040000 <tree> ` with an empty path replaces the root with the same tree.
    git(clone, "fast-import", "--quiet", input=b"".join(chunks))
    git(clone, "push", "-q", "origin", "refs/heads/coord:refs/heads/coord")
    git(clone, "fetch", "-q", "origin", "+refs/heads/coord:refs/remotes/origin/coord")


# -- claim latency against its floor --------------------------------------------------------------


def claim_cycle(clone: Path, runs: int, resource: str = "bench/x.py") -> dict[str, list[float]]:
    """Cold `claim` then `release` (a new process each), timed per command."""
    cmd = gitcoord_command()
    env = {"GITCOORD_AGENT": "bencher"}
    out: dict[str, list[float]] = {"claim": [], "release": []}
    for _ in range(runs):
        out["claim"].append(timed([*cmd, "-C", str(clone), "claim", resource], clone, env=env)[0])
        out["release"].append(timed([*cmd, "-C", str(clone), "release", resource], clone, env=env)[0])
    return out


def floor_once(clone: Path, parent: str | None, n: int) -> tuple[float, str]:
    """Interpreter start plus a raw plumbing write and push of a new commit to a scratch branch."""
    total, _ = timed([sys.executable, "-c", "pass"], clone)
    ms, blob = timed(["git", "hash-object", "-w", "--stdin"], clone, input=f"floor {n}\n".encode())
    total += ms
    ms, tree = timed(
        ["git", "mktree"], clone, input=f"100644 blob {blob.decode().strip()}\tf.toml\n".encode()
    )
    total += ms
    args = ["git", "commit-tree", tree.decode().strip(), "-m", f"floor {n}"] + (
        ["-p", parent] if parent else []
    )
    ms, commit = timed(args, clone)
    total += ms
    sha = commit.decode().strip()
    ms, _ = timed(["git", "push", "-q", "origin", f"{sha}:refs/heads/bench-scratch"], clone)
    return total + ms, sha


def bench_claim(root: Path, runs: int) -> dict[str, Any]:
    world = World(root / "claim")
    clone = world.first
    claim_cycle(clone, 1)  # warm the page cache and the remote's packs, not measured
    cycles: dict[str, list[float]] = {"claim": [], "release": []}
    floors: list[float] = []
    parent = None
    # Interleaved, so a burst of load from elsewhere on the machine hits both sides alike.
    for n in range(runs):
        for kind, times in claim_cycle(clone, 1).items():
            cycles[kind] += times
        for k in range(2):
            ms, parent = floor_once(clone, parent, 2 * n + k)
            floors.append(ms)
    per_command = cycles["claim"] + cycles["release"]
    starts = [timed([sys.executable, "-c", "pass"], clone)[0] for _ in range(runs)]
    imports = [timed([sys.executable, "-c", CLAIM_IMPORTS], clone)[0] for _ in range(runs)]
    libraries = [timed([sys.executable, "-c", REQUIRED_LIBRARIES], clone)[0] for _ in range(runs)]
    ratio = round(median(per_command) / median(floors), 2)
    return {
        "median": median(per_command),
        "floor_median": median(floors),
        "ratio": ratio,
        "target_ratio": 2.5,
        "meets_target": ratio <= 2.5,
        "claim_median": median(cycles["claim"]),
        "release_median": median(cycles["release"]),
        "interpreter_ms": median(starts),
        # What importing the CLI adds to a bare interpreter start: the share of a cold command
        # that is Python imports rather than git work.
        "import_ms": round(median(imports) - median(starts), 1),
        # The libraries a write path needs, imported and nothing else: a floor of its own that
        # a cold Python command cannot go under (GitPython is on no command's path: git runs
        # as plain subprocesses, DESIGN "Performance paths").
        "required_libraries_ms": round(median(libraries) - median(starts), 1),
        "import_top": import_breakdown(clone),
        "runs": runs,
    }


def import_breakdown(cwd: Path, top: int = 8) -> dict[str, float]:
    """Where the claim path's imports spend its time: self ms per top-level package (-X importtime)."""
    res = subprocess.run(
        [sys.executable, "-X", "importtime", "-c", CLAIM_IMPORTS], cwd=cwd, capture_output=True, text=True
    )
    totals: dict[str, float] = {}
    for line in res.stderr.splitlines():
        parts = line.removeprefix("import time:").split("|")
        if len(parts) != 3 or not parts[0].strip().isdigit():
            continue
        # Self times add up without double counting; grouped by top-level package
        # (gitcoord's own modules by module, since that is where a fix would go).
        name = parts[2].strip()
        key = name if name.startswith("gitcoord") else name.split(".")[0]
        totals[key] = totals.get(key, 0.0) + int(parts[0]) / 1000
    return dict(sorted(((k, round(v, 1)) for k, v in totals.items()), key=lambda kv: -kv[1])[:top])


# -- every agent-facing call, first call and later calls, against its lean limit (issue 13) ---------

# (command, arguments, writes?): what an agent runs in a session. `task next` with no task queued
# is a read that ends in a refusal (exit 3), which is the common answer when agents poll for work.
AGENT_CALLS: tuple[tuple[str, tuple[str, ...], bool], ...] = (
    ("claim", ("claim", "bench/calls.py"), True),
    ("release", ("release", "bench/calls.py"), True),
    ("check-in", ("check-in", "-m", "working"), True),
    ("start", ("start",), True),
    ("claims", ("claims",), False),
    ("status", ("status",), False),
    ("inbox", ("inbox",), False),
    ("task next", ("task", "next"), False),
)
CALL_TARGETS = {"later": 1.5, "first": 3.0}


def status_times(clone: Path, runs: int) -> list[float]:
    cmd = [*gitcoord_command(), "-C", str(clone), "status", "--json"]
    return [timed(cmd, clone)[0] for _ in range(runs)]


def bench_scale(
    root: Path,
    record_sizes: Sequence[int],
    claim_sizes: Sequence[int],
    history: int,
    runs: int,
    status_runs: int,
) -> tuple[dict[str, Any], dict[str, Any]]:
    """Claim latency and status time as records, live claims and history grow (one world each)."""
    scale: dict[str, Any] = {"records": {}, "live_claims": {}, "history": {}}
    world = World(root / "scale-records")
    have = 0
    status_ms: dict[str, Any] = {}
    for size in record_sizes:
        bulk_write(world.first, many_records(size - have))
        have = size
        cycle = claim_cycle(world.first, runs)
        times = status_times(world.first, status_runs if size == max(record_sizes) else runs)
        scale["records"][str(size)] = {"claim_ms": median(cycle["claim"]), "status_ms": median(times)}
        if size == max(record_sizes):
            status_ms = {
                "median": median(times),
                "records": size,
                "runs": len(times),
                "target_ms": 1000,
                "meets_target": median(times) <= 1000,
            }
    base = scale["records"][str(min(record_sizes))]
    if history:
        add_history(world.first, history)
        cycle = claim_cycle(world.first, runs)
        scale["history"] = {
            "extra_commits": history,
            "claim_ms": median(cycle["claim"]),
            "claim_ms_before": scale["records"][str(max(record_sizes))]["claim_ms"],
        }
    world = World(root / "scale-claims")
    have = 0
    for size in claim_sizes:
        bulk_write(world.first, others_claims(size - have, have))
        have = size
        cycle = claim_cycle(world.first, runs)
        scale["live_claims"][str(size)] = {
            "claim_ms": median(cycle["claim"]),
            "status_ms": median(status_times(world.first, runs)),
        }
    top = scale["records"][str(max(record_sizes))]
    scale["records_claim_growth"] = round(top["claim_ms"] / base["claim_ms"], 2)
    lo, hi = scale["live_claims"][str(min(claim_sizes))], scale["live_claims"][str(max(claim_sizes))]
    scale["live_claims_claim_growth"] = round(hi["claim_ms"] / lo["claim_ms"], 2)
    scale["live_claims_size_growth"] = round(max(claim_sizes) / min(claim_sizes), 2)
    return scale, status_ms


# -- contention: 8 agents, one remote -------------------------------------------------------------


def worker(clone: str, agent: str, start_at: float, seconds: float, seed: int) -> None:
    """One agent process: claim/release cycles until the time is up; a JSON report on stdout."""
    from gitcoord import Coordinator, Refused, Unavailable

    rng = random.Random(seed)
    coord = Coordinator(clone, agent=agent)
    last: dict[str, Any] = {}
    transact = coord.store.transact

    def counting(who: str, work: Any, **options: Any) -> Any:
        # Outcome.attempts is what the retries figure is made of; the wrapper keeps the
        # real claim/release code paths untouched.
        outcome = transact(who, work, **options)
        last.update(attempts=outcome.attempts, rev=outcome.rev)
        return outcome

    setattr(coord.store, "transact", counting)  # noqa: B010 - an instance wrapper, on purpose
    ops: list[dict[str, Any]] = []
    time.sleep(max(0.0, start_at - time.time()))
    deadline = start_at + seconds
    n = 0
    while time.time() < deadline:
        n += 1
        resource = rng.choice(HOT) if rng.random() < 0.5 else f"own/{agent}/f{n % 7}.py"
        op = run_op(
            partial(coord.claim, [resource], minutes=10), last, "claim", resource, Refused, Unavailable
        )
        ops.append(op)
        if op["ok"]:
            time.sleep(rng.uniform(0, 0.03))  # hold it a moment, as an agent editing would
            ops.append(
                run_op(partial(coord.release, [resource]), last, "release", resource, Refused, Unavailable)
            )
    coord.close()
    print(json.dumps({"agent": agent, "ops": ops}))


def run_op(
    call: Callable[[], Any],
    last: dict[str, Any],
    kind: str,
    resource: str,
    refused: type[Exception],
    unavailable: type[Exception],
) -> dict[str, Any]:
    last.clear()
    started = time.perf_counter()
    op: dict[str, Any] = {"op": kind, "resource": resource, "t": time.time()}
    try:
        value = call()
        op.update(ok=True, rev=last.get("rev"), attempts=last.get("attempts", 1))
        if kind == "claim":
            op["id"] = value[0].id
    except refused as exc:
        op.update(ok=False, refused=True, message=str(exc))
    except unavailable as exc:
        op.update(ok=False, unavailable=True, message=str(exc))
    op["ms"] = round((time.perf_counter() - started) * 1000, 1)
    return op


def bench_contention(root: Path, agents: int, seconds: float) -> dict[str, Any]:
    world = World(root / "contention")
    clones = [world.first] + [world.clone(f"agent{i}") for i in range(1, agents)]
    start_at = time.time() + 3.0  # every worker has imported gitcoord by then
    procs = [
        subprocess.Popen(
            [
                sys.executable,
                str(HERE),
                "--worker",
                str(clone),
                f"agent{i}",
                str(start_at),
                str(seconds),
                str(i),
            ],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for i, clone in enumerate(clones)
    ]
    reports, errors = [], []
    for proc in procs:
        out, err = proc.communicate(timeout=seconds + 120)
        if proc.returncode != 0:
            errors.append(err.strip()[-500:])
        else:
            reports.append(json.loads(out))
    ops = [dict(op, agent=r["agent"]) for r in reports for op in r["ops"]]
    landed = [op for op in ops if op["ok"]]
    replay = replay_history(world.remote)
    phantoms = [
        op
        for op in landed
        if op["op"] == "claim" and (op["id"], op["agent"]) not in replay["granted"].get(op["rev"], set())
    ]
    bad_refusals = [op for op in ops if op.get("refused") and not refusal_named_live_holder(op, replay)]
    return {
        "agents": agents,
        "seconds": seconds,
        "writes": len(landed),
        "writes_per_s": round(len(landed) / seconds, 1),
        "violations": len(replay["violations"]),
        "violation_examples": replay["violations"][:3],
        "retries": sum(op["attempts"] - 1 for op in landed),
        "p95_ms": p95([op["ms"] for op in landed]),
        "median_ms": median([op["ms"] for op in landed] or [0]),
        "refused": sum(1 for op in ops if op.get("refused")),
        "unavailable": sum(1 for op in ops if op.get("unavailable")),
        "phantom_grants": len(phantoms),
        "refusals_without_live_holder": len(bad_refusals),
        "revisions_replayed": replay["commits"],
        "worker_failures": len(errors),
        "worker_errors": errors[:2],
        "target_writes_per_s": 15,
        "meets_target": len(landed) / seconds >= 15 and not replay["violations"] and not errors,
    }


def replay_history(repo: Path, branch: str = "coord") -> dict[str, Any]:
    """Walk the coord branch commit by commit: the live claims at every revision.

    A violation is two live claims of different agents whose resources overlap
    where at least one is exclusive, at the same revision. Liveness is judged at
    the commit's own time, with the configured default grace.
    """
    from gitcoord.git import Git
    from gitcoord.leases import is_dead
    from gitcoord.overlap import overlaps
    from gitcoord.records import Claim
    from gitcoord.resources import parse_resource
    from gitcoord.store import Store

    store = Store(Git(repo), branch=branch)
    grace = timedelta(minutes=5)
    lines = git(repo, "log", "--reverse", "--format=%H %ct", f"refs/heads/{branch}").splitlines()
    violations: list[str] = []
    granted: dict[int, set[tuple[str, str]]] = {}
    live_by_rev: dict[int, list[Any]] = {}
    parsed: dict[str, Any] = {}
    for line in lines:
        sha, stamp = line.split()
        when = datetime.fromtimestamp(int(stamp), UTC)
        snap = store.snapshot_at(sha)
        live = [c for c in snap.records(Claim) if not is_dead(c, when, grace)]
        rev = snap.rev
        granted[rev] = {(c.id, c.agent) for c in live}
        live_by_rev[rev] = live
        for i, a in enumerate(live):
            ra = parsed.setdefault(a.resource, parse_resource(a.resource))
            for b in live[i + 1 :]:
                if a.agent == b.agent or (a.mode == "shared" and b.mode == "shared"):
                    continue
                rb = parsed.setdefault(b.resource, parse_resource(b.resource))
                if overlaps(ra, rb):
                    violations.append(
                        f"rev {rev}: {a.id} ({a.agent}, {a.resource}) and {b.id} ({b.agent}, {b.resource})"
                    )
    store.git.close()
    return {"commits": len(lines), "violations": violations, "granted": granted, "live": live_by_rev}


def refusal_named_live_holder(op: dict[str, Any], replay: dict[str, Any]) -> bool:
    """Did the claim the refusal names (`agent's mode claim C-n`) live at some revision?"""
    message = op.get("message", "")
    holders = {(c.id, c.agent) for live in replay["live"].values() for c in live}
    named = False
    for part in message.split(" overlaps ")[1:]:
        words = part.split()
        if len(words) >= 4 and words[0].endswith("'s"):
            named = True
            if (words[3], words[0][:-2]) not in holders:
                return False
    return named


# -- hooks, notion, comparison --------------------------------------------------------------------


def command_exists(*words: str) -> bool:
    res = subprocess.run([*gitcoord_command(), *words, "--help"], capture_output=True)
    return res.returncode == 0


def bench_hooks(root: Path, runs: int, live_claims: int = 1000, files: int = 200) -> dict[str, Any]:
    if not command_exists("hooks", "install"):
        return {
            "median": None,
            "floor_median": None,
            "skipped": "`gitcoord hooks install` does not exist yet in this checkout",
        }
    world = World(root / "hooks")
    bulk_write(world.first, others_claims(live_claims))
    hooked, plain = world.first, world.clone("plain")
    env = {"GITCOORD_AGENT": "bencher"}
    timed([*gitcoord_command(), "-C", str(hooked), "hooks", "install"], hooked, env=env)
    # The hooks read the local copy of the coord ref: make sure this clone has it.
    git(hooked, "fetch", "-q", "origin", "+refs/heads/coord:refs/remotes/origin/coord")

    def commit_times(repo: Path) -> list[float]:
        out = []
        for run in range(runs + 1):
            for i in range(files):
                path = repo / "work" / f"d{i % 10}" / f"f{i}.txt"
                path.parent.mkdir(parents=True, exist_ok=True)
                path.write_text(f"run {run} file {i}\n")
            git(repo, "add", "work")
            ms, _ = timed(["git", "commit", "-q", "-m", f"bench {run}"], repo, env=env)
            out.append(ms)
        return out[1:]  # the first commit warms caches

    with_hooks, without = commit_times(hooked), commit_times(plain)
    over = median(with_hooks) - median(without)
    return {
        "median": median(with_hooks),
        "floor_median": median(without),
        "over_floor_ms": round(over, 1),
        "target_over_floor_ms": 80,
        "meets_target": over <= 80,
        "live_claims": live_claims,
        "staged_files": files,
        "runs": runs,
        "refuses_claimed_path": hook_refuses(hooked, env),
    }


def hook_refuses(repo: Path, env: dict[str, str]) -> bool:
    """The timed hook did real work: a path under another agent's claim is refused."""
    path = repo / "area1" / "module.py"  # other1's exclusive claim (see others_claims)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("mine now\n")
    git(repo, "add", "area1")
    res = subprocess.run(
        ["git", "commit", "-q", "-m", "should be refused"],
        cwd=repo,
        capture_output=True,
        env=dict(os.environ, **env),
    )
    return res.returncode != 0


def bench_notion(root: Path, records: int) -> dict[str, Any]:
    fake = HERE.parent.parent / "fake_notion.py"
    if not fake.exists() or not command_exists("notion", "sync"):
        return {
            "first_sync_requests": None,
            "resync_writes": None,
            "skipped": "tests/fake_notion.py or `gitcoord notion sync` does not exist yet in this checkout",
        }
    return notion_sync_figures(root, fake, records)


def notion_sync_figures(root: Path, fake_path: Path, records: int) -> dict[str, Any]:
    """`notion setup`, then two `notion sync` runs of `records` records against the fake server."""
    import importlib.util

    spec = importlib.util.spec_from_file_location("fake_notion", fake_path)
    if spec is None or spec.loader is None:
        return {"first_sync_requests": None, "resync_writes": None, "skipped": "cannot load fake_notion.py"}
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    fake = module.FakeNotion().start()
    try:
        world = World(root / "notion")
        bulk_write(world.first, many_records(records))
        # The sync throttles itself to Notion's 3 requests/s; the fake has no such limit, and the
        # figure wanted is the number of requests, not 3 s per 9 of them.
        env = {"NOTION_TOKEN": fake.token, "NOTION_BASE_URL": fake.base_url, "GITCOORD_NOTION_RATE": "1000"}
        cmd = [*gitcoord_command(), "-C", str(world.first), "notion"]
        timed([*cmd, "setup", "--parent", fake.add_parent_page()], world.first, env=env)
        before = len(fake.requests)
        first_ms, _ = timed([*cmd, "sync"], world.first, env=env)
        first = len(fake.requests) - before
        mark = len(fake.requests)
        again_ms, _ = timed([*cmd, "sync"], world.first, env=env)
        writes = sum(
            1
            for method, _path, _status in fake.requests[mark:]
            if method in ("POST", "PATCH") and not _path.endswith("/query")
        )
        return {
            "first_sync_requests": first,
            "resync_writes": writes,
            "resync_requests": len(fake.requests) - mark,
            "first_sync_ms": round(first_ms, 1),
            "resync_ms": round(again_ms, 1),
            "records": records,
            "first_sync_s_at_3_per_s": round(first / 3, 1),
            "target_resync_writes": 0,
            "meets_target": writes == 0,
        }
    except Exception as exc:  # the sync is younger than this harness: report, don't sink the whole run
        return {
            "first_sync_requests": None,
            "resync_writes": None,
            "skipped": f"notion sync present but failed here: {type(exc).__name__}: {str(exc)[:300]}",
        }
    finally:
        fake.stop()


def bench_comparison(root: Path, runs: int) -> dict[str, Any]:
    """The same cold claim/release cycle with agentsync-mcp (PyPI), if an interpreter has it.

    agentsync-mcp is the one PyPI tool found that coordinates agents through a git
    branch with push as compare-and-swap. It is not a dependency of gitcoord: point
    GITCOORD_BENCH_AGENTSYNC_PYTHON at an interpreter where it is installed.
    """
    python = os.environ.get("GITCOORD_BENCH_AGENTSYNC_PYTHON", sys.executable)
    probe = subprocess.run([python, "-c", "import agentsync_server"], capture_output=True)
    if probe.returncode != 0:
        return {
            "skipped": "agentsync-mcp (the only comparable PyPI tool found: claims on a git branch, "
            "push as CAS) is not importable; set GITCOORD_BENCH_AGENTSYNC_PYTHON to an "
            "interpreter that has it. git-lfs locks is not on PyPI."
        }
    world = World(root / "agentsync")
    clone = world.first
    env = {"AGENTSYNC_AGENT_ID": "bencher", "AGENTSYNC_BOARD_REPO": str(clone)}
    claim = [python, "-c", "import agentsync_server as s; print(s.claim('bench', ['bench/x.py']))"]
    release = [python, "-c", "import agentsync_server as s; print(s.release('bench'))"]
    timed(claim, clone, env=env)  # creates its board worktree and branch: setup, not measured
    timed(release, clone, env=env)
    times = []
    for _ in range(runs):
        times.append(timed(claim, clone, env=env)[0])
        times.append(timed(release, clone, env=env)[0])
    imports = [timed([python, "-c", "import agentsync_server"], clone)[0] for _ in range(3)]
    return {
        "tool": "agentsync-mcp",
        "median": median(times),
        "import_ms": median(imports),
        "runs": runs,
        "note": "cold process calling agentsync_server.claim()/release() (its MCP tools) per command; "
        "same remote setup; it does fetch+worktree reset+commit+push per write",
    }


# -- MCP ---------------------------------------------------------------------------------------------


def push_floor(clone: Path, parent: str | None, n: int) -> tuple[float, str]:
    """The raw push write: hash-object, mktree, commit-tree, push --force-with-lease (no interpreter)."""
    total, blob = timed(["git", "hash-object", "-w", "--stdin"], clone, input=f"floor {n}\n".encode())
    ms, tree = timed(
        ["git", "mktree"], clone, input=f"100644 blob {blob.decode().strip()}\tf.toml\n".encode()
    )
    total += ms
    parent_args = ["-p", parent] if parent else []
    ms, commit = timed(["git", "commit-tree", tree.decode().strip(), *parent_args, "-m", f"floor {n}"], clone)
    total += ms
    sha = commit.decode().strip()
    lease = f"--force-with-lease=refs/heads/bench-mcp-floor:{parent or ''}"
    ms, _ = timed(["git", "push", "-q", lease, "origin", f"{sha}:refs/heads/bench-mcp-floor"], clone)
    return total + ms, sha


class SameWrite:
    """The raw push write of the same objects a claim writes: the paths a claim commit changed get
    new blobs (`hash-object -w --stdin-paths`, one process), every tree above them is written anew
    (`mktree --batch`, one process), then `commit-tree` and `push --force-with-lease`: the four
    processes of `push_floor`, pushing the claim's object count (its records sit three levels down)
    instead of one file at the top."""

    def __init__(self, clone: Path, commit: str, scratch: Path) -> None:
        self.clone, self.scratch = clone, scratch
        changed = git(clone, "diff-tree", "-r", "--no-commit-id", "--name-only", f"{commit}^", commit)
        self.paths = [p for p in changed.splitlines() if p]
        self.trees: dict[str, list[tuple[str, str, str, str]]] = {"": self._entries(commit, "")}
        for line in git(clone, "ls-tree", "-r", "-t", "--format=%(objecttype) %(path)", commit).splitlines():
            kind, path = line.split(" ", 1)
            if kind == "tree":
                self.trees[path] = self._entries(commit, path)
        scratch.mkdir(parents=True, exist_ok=True)

    def _entries(self, commit: str, path: str) -> list[tuple[str, str, str, str]]:
        out = git(self.clone, "ls-tree", f"{commit}:{path}" if path else commit)
        return [(*line.split("\t")[0].split(" "), line.split("\t")[1]) for line in out.splitlines()]  # type: ignore[misc]

    def push(self, parent: str | None, n: int) -> tuple[float, str]:
        files = []
        for i, path in enumerate(self.paths):
            f = self.scratch / f"{i}.toml"
            f.write_text(f"floor {n} {path}\n")
            files.append(str(f))
        total, out = timed(
            ["git", "hash-object", "-w", "--stdin-paths"], self.clone, input="\n".join(files).encode()
        )
        blobs = dict(zip(self.paths, out.decode().split(), strict=True))
        start = time.perf_counter()
        root = self._write_trees(blobs)
        total += (time.perf_counter() - start) * 1000
        parent_args = ["-p", parent] if parent else []
        ms, commit = timed(["git", "commit-tree", root, *parent_args, "-m", f"same {n}"], self.clone)
        total += ms
        sha = commit.decode().strip()
        lease = f"--force-with-lease=refs/heads/bench-mcp-same:{parent or ''}"
        ms, _ = timed(["git", "push", "-q", lease, "origin", f"{sha}:refs/heads/bench-mcp-same"], self.clone)
        return total + ms, sha

    def objects(self, commit: str) -> int:
        """How many objects `commit` adds to its parent (what its push carries)."""
        listed = git(self.clone, "rev-list", "--objects", commit, "--not", f"{commit}^@")
        return len(listed.splitlines())

    def _write_trees(self, blobs: dict[str, str]) -> str:
        """Every tree on the changed paths, deepest first, through one `git mktree --batch`."""
        dirty = {str(Path(p).parent) if "/" in p else "" for p in blobs}
        for d in list(dirty):
            while d:
                d = str(Path(d).parent) if "/" in d else ""
                dirty.add(d)
        ids: dict[str, str] = {}
        mktree = subprocess.Popen(
            ["git", "mktree", "--batch"], cwd=self.clone, stdin=subprocess.PIPE, stdout=subprocess.PIPE
        )
        assert mktree.stdin is not None and mktree.stdout is not None
        for d in sorted(dirty, key=lambda x: -x.count("/") - (1 if x else 0)):
            lines = []
            for mode, kind, oid, name in self.trees[d]:
                full = f"{d}/{name}" if d else name
                oid = blobs.get(full) or ids.get(full) or oid
                lines.append(f"{mode} {kind} {oid}\t{name}\n")
            mktree.stdin.write(("".join(lines) + "\n").encode())
            mktree.stdin.flush()
            ids[d] = mktree.stdout.readline().decode().strip()
        mktree.stdin.close()
        mktree.wait()
        return ids[""]


def git_processes(trace: Path) -> int:
    """How many git processes a GIT_TRACE2_EVENT file saw start (children of git included)."""
    if not trace.exists():
        return 0
    return sum('"event":"start"' in line for line in trace.read_text().splitlines())


def bench_mcp(root: Path, runs: int) -> dict[str, Any]:
    """A warm `claim` through `gitcoord mcp` (a real stdio client), against the raw push write.

    The server is started and primed first (its first calls are setup); then claim and release
    alternate with the floor's push to another branch of the same remote, interleaved. Only
    the claims are the figure; the releases keep each claim a fresh grant. The server moves the
    coord branch's mirror after answering (`mcp_reader.Mirrors`): each call is followed by a
    pause of `MCP_SETTLE_SECONDS` so that move never shares the machine with the floor or the
    next timed claim, and the process count includes it. `protocol_ms` is the MCP SDK's own
    cost: a tool that does nothing, on a server with nothing else, through the same client.
    """
    try:
        import anyio
        import mcp  # noqa: F401
    except ImportError:
        return {"skipped": "the official `mcp` SDK is not installed"}
    world = World(root / "mcp")
    clone = world.first
    trace = root / "mcp-trace2.json"
    claims: list[float] = []
    floors: list[float] = []
    same_floors: list[float] = []
    objects: list[int] = []
    claim_objects: list[int] = []
    tips: list[str] = []

    async def measured() -> None:
        async with _mcp_session(clone) as mcp:
            parent = same_parent = None
            same: SameWrite | None = None
            for n in range(runs):
                start = time.perf_counter()
                await _mcp_checked(mcp, "claim", {"resources": ["bench/x.py"]})
                claims.append((time.perf_counter() - start) * 1000)
                if same is None:  # the shape of a claim's commit: the paths it wrote
                    claim_commit = git(clone, "rev-parse", "refs/remotes/origin/coord").strip()
                    same = SameWrite(clone, claim_commit, root / "same")
                    claim_objects.append(same.objects(claim_commit))
                await anyio.sleep(MCP_SETTLE_SECONDS)
                await _mcp_checked(mcp, "release", {"resources": ["bench/x.py"]})
                await anyio.sleep(MCP_SETTLE_SECONDS)
                ms, parent = push_floor(clone, parent, n)
                floors.append(ms)
                tips.append(parent)
                ms, same_parent = same.push(same_parent, n)
                same_floors.append(ms)
                objects.append(same.objects(same_parent))

    async def counted() -> int:
        # A server of its own with GIT_TRACE2_EVENT set, so tracing costs the timed one nothing.
        async with _mcp_session(clone, {"GIT_TRACE2_EVENT": str(trace)}) as mcp:
            await anyio.sleep(MCP_SETTLE_SECONDS)
            trace.unlink(missing_ok=True)  # the priming calls' processes are not this claim's
            await _mcp_checked(mcp, "claim", {"resources": ["bench/y.py"]})
            await anyio.sleep(MCP_SETTLE_SECONDS)  # its mirror move is one of its processes
            found = git_processes(trace)
            await _mcp_checked(mcp, "release", {"resources": ["bench/y.py"]})
            return found

    anyio.run(measured)
    per_claim = anyio.run(counted)
    trace.unlink(missing_ok=True)
    os.environ["GIT_TRACE2_EVENT"] = str(trace)
    try:
        push_floor(clone, tips[-1], runs + 1)
    finally:
        os.environ.pop("GIT_TRACE2_EVENT", None)
    ratio = round(median(claims) / median(same_floors), 2)
    return {
        "warm_claim_ms": median(claims),
        "floor_ms": median(same_floors),
        "floor": "the raw push write of a claim's objects: git hash-object -w --stdin-paths, mktree --batch, "
        "commit-tree, push --force-with-lease (file:// remote), writing the paths a claim commit writes",
        "claim_objects": claim_objects[0],
        "floor_objects": objects[-1],
        "ratio": ratio,
        "target_ratio": 1.2,
        "meets_target": ratio <= 1.2,
        "one_file_floor_ms": median(floors),
        "one_file_floor": "the same four processes for one file at the top of the tree (3 objects)",
        "one_file_ratio": round(median(claims) / median(floors), 2),
        "protocol_ms": anyio.run(_mcp_protocol_ms, root, runs),
        "git_processes_per_claim": per_claim,
        "git_processes_floor": git_processes(trace),
        "runs": runs,
    }


MCP_SETTLE_SECONDS = 0.1  # far longer than one `update-ref`
NOOP_SERVER = """
from mcp.server.mcpserver import MCPServer
server = MCPServer("noop")
@server.tool()
async def noop() -> dict:
    return {}
server.run("stdio")
"""


async def _mcp_protocol_ms(root: Path, runs: int) -> float:
    """The median of a no-op tool's call: the protocol floor under every MCP figure."""
    from mcp import ClientSession, StdioServerParameters
    from mcp.client.stdio import stdio_client

    params = StdioServerParameters(command=sys.executable, args=["-c", NOOP_SERVER], cwd=str(root))
    times: list[float] = []
    async with stdio_client(params) as (read, write), ClientSession(read, write) as session:
        await session.initialize()
        for n in range(runs + 2):
            start = time.perf_counter()
            await _mcp_checked(session, "noop", {})
            if n >= 2:  # the first calls build the tool's models
                times.append((time.perf_counter() - start) * 1000)
    return median(times)


@contextlib.asynccontextmanager
async def _mcp_session(clone: Path, env: dict[str, str] | None = None) -> AsyncIterator[Any]:
    """A primed `gitcoord mcp` server for agent "bencher" in `clone`, through a stdio client."""
    from mcp import ClientSession, StdioServerParameters
    from mcp.client.stdio import stdio_client

    cmd = gitcoord_command()
    params = StdioServerParameters(
        command=cmd[0],
        args=[*cmd[1:], "-C", str(clone), "mcp", "--agent", "bencher"],
        env=dict(os.environ, **(env or {})),
        cwd=str(clone),
    )
    async with stdio_client(params) as (read, write), ClientSession(read, write) as session:
        await session.initialize()
        for _ in range(2):  # the server's first calls pay imports and model building: setup
            await _mcp_checked(session, "claim", {"resources": ["bench/x.py"]})
            await _mcp_checked(session, "release", {"resources": ["bench/x.py"]})
        yield session


async def _mcp_checked(session: Any, tool: str, args: dict[str, Any]) -> Any:
    result = await session.call_tool(tool, args)
    if getattr(result, "is_error", None) or getattr(result, "isError", None):
        raise RuntimeError(f"mcp {tool} failed: {result.content}")
    return result


# -- issue 13: one table ----------------------------------------------------------------------------


def bench_script(name: str, rounds: int) -> dict[str, Any]:
    """Run tests/bench/NAME --rounds N (its own process and temp dir) and return its JSON."""
    res = subprocess.run(
        [sys.executable, str(HERE.parent / name), "--rounds", str(rounds)], capture_output=True, text=True
    )
    if res.returncode != 0:
        return {"skipped": f"{name} exited {res.returncode}: {res.stderr.strip()[-400:]}"}
    # The figures are the last line: a script may say what its set-up did before it.
    lines = [line for line in res.stdout.splitlines() if line.startswith("{")]
    try:
        found: dict[str, Any] = json.loads(lines[-1])
    except (IndexError, ValueError):
        return {"skipped": f"{name} printed no JSON line: {res.stdout.strip()[-400:]}"}
    return found


def _row(ms: float, floor: float, target: float, *, over: bool = False) -> dict[str, Any]:
    """One figure of the table: a ratio to its floor, or (`over`) milliseconds over it."""
    if over:
        return {
            "ms": ms,
            "floor_ms": floor,
            "over_floor_ms": ms,
            "target_over_ms": target,
            "met": ms <= target,
        }
    ratio = round(ms / floor, 2) if floor else None
    return {
        "ms": ms,
        "floor_ms": floor,
        "ratio": ratio,
        "target": target,
        "met": ratio is not None and ratio <= target,
    }


def issue13(figures: dict[str, Any]) -> dict[str, Any]:
    """Every issue-13 figure with its floor, ratio, target and met/missed, from the parts below."""
    table: dict[str, Any] = {}
    for command, entry in figures["calls"]["per_call"].items():
        for kind in ("later", "first"):
            if kind in entry:
                e = entry[kind]
                table[f"{command} ({kind} call)"] = _row(e["ms"], e["floor_ms"], e["target"])
    guard = figures["guard"].get("guard_ms")
    if guard:
        # The floor of an edit: the interpreter as the launcher starts it and the guard's three
        # git reads. An agent's first edit runs in-process (no server yet), later edits are served
        # (DESIGN §9). guard_bench's `auto_first_edit_median` is an edit that writes a claim (auto
        # mode), another figure, kept in `guard`.
        floor = guard["floor_interpreter_reads_median"]
        table["editor guard (later edit)"] = _row(guard["warm_median"], floor, 1.5)
        table["editor guard (first edit)"] = _row(guard["others_median"], floor, 3.0)
    hooks = figures["hooks"].get("hook_ms")
    if hooks:
        table["hooks: commit of 200 files at 1,000 claims"] = _row(
            hooks["median"], hooks["floor_median"], 30.0, over=True
        )
    mcp = figures["mcp"]
    if "warm_claim_ms" in mcp:
        table["MCP warm claim"] = _row(mcp["warm_claim_ms"], mcp["floor_ms"], 1.2)
    growth = figures["calls"].get("growth", {})
    return {
        "figures": table,
        "met": sorted(k for k, v in table.items() if v["met"]),
        "missed": sorted(k for k, v in table.items() if not v["met"]),
        "growth": {k: v["growth"] for k, v in growth.items() if isinstance(v, dict) and "growth" in v}
        or growth.get("skipped", "not measured"),
    }


# -- the whole run ------------------------------------------------------------------------------------


def precompile() -> None:
    """Byte-compile gitcoord as `pip install` does for an installed package.

    An editable checkout under PYTHONDONTWRITEBYTECODE (set on some machines) would
    otherwise compile every module from source in every cold process, which no
    installed copy pays.
    """
    import compileall

    import gitcoord

    compileall.compile_dir(str(Path(gitcoord.__file__).parent), quiet=1)


def run_only(part: str, quick: bool) -> dict[str, Any]:
    """One part of the run (`--only`), under the same key and shape as in the whole report."""
    root = Path(tempfile.mkdtemp(prefix="gitcoord-bench-"))
    pin_environment(root)
    precompile()
    try:
        figures: dict[str, Any] = {"meta": {"quick": quick, "only": part, "cpus": os.cpu_count()}}
        figures[part] = ONLY[part](root, quick)
        return figures
    finally:
        shutil.rmtree(root, ignore_errors=True)


# The parts `--only` can run by themselves.
ONLY: dict[str, Callable[[Path, bool], dict[str, Any]]] = {
    "mcp": lambda root, quick: bench_mcp(root, 3 if quick else 31),
}


def run(quick: bool) -> dict[str, Any]:
    root = Path(tempfile.mkdtemp(prefix="gitcoord-bench-"))
    pin_environment(root)
    precompile()
    started = time.perf_counter()
    try:
        runs = 5 if quick else 9
        figures: dict[str, Any] = {
            "meta": {
                "quick": quick,
                "python": sys.version.split()[0],
                "cpus": os.cpu_count(),
                "git": git(root, "--version"),
                "gitcoord": " ".join(gitcoord_command()),
                "when": datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ"),
            },
        }
        figures["claim_ms"] = bench_claim(root, runs)
        figures["contention"] = bench_contention(root, 8, 6.0 if quick else 20.0)
        figures["scale"], figures["status_ms"] = bench_scale(
            root,
            [100, 1000] if quick else [100, 1000, 10000],
            [10, 100] if quick else [10, 100, 1000],
            history=0 if quick else 5000,
            runs=3,
            status_runs=3 if quick else 5,
        )
        figures["hook_ms"] = bench_hooks(
            root, 3 if quick else 7, live_claims=100 if quick else 1000, files=50 if quick else 200
        )
        figures["notion"] = bench_notion(root, 100 if quick else 1000)
        figures["comparison"] = bench_comparison(root, 3 if quick else 5)
        figures["mcp"] = bench_mcp(root, 3 if quick else 31)
        # Issue 13: the eight agent calls, first and later, and growth (tests/bench/calls.py);
        # the editor guard and the hooks (their own scripts, each a process of its own).
        figures["calls"] = __import__("calls").bench_calls(root, quick)
        figures["guard"] = bench_script("guard_bench.py", 2 if quick else 9)
        figures["hooks"] = bench_script("hook_bench.py", 2 if quick else 21)
        figures = {"issue13": issue13(figures), **figures}
        figures["meta"]["seconds"] = round(time.perf_counter() - started, 1)
        return figures
    finally:
        shutil.rmtree(root, ignore_errors=True)


def main(argv: Sequence[str] | None = None) -> int:
    args = list(sys.argv[1:] if argv is None else argv)
    if args[:1] == ["--worker"]:
        clone, agent, start_at, seconds, seed = args[1:6]
        worker(clone, agent, float(start_at), float(seconds), int(seed))
        return 0
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="small sizes only (for the smoke test)")
    parser.add_argument("--json", metavar="FILE", help="also write the figures to FILE")
    parser.add_argument("--only", choices=sorted(ONLY), help="run that part alone (same JSON key)")
    opts = parser.parse_args(args)
    figures = run_only(opts.only, opts.quick) if opts.only else run(opts.quick)
    text = json.dumps(figures, indent=2, default=str)
    print(text)
    if opts.json:
        Path(opts.json).write_text(text + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
