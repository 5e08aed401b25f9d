"""The warm server primes itself: its children build no pydantic schema for the agent commands (issue 13).

A fresh interpreter does what the server does before it listens (`server.prepare`), then counts
every schema pydantic generates from there on and forks one child per agent-facing call, as the
server does, against a real repository with a real remote. Priming reads no repository: the real
server, started with a spying `git` first on PATH, runs no git until it serves a call.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

from tests.conftest import make_repo
from tests.warm_helpers import Warm, bare_remote_clone, call, git_spy

AGENT_CALLS = [
    ["start", "--role", "tester"],
    ["claim", "src/x.py", "-m", "on it"],
    ["check-in", "-m", "half way"],
    ["claims"],
    ["claims", "--json"],
    ["status"],
    ["status", "--json"],
    ["inbox"],
    ["task", "next"],
    ["release", "src/x.py"],
]

# As the server: prepare, then fork a child per call; each child reports the schemas it generated.
CHILDREN = """
import json, os, sys
from pydantic._internal import _generate_schema
from gitcoord.warm import prime, server

server.prepare()
unbuilt = [m.__qualname__ for m in prime.gitcoord_models() if not m.__pydantic_complete__]
built = []
original = _generate_schema.GenerateSchema.generate_schema
def counting(self, obj):
    built.append(repr(obj)[:80])
    return original(self, obj)
_generate_schema.GenerateSchema.generate_schema = counting

os.chdir(sys.argv[1])
report = {"unbuilt": unbuilt, "calls": []}
for args in json.loads(sys.argv[2]):
    read, write = os.pipe()
    pid = os.fork()
    if pid == 0:
        os.close(read)
        null = os.open(os.devnull, os.O_WRONLY)
        os.dup2(null, 1)
        os.dup2(null, 2)
        from gitcoord.cli import main
        code = main(args)
        os.write(write, json.dumps([code, built]).encode())
        os._exit(0)
    os.close(write)
    with os.fdopen(read) as pipe:
        answer = pipe.read()
    os.waitpid(pid, 0)
    report["calls"].append([args, *json.loads(answer)])
print(json.dumps(report))
"""


def test_a_primed_servers_children_build_no_pydantic_schema(tmp_path: Path) -> None:
    clone = bare_remote_clone(tmp_path)
    env = dict(os.environ, GITCOORD_WARM="0", GITCOORD_AGENT="alpha")
    for args in (["init"], ["task", "add", "write", "docs"], ["send", "--to", "alpha", "hi"]):
        assert call(clone, *args, env=env, warm=False).code == 0
    res = subprocess.run(
        [sys.executable, "-c", CHILDREN, str(clone), json.dumps(AGENT_CALLS)],
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert res.returncode == 0, res.stderr
    report = json.loads(res.stdout)
    assert report["unbuilt"] == [], "every model is built before the first fork"
    for args, code, built in report["calls"]:
        assert code == 0, f"gitcoord {' '.join(args)}"
        assert built == [], f"gitcoord {' '.join(args)} built schemas in the child: {built[:3]}"


def test_priming_runs_no_git_and_a_caller_wanting_pydantic_plugins_runs_in_process(
    tmp_path: Path, warm: Warm
) -> None:
    spy_env, spy_log = git_spy(tmp_path)
    repo = make_repo(tmp_path / "repo")
    spy_log.unlink(missing_ok=True)
    warm.env.update(spy_env)
    server = warm.start(tmp_path)  # `--version` in a directory that is no repository: no git
    ran = spy_log.read_text().splitlines() if spy_log.exists() else []
    assert ran == [], "no git ran while the server imported and primed itself"
    # The server built its validators with plugins off (the console script's default): a caller
    # that turns them on would not get them from a child, so it runs in-process.
    res = call(repo, "init", env=dict(warm.env, PYDANTIC_DISABLE_PLUGINS=""), agent="alpha")
    assert (res.code, res.err) == (0, "")
    parents = {int(line.split()[1]) for line in spy_log.read_text().splitlines() if line.strip()}
    assert server not in parents, "served by the server, although its plugin setting differs"


def test_the_client_imports_neither_typing_nor_openssl() -> None:
    """Every served call pays the client's imports: no `typing` (via the package's `__init__`) and no
    `hashlib` (it loads OpenSSL and reads its configuration) for a blake2b the interpreter has."""
    heavy = "{'typing', 'hashlib', '_hashlib'}"
    code = f"import sys, gitcoord.warm.client; print(sorted({heavy} & set(sys.modules)))"
    res = subprocess.run([sys.executable, "-I", "-c", code], capture_output=True, text=True, timeout=120)
    assert (res.returncode, res.stdout.strip()) == (0, "[]"), res.stderr
