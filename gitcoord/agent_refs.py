"""Each agent's own ref (store format 2, DESIGN §2): where its heartbeat lands without contention.

A check-in or `start` that changes nothing but the agent's own record does not need the shared
ref's one judgement across agents, so in a format-2 store it lands on `refs/coord/agents/<name>`,
whose only writer is that agent. Claims, tasks and everything else stay on the shared ref, and a
write there that touches the agent's record writes it there as before. A reader therefore finds
up to two copies of an agent's record and keeps the one written last: every write of an agent
record counts it up (`seq`), from the larger count of the two copies it read; on a tie (two
writes of one agent racing onto different refs) the shared ref's copy stands, and so it does
when the own copy was written from a shared revision older than the shared copy's.

The tree of an agent ref holds exactly `.coord/agents/<name>.toml`. Its commits carry the usual
trailers, `Coord-Rev` being the shared revision the write read (an agent ref has no count of
its own), so the history reads as one trail once the refs are walked together.
"""

from __future__ import annotations

import tomllib
from typing import Any

from gitcoord.constants import ROOT as ROOT
from gitcoord.git import Git

LOCAL_PREFIX = "refs/coord/agents/"


def tracking_prefix(remote: str) -> str:
    """Where a clone keeps its copies of the remote's agent refs (fetched with the coord branch)."""
    return f"refs/coord/remotes/{remote}/agents/"


def fetch_refspec(remote: str) -> str:
    return f"+{LOCAL_PREFIX}*:{tracking_prefix(remote)}*"


def component(name: str) -> str:
    """The agent's ref name under the prefix: its name, or `_` and its hex where git refuses the name.

    Agent names are `[a-z0-9][a-z0-9._-]*`; git refuses a ref component holding `..` or ending in
    `.` or `.lock`. `_` cannot start an agent name, so the two spellings never meet."""
    if ".." in name or name.endswith((".", ".lock")):
        return "_" + name.encode().hex()
    return name


def agent_name(part: str) -> str | None:
    """The agent a ref component names (None for one no agent's ref could have)."""
    if part.startswith("_"):
        try:
            return bytes.fromhex(part[1:]).decode()
        except (ValueError, UnicodeDecodeError):
            return None
    return part or None


def record_path(name: str) -> str:
    return f"{ROOT}/agents/{name}.toml"


def list_tips(git: Git, prefix: str) -> dict[str, str]:
    """{agent: commit} of every agent ref under `prefix` (one `for-each-ref`)."""
    res = git.run("for-each-ref", "--format=%(objectname) %(refname)", prefix)
    tips: dict[str, str] = {}
    for line in res.stdout.decode(errors="replace").splitlines():
        sha, _, ref = line.partition(" ")
        name = agent_name(ref[len(prefix) :])
        if name is not None and ref.startswith(prefix):
            tips[name] = sha
    return tips


def table_of(raw: bytes | None) -> dict[str, Any] | None:
    if raw is None:
        return None
    try:
        return tomllib.loads(raw.decode())
    except (ValueError, UnicodeDecodeError):
        return {}  # damaged: counts nothing (and is skipped when its records are read)


def _count(table: dict[str, Any], key: str) -> int:
    found = table.get(key, 0)
    return found if type(found) is int else 0


def own_is_later(shared: dict[str, Any] | None, own: dict[str, Any]) -> bool:
    """Is the own ref's copy of an agent's record (parsed) the later one?

    It is when it counts more writes and it read the shared copy: a write on the own ref records
    the shared revision it read as `updated_rev`, and a shared write that landed after that read
    (a release by another process of the agent, say) is not in it, whatever it counts."""
    if shared is None:
        return True
    return _count(own, "seq") > _count(shared, "seq") and _count(own, "updated_rev") >= _count(
        shared, "updated_rev"
    )
