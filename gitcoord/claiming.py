"""Claims: take them (all or none), renew them, release them, wait for them (DESIGN §3).

The operations behind `claim`, `check-in`, `release` and `claims`, and the steps other
rooms share: granting claims inside a transaction (`task next`), an agent's heartbeat
and the bookkeeping of what it holds and lost, waiting on a refusal. Example::

    coord = Coordinator(".", agent="alpha")
    coord.claim(["src/api.py"], minutes=30, message="adding the endpoint")
    coord.check_in(progress=50, message="tests written")
    coord.release(["src/api.py"], message="merged")
"""

from __future__ import annotations

import secrets
import threading
import time
from collections.abc import Callable, Sequence
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Literal, TypeVar, cast

from gitcoord import leases, plain
from gitcoord.constants import RECORD_ID
from gitcoord.errors import InvalidInput, Refused
from gitcoord.host import Host, touch_agent
from gitcoord.records import Agent, Claim
from gitcoord.resources import Resource, parse_resource
from gitcoord.results import CheckInResult, ClaimView, LostClaim
from gitcoord.validate import check_text, check_wait

if TYPE_CHECKING:
    from gitcoord.store import Snapshot, Txn

T = TypeVar("T")


class ClaimOps:
    """Claim, check in, release, list claims."""

    def live_claims(self: Host, snap: Snapshot, now: datetime, *, include_dead: bool = False) -> list[Claim]:
        """The claims of `snap` whose lease (with its grace) still runs, or every one with `include_dead`."""
        return live_claims(self, snap, now, include_dead=include_dead)

    def claim_view(self: Host, claim: Claim, now: datetime, me: str | None = None) -> ClaimView:
        """`claim` as `claims` shows it: the record, its state, whether it is `me`'s, seconds left."""
        return claim_view(self, claim, now, me)

    def claim(
        self: Host,
        resources: Sequence[str],
        *,
        minutes: float | None = None,
        shared: bool = False,
        message: str = "",
        wait: float = 0,
        stop: threading.Event | None = None,
        until_merged: bool = False,
    ) -> list[Claim]:
        """Claim every resource or none (exit 3 with the holders when refused).

        Claiming what you already hold renews it and keeps its token. `until_merged` marks
        the claims to be released when their work lands (`gitcoord.merged`). With
        `wait`, keeps trying (with backoff) until granted or `wait` seconds pass,
        or until `stop` is set (the caller gave up: see `with_wait`).
        """
        agent = self.require_agent()
        wanted = [parse_resource(r) for r in resources]
        if not wanted:
            raise InvalidInput("name at least one resource to claim.")
        check_text(message, "message", 4000)
        lease = _lease_for(self, minutes)
        mode: Literal["exclusive", "shared"] = "shared" if shared else "exclusive"

        def work(txn: Txn) -> list[Claim]:
            granted = grant(
                self, txn, agent, wanted, mode=mode, lease=lease, message=message, until_merged=until_merged
            )
            for held in granted:
                if held.auto:  # claimed on purpose now: no longer what auto mode took
                    held.auto = False
                    txn.put(held)
            txn.action, txn.what = "claim", " ".join(r.text for r in wanted)
            touch_agent(self, txn, agent, resource=wanted[0].text)
            return granted

        return with_wait(self, lambda: self.write(work), wait, stop)

    def grant_claims(
        self: Host,
        txn: Txn,
        agent: str,
        wanted: Sequence[Resource],
        *,
        mode: Literal["exclusive", "shared"] = "exclusive",
        lease: timedelta | None = None,
        message: str = "",
        until_merged: bool = False,
    ) -> list[Claim]:
        """Inside a transaction: claim all of `wanted` for `agent` or raise `Refused`.

        Renews what the agent already holds (same id and token, and `until_merged` once set),
        takes over dead claims in the way (recorded in a `Coord-Takeover` trailer).
        """
        return grant(
            self, txn, agent, wanted, mode=mode, lease=lease, message=message, until_merged=until_merged
        )

    def check_in(
        self: Host,
        resources: Sequence[str] = (),
        *,
        progress: int | None = None,
        message: str = "",
        minutes: float | None = None,
    ) -> CheckInResult:
        """Heartbeat: renew my claims (all, or the named ones, by resource or id) and record progress.

        Refused (exit 3) when a named claim is no longer mine: it was released,
        or taken over after its lease died. A check-in naming nothing renews what
        is still mine and reports under "lost" the claims someone else removed
        since my last write (the CLI then exits 3).
        """
        agent = self.require_agent()
        self.refuse_speaking_for("a check-in")
        names = [r if RECORD_ID.fullmatch(r) else parse_resource(r).text for r in resources]
        if progress is not None and not 0 <= progress <= 100:
            raise InvalidInput(f"--progress is a percentage from 0 to 100, not {progress}.")
        check_text(message, "message", 4000)
        lease = _lease_for(self, minutes)

        def work(txn: Txn) -> CheckInResult:
            mine = [c for c in txn.snap.records(Claim) if c.agent == agent]
            held = {c.resource: c for c in mine} | {c.id: c for c in mine}
            missing = [n for n in names if n not in held]
            if missing:
                raise Refused(
                    f"check-in refused: you no longer hold {', '.join(missing)}.",
                    hint=_lost_hint(self, txn, missing),
                )
            # Named claims, or all with --minutes, are renewed now; the others once at most half
            # their lease is left, or when the check-in changes their progress or words. A check-in
            # that does none of that lands on the agent's own ref alone (store format 2), never
            # contending with everyone's claims.
            renewed = (
                list({held[n].id: held[n] for n in names}.values())
                if names
                else [
                    c
                    for c in mine
                    if minutes is not None
                    or c.expires_at - txn.now <= lease / 2
                    or (progress is not None and progress != c.progress)
                    or (message and message != c.message)
                ]
            )
            for claim in renewed:
                claim.last_check_in, claim.expires_at = txn.now, txn.now + lease
                if progress is not None:
                    claim.progress = progress
                claim.message = message or claim.message
                txn.put(claim)
            record = touch_agent(self, txn, agent, progress=progress, message=message)
            lost = report_lost(self, txn, record)
            txn.action = "check-in"
            kept = [c for c in mine if c not in renewed]
            txn.what = " ".join(c.resource for c in renewed) or (
                f"(keeps {' '.join(c.resource for c in kept)})" if kept else "(no claims)"
            )
            return {
                "agent": agent,
                "renewed": [c.id for c in renewed],
                "kept": [c.id for c in kept],
                "lost": lost,
                "next_check_in": record.next_check_in or txn.now + self.lease / 2,
                "conflicts": [],
            }

        result = self.write(work)
        if result["lost"]:
            annotate_lost(self, self.store.local_tip(), result["lost"])
        result["conflicts"] = self.coming_conflicts(agent)
        return result

    def release(
        self: Host,
        resources: Sequence[str] = (),
        *,
        all: bool = False,
        message: str = "",
        force: bool = False,
        reason: str = "",
    ) -> list[Claim]:
        """Release my claims (named by resource or claim id, or all of them).

        `force` releases anyone's claims: it is for humans, needs a reason, and
        the reason is recorded in the commit.
        """
        if force:
            _check_forced_release(self, resources, all=all, reason=reason)
        else:
            self.refuse_speaking_for("releasing claims")
        actor = self.human() if force else self.require_agent()
        sign = force and self.sign_human_act()
        if not resources and not all:
            raise InvalidInput("name the resources (or claim ids) to release, or pass --all.")
        targets = [r if RECORD_ID.fullmatch(r) else parse_resource(r).text for r in resources]
        check_text(message, "message", 4000)

        def work(txn: Txn) -> list[Claim]:
            claims = txn.snap.records(Claim)
            chosen = [
                c
                for c in claims
                if (force or c.agent == actor) and (all or c.resource in targets or c.id in targets)
            ]
            found = {c.resource for c in chosen} | {c.id for c in chosen}
            missing = [t for t in targets if t not in found]
            if missing:
                raise Refused(
                    f"release refused: you hold no claim on {', '.join(missing)}.",
                    hint="see `gitcoord claims` for what you hold.",
                )
            for claim in chosen:
                txn.delete(claim)
            txn.action = "force-release" if force else "release"
            txn.what = " ".join(c.resource for c in chosen) or "(nothing held)"
            if force:
                txn.trailers["Coord-Force"] = check_text(reason, "reason", 1000).replace("\n", " ")
                txn.trailers["Coord-Released"] = ", ".join(f"{c.id} ({c.agent})" for c in chosen)
            elif chosen:
                record = touch_agent(self, txn, actor, resource="", message=message)
                end_progress(txn, record, {c.id for c in chosen}, message)
            return chosen

        return self.write(work, actor=actor, sign=sign)

    def claims(self: Host, *, all: bool = False, fetch: bool = False) -> list[ClaimView]:
        """Live claims (with `all`, also dead ones still in the tree), each with its state."""
        snap = self.snapshot(fetch=fetch)
        now = self.store.clock()
        found = live_claims(self, snap, now, include_dead=all)
        return sorted((claim_view(self, c, now, self.agent) for c in found), key=plain.claims_order)


# -- what the other rooms share -----------------------------------------------------------------


def end_progress(txn: Txn, record: Agent, gone: set[str], message: str = "") -> None:
    """After `gone` (claim ids) left `record`'s agent: with no claim left, its progress and last
    words are over (they were said of the claims), and `message`, if any, is what it said last."""
    if any(c.agent == record.name and c.id not in gone for c in txn.snap.records(Claim)):
        return
    record.progress, record.message = None, message
    txn.put(record)


def live_claims(host: Host, snap: Snapshot, now: datetime, *, include_dead: bool = False) -> list[Claim]:
    claims = snap.records(Claim)
    if include_dead:
        return claims
    return [c for c in claims if not leases.is_dead(c, now, host.grace)]


def claim_view(host: Host, claim: Claim, now: datetime, me: str | None = None) -> ClaimView:
    # The record's own fields come from pydantic as JSON values, the rest are added: one cast.
    return cast(
        "ClaimView", plain.claim_view(claim.model_dump(mode="json"), claim.expires_at, now, host.grace, me)
    )


def grant(
    host: Host,
    txn: Txn,
    agent: str,
    wanted: Sequence[Resource],
    *,
    mode: Literal["exclusive", "shared"] = "exclusive",
    lease: timedelta | None = None,
    message: str = "",
    until_merged: bool = False,
) -> list[Claim]:
    """See `ClaimOps.grant_claims`."""
    lease = lease or host.lease
    mine, takeovers = _grant_check(host, txn, agent, list(wanted), mode)
    granted = []
    for res in wanted:
        claim = mine.get(res.text)
        if claim is None:
            cid = txn.new_id("C")
            claim = Claim(
                id=cid,
                agent=agent,
                resource=res.text,
                mode=mode,
                token=int(cid.split("-")[1]),
                created_at=txn.now,
                last_check_in=txn.now,
                expires_at=txn.now + lease,
            )
        claim.session_id = _session(txn, agent)
        claim.mode, claim.last_check_in, claim.expires_at = mode, txn.now, txn.now + lease
        claim.message = message or claim.message
        claim.until_merged = until_merged or claim.until_merged
        txn.put(claim)
        granted.append(claim)
    for dead in takeovers:
        txn.delete(dead)
    if takeovers:
        txn.trailers["Coord-Takeover"] = ", ".join(f"{c.id} ({c.agent})" for c in takeovers)
    return granted


def report_lost(host: Host, txn: Txn, record: Agent, *, keep: bool = False) -> list[LostClaim]:
    """The agent's lost claims, each with who holds its resource now; told once, so cleared."""
    lost: list[LostClaim] = []
    for cid, resource in sorted(record.lost.items()):
        holder = _holder_now(host, txn, resource, besides=record.name)
        lost.append(
            {
                "id": cid,
                "resource": resource,
                "now_held_by": f"{holder.agent} ({holder.id})" if holder else "",
            }
        )
    if not keep:
        record.lost = {}
    return lost


def annotate_lost(host: Host, tip: str | None, lost: list[LostClaim]) -> None:
    """Tell the holder who removed each lost claim and whether a signature proves it was a person."""
    if not lost or tip is None or not host.authority.configured:
        return
    for item in lost:
        found = host.authority.removal(tip, f".coord/claims/{item['id']}.toml")
        if found:
            item.update(
                {
                    "removed_by": found["removed_by"],
                    "action": found["action"],
                    "signed_by": found["signed_by"],
                    "verified": found["verified"],
                }
            )


def with_wait(host: Host, attempt: Callable[[], T], wait: float, stop: threading.Event | None = None) -> T:
    """Retry a refused operation until it is granted or `wait` seconds have passed.

    Between attempts: with a remote, a backoff with jitter (each attempt
    fetches, and many waiters must not fetch in lockstep); in local mode,
    a watch on the coord ref, so a release is acted on within ~50 ms, and
    a slower timed retry for what no write announces (a lease running out).
    `stop`, once set, ends the wait before the next attempt: a caller that
    gave up (an MCP request the client cancelled) must not be granted later.
    """
    wait = check_wait(wait)
    stop = stop if stop is not None else threading.Event()  # sleeps are waits on it
    deadline = time.monotonic() + wait
    watch = host.store.ref_watch()
    delay, cap = 0.2, (2.0 if watch is None else 5.0)
    while True:
        if stop.is_set():
            raise Refused("stopped waiting: the caller gave up.")
        before = watch.stamp() if watch else None
        try:
            return attempt()
        except Refused:
            left = deadline - time.monotonic()
            if left <= 0:
                raise
            pause = min(left, delay * (0.5 + secrets.randbelow(1000) / 1000))
            if watch is None or before is None:
                stop.wait(pause)
            elif watch.wait(before, pause, stop=stop):
                # Woken with the other waiters: spread the retries a little.
                stop.wait(min(max(0.0, deadline - time.monotonic()), secrets.randbelow(50) / 1000))
            delay = min(delay * 1.6, cap)


# -- this room's own steps -------------------------------------------------------------------------


def _lease_for(host: Host, minutes: float | None) -> timedelta:
    if minutes is None:
        return host.lease
    if not 0 < minutes <= 7 * 24 * 60:
        raise InvalidInput(f"--minutes must be more than 0 and at most a week, not {minutes}.")
    return timedelta(minutes=minutes)


def _grant_check(
    host: Host, txn: Txn, agent: str, wanted: list[Resource], mode: str
) -> tuple[dict[str, Claim], list[Claim]]:
    """Validate a claim on the transaction's state: my claims by resource, dead ones to remove."""
    mine: dict[str, Claim] = {}
    conflicts: list[leases.Conflict] = []
    takeovers: list[Claim] = []
    for held in txn.snap.records(Claim):
        if held.agent == agent:
            if held.resource in {w.text for w in wanted}:
                mine[held.resource] = held
            continue
        hits = [w for w in wanted if leases.blocks(held, w, mode, ignorecase=host.ignorecase)]
        if not hits:
            continue
        if leases.is_dead(held, txn.now, host.grace):
            takeovers.append(held)
        else:
            conflicts += [leases.Conflict(w.text, held) for w in hits]
    if conflicts:
        lines = "\n".join("  " + c.describe(txn.now) for c in conflicts)
        raise Refused(
            f"claim refused, nothing was claimed:\n{lines}",
            hint=leases.refusal_hint(conflicts, [w.text for w in wanted]),
        )
    return mine, takeovers


def _session(txn: Txn, agent: str) -> str:
    record = txn.snap.record(Agent, agent)
    return record.session_id if record else ""


def _lost_hint(host: Host, txn: Txn, lost: list[str]) -> str:
    holders = [
        f"{name} is now {h.agent}'s ({h.id}, token {h.token})"
        for name in lost
        if (h := _holder_now(host, txn, name, besides=host.agent)) is not None
    ]
    taken = "; ".join(holders) if holders else "nobody holds it now"
    return f"{taken}. Stop editing it; claim it again before you go on."


def _holder_now(host: Host, txn: Txn, resource: str, *, besides: str | None) -> Claim | None:
    """Another agent's claim, not dead, that stands in the way of `resource`."""
    wanted = parse_resource(resource)
    return next(
        (
            c
            for c in txn.snap.records(Claim)
            if c.agent != besides
            and not leases.is_dead(c, txn.now, host.grace)
            and leases.blocks(c, wanted, "exclusive", ignorecase=host.ignorecase)
        ),
        None,
    )


def _ask_holders(host: Host, named: Sequence[str]) -> str:
    """The hint for an agent who wanted others' claims gone: whom to ask, by name, and how to wait."""
    from contextlib import suppress
    from shlex import quote  # only on this refusal

    wanted = set(named)
    for name in named:
        with suppress(InvalidInput):  # not a resource: only a claim id can match it
            wanted.add(parse_resource(name).text)
    held = [c for c in host.snapshot().records(Claim) if c.resource in wanted or c.id in wanted]
    asks = [
        f'gitcoord request-help --to {c.agent} --resource {quote(c.resource)} "please release it"'
        for c in held
    ]
    first = quote(held[0].resource) if held else "RESOURCE"
    ask = f"ask the holder instead: {'; '.join(asks)}" if asks else "nobody holds it now: claim it"
    return f"{ask}; or wait for it: gitcoord claim {first} --wait 600."


def _check_forced_release(host: Host, resources: Sequence[str], *, all: bool, reason: str) -> None:
    """A forced release takes claims from other agents: a human act, named and explained."""
    if host.agent is not None:
        raise Refused(
            f"a forced release is a human act, and you are the agent {host.agent}.",
            hint=_ask_holders(host, resources),
        )
    if all:
        raise InvalidInput("--force takes the claims it releases by name, not --all.")
    if not resources:
        raise InvalidInput("name the claims (resources or ids) to release by force.")
    if not reason.strip():
        raise InvalidInput("--force needs --reason: a forced release is recorded with why.")
