"""Lease arithmetic and conflict rules for claims (DESIGN §4).

A claim is *live* until `expires_at`, *expired* (still honoured) during the
grace period, and *dead* after `expires_at + grace`: dead claims are ignored
for conflicts and removed by the next write that needs their resource.

Clock bound: only the taker's clock decides whether a claim is dead. A claim
with `r` minutes of lease left is safe from every clock that runs less than
`r + grace` minutes ahead of the holder's; a holder that checks in at the
suggested cadence (every half lease) keeps `r` at or above half the lease.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from gitcoord.clock import utc_text
from gitcoord.overlap import overlaps
from gitcoord.plain import lease_state
from gitcoord.records import Claim
from gitcoord.resources import Resource, parse_resource


def state(claim: Claim, now: datetime, grace: timedelta) -> str:
    """'live', 'expired' (in its grace period, still honoured) or 'dead'."""
    return lease_state(claim.expires_at, now, grace)


def is_dead(claim: Claim, now: datetime, grace: timedelta) -> bool:
    return state(claim, now, grace) == "dead"


def blocks(held: Claim, wanted: Resource, mode: str, *, ignorecase: bool) -> bool:
    """Does `held` stand in the way of claiming `wanted` in `mode`? (liveness aside)"""
    if mode == "shared" and held.mode == "shared":
        return False
    return overlaps(parse_resource(held.resource), wanted, ignorecase=ignorecase)


@dataclass(frozen=True)
class Conflict:
    """One reason a claim was refused: what was wanted, and the claim in the way."""

    wanted: str
    held: Claim

    def describe(self, now: datetime) -> str:
        c = self.held
        since = utc_text(c.created_at)
        until = utc_text(c.expires_at)
        checked = utc_text(c.last_check_in)
        said = f', said "{c.message}"' if c.message else ""
        late = " (lease expired, in its grace period)" if now > c.expires_at else ""
        return (
            f"{self.wanted} overlaps {c.agent}'s {c.mode} claim {c.id} on {c.resource} "
            f"(since {since}, until {until}{late}, last check-in {checked}{said})"
        )


def refusal_hint(conflicts: list[Conflict], wanted: list[str]) -> str:
    holders = sorted({c.held.agent for c in conflicts})
    first = conflicts[0].held
    return (
        f'ask for it: gitcoord request-help --to {holders[0]} --resource {first.resource} "..."; '
        f"or wait for it: gitcoord claim {' '.join(wanted)} --wait 600"
    )
