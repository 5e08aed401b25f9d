"""What every room of operations shares: the `Host` they run on, and their common steps.

The operations are split by area (`claiming`, `help`, `messages`, `tasks`, `journal`,
`context`); `Coordinator` inherits each area's class. An area's methods take
`self: Host`, the one declaration of what they use of the Coordinator, so mypy
checks at every call that a `Coordinator` provides it, and nothing is declared
twice. Area helpers are module functions taking the host, not more methods.
Imports go one way: the rooms import this module, never the reverse, and
`context` (which reads every kind of record) sits above the others.

Every state change is one transaction: validation runs on the state the
compare-and-swap lands on, so two agents acting at once never lose a write and
never both win a transition (two `task next` never take one task).
"""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Protocol, TypeVar

from gitcoord import plain
from gitcoord.constants import AGENT_NAME, PERSON_PREFIXES
from gitcoord.errors import InvalidInput, Refused
from gitcoord.plain import addressed_to
from gitcoord.records import MAX_MESSAGE, Agent, Claim, ErrorRecord, HelpRequest, IdRecord, Message
from gitcoord.validate import check_text, quoted, require_id

if TYPE_CHECKING:
    from gitcoord.config import Config
    from gitcoord.results import ComingConflict
    from gitcoord.signing import Authority, ReviewCheck
    from gitcoord.store import Snapshot, Store, Txn

T = TypeVar("T")
IR = TypeVar("IR", bound=IdRecord)
Resolvable = TypeVar("Resolvable", HelpRequest, ErrorRecord)

EVERYONE = plain.EVERYONE
MAX_TITLE = 300
MAX_NOTE = MAX_MESSAGE
MAX_LIST = 20
# An actor recorded in a commit trailer: an agent name, `human:EMAIL`, `notion:USER`.
_ACTOR = re.compile(r"[A-Za-z0-9][^\s,]{0,199}")


class Host(Protocol):
    """What the operation rooms use of `gitcoord.Coordinator`."""

    store: Store
    ignorecase: bool

    @property
    def config(self) -> Config: ...
    @property
    def agent(self) -> str | None: ...
    @property
    def lease(self) -> timedelta: ...
    @property
    def grace(self) -> timedelta: ...
    @property
    def authority(self) -> Authority: ...
    def require_agent(self) -> str: ...
    def human(self) -> str: ...
    def named_agent(self) -> str | None: ...
    def refuse_speaking_for(self, what: str) -> None: ...
    def record_position(self, record: Agent) -> None: ...
    def coming_conflicts(self, agent: str) -> list[ComingConflict]: ...
    def write(self, work: Callable[[Txn], T], *, actor: str | None = None, sign: bool = False) -> T: ...
    def snapshot(self, *, fetch: bool = False) -> Snapshot: ...
    def sign_human_act(self) -> bool: ...
    def review_checks(self, snap: Snapshot | None = None) -> dict[str, ReviewCheck] | None: ...


# -- one act ------------------------------------------------------------------------------


def actor_of(host: Host, actor: str | None = None) -> str:
    """Who acts: the given actor, else the agent, else the human at this machine."""
    return check_actor(actor) if actor is not None else (host.agent or host.human())


def act(host: Host, actor: str, work: Callable[[Txn], T], *, heartbeat: bool = True, sign: bool = False) -> T:
    """One transaction as `actor`; an agent's act also counts as a sign of life.

    `heartbeat=False` when `work` touches the agent record itself (a second
    touch, built from the snapshot, would undo the first).
    """

    def run(txn: Txn) -> T:
        value = work(txn)
        if heartbeat and txn.has_writes and is_agent(actor):
            touch_agent(host, txn, actor)
        return value

    return host.write(run, actor=actor, sign=sign)


# -- the agent's own write ------------------------------------------------------------------


def heartbeat(host: Host, record: Agent, now: datetime, claims: Sequence[Claim]) -> None:
    """A sign of life, and when the next one is due: half the default lease from now, or half
    the time left on the agent's shortest live claim (`claims`: its claims after this write) if
    that comes first. A check-in then renews that claim (at most half of a lease left)."""
    left = [c.expires_at - now for c in claims if c.expires_at > now]
    record.last_check_in = now
    record.next_check_in = now + min([host.lease, *left]) / 2


def claims_of(txn: Txn, agent: str) -> list[Claim]:
    """The agent's claims as they will be once this write lands."""
    return [c for c in txn.pending(Claim) if c.agent == agent]


def track_holdings(txn: Txn, record: Agent, mine: Sequence[Claim]) -> None:
    """Bring `held` up to this write (`mine`: `claims_of` the agent); what left it by someone
    else's hand goes to `lost`."""
    now_held = {c.id: c.resource for c in mine}
    released_here = txn.deleted(Claim)  # in the agent's own write, only by the agent itself
    for cid, res in record.held.items():
        if cid not in now_held and cid not in released_here:
            record.lost[cid] = res  # someone else removed it since: a takeover, a forced release
    record.held = now_held


def touch_agent(
    host: Host,
    txn: Txn,
    agent: str,
    *,
    resource: str | None = None,
    progress: int | None = None,
    message: str | None = None,
) -> Agent:
    """The agent's own write: a heartbeat, and the bookkeeping of the claims it holds."""
    record = txn.snap.record(Agent, agent) or Agent(name=agent)
    mine = claims_of(txn, agent)
    heartbeat(host, record, txn.now, mine)
    host.record_position(record)
    track_holdings(txn, record, mine)
    if resource is not None:
        record.resource = resource
    if progress is not None:
        record.progress = progress
    if message:
        record.message = message
    txn.put(record)
    return record


def get_record(txn: Txn, model: type[IR], record_id: str, what: str, listing: str) -> IR:
    """The record `record_id` as this transaction sees it (exit 2 when there is none)."""
    found = txn.snap.record(model, record_id)
    if found is None:
        raise InvalidInput(f"there is no {what} {record_id}.", hint=f"see `gitcoord {listing}`.")
    return found


def resolve_record(
    host: Host,
    model: type[Resolvable],
    record_id: str,
    note: str,
    actor: str | None,
    *,
    what: str,
    listing: str,
    action: str,
) -> Resolvable:
    """Mark a help request or an error resolved, once, by whoever acts, with a note."""
    require_id(record_id, model.kind)
    check_required(note, "note", MAX_NOTE)
    who = actor_of(host, actor)

    def work(txn: Txn) -> Resolvable:
        record = get_record(txn, model, record_id, what, listing)
        if record.status == "resolved":
            raise Refused(f"{record_id} was already resolved by {record.resolved_by}.")
        record.status, record.resolved_by, record.resolved_at = "resolved", who, txn.now
        record.resolution_note = note
        txn.put(record)
        txn.action, txn.what = action, record_id
        return record

    return act(host, who, work)


# -- input checks ---------------------------------------------------------------------------


def check_required(value: str, what: str, limit: int, *, required: bool = False) -> str:
    """`check_text`, and with `required` refused when blank."""
    if required and not value.strip():
        raise InvalidInput(f"the {what} is empty.")
    return check_text(value, what, limit)


def choice(value: str, options: Sequence[str], what: str) -> str:
    if value not in options:
        raise InvalidInput(
            f"{quoted(value)} is not a valid {what}.", hint=f"use one of: {', '.join(options)}."
        )
    return value


def check_actor(actor: str) -> str:
    if not _ACTOR.fullmatch(actor):
        raise InvalidInput(
            f"{quoted(actor)} is not a valid actor: an agent name, human:EMAIL or notion:USER."
        )
    return actor


def check_recipient(to: str) -> str:
    """`any`, an agent name, or a person (`human:EMAIL`, `notion:USER`)."""
    if (
        to == EVERYONE
        or AGENT_NAME.fullmatch(to)
        or (to.startswith(PERSON_PREFIXES) and _ACTOR.fullmatch(to))
    ):
        return to
    raise InvalidInput(
        f"{quoted(to)} is not a valid recipient.", hint="use an agent name, `any`, or human:EMAIL."
    )


def check_resource(resource: str) -> str:
    from gitcoord.resources import parse_resource

    return parse_resource(resource).text if resource else ""


# -- small shared readings ------------------------------------------------------------------


def one_line(text: str, limit: int) -> str:
    """Free text squeezed onto one line of at most `limit` characters."""
    flat = " ".join(text.split())
    return flat if len(flat) <= limit else flat[: limit - 3].rstrip() + "..."


def is_agent(actor: str) -> bool:
    return AGENT_NAME.fullmatch(actor) is not None


def for_me(message: Message, me: str) -> bool:
    """A message to me, or to everyone from someone else."""
    return addressed_to(message.to, message.from_agent, me)
