"""The write behind hooks.mode = "auto": claims and renewals for an agent, in one coord commit.

Kept apart from `gitcoord.hooks.auto`, which must stay light: this module imports the
`Coordinator` (pydantic, GitPython) and is imported only when auto mode has to write.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from gitcoord import leases
from gitcoord.coordinator import Coordinator
from gitcoord.hooks.auto import literal_resource
from gitcoord.host import touch_agent
from gitcoord.records import Claim
from gitcoord.resources import parse_resource
from gitcoord.store import Txn


def auto_claim(
    where: Path, agent: str, paths: Sequence[str], renew: Mapping[str, Sequence[str]], *, message: str
) -> list[dict[str, Any]]:
    """Claim `paths` for `agent` (exclusive, default lease, `auto = true`) and renew the claims
    named in `renew`, all or nothing; the written claims as record data.

    The local read that decided this may be behind: the transaction checks again on the
    authoritative tip. A claim to renew that is gone (released, taken over) makes its paths
    wanted again; another agent's live claim on any path refuses the whole write (exit 3).

    >>> auto_claim(Path("."), "alpha", ["src/a.py"], {}, message="auto: first edit")  # doctest: +SKIP
    """
    with Coordinator(where, agent=agent) as coord:

        def work(txn: Txn) -> list[Claim]:
            current = {c.id: c for c in txn.snap.records(Claim)}
            renewed, lapsed = _renew(coord, txn, agent, current, renew)
            wanted = list(dict.fromkeys(literal_resource(p) for p in [*paths, *lapsed]))
            resources = [parse_resource(text) for text in wanted]
            granted = coord.grant_claims(txn, agent, resources, message=message) if resources else []
            for claim in granted:
                if claim.id not in current:
                    claim.auto = True
                    txn.put(claim)
            done = renewed + granted
            touch_agent(coord, txn, agent, resource=done[0].resource if done else None)
            txn.action, txn.what = "auto-claim", " ".join(c.resource for c in done)
            return done

        return [claim.model_dump(mode="json") for claim in coord.write(work, actor=agent)]


def _renew(
    coord: Coordinator, txn: Txn, agent: str, current: Mapping[str, Claim], renew: Mapping[str, Sequence[str]]
) -> tuple[list[Claim], list[str]]:
    """(claims renewed for a default lease, paths of those no longer the agent's to renew)."""
    renewed: list[Claim] = []
    lapsed: list[str] = []
    for cid, covered in renew.items():
        held = current.get(cid)
        if held is None or held.agent != agent or leases.is_dead(held, txn.now, coord.grace):
            lapsed += covered
            continue
        held.last_check_in, held.expires_at = txn.now, txn.now + coord.lease
        txn.put(held)
        renewed.append(held)
    return renewed, lapsed
