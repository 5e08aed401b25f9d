"""The shapes of what the operations return: `start`, `status`, `claims`, `check_in`, `log`, `init`.

TypedDicts, so the Python API, the CLI's `--json`, the MCP tools and the JSON Schemas
in docs/schema/ (scripts/gen_schema.py) all come from one definition. Timestamps are
`datetime` here; `--json` and MCP print them as UTC text (`2026-01-02T03:04:05Z`).
Plain typing only: the hooks' path must not pay for pydantic.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any, Literal, NotRequired

# typing_extensions' TypedDict (pydantic's own dependency): pydantic builds a schema from a
# `typing.TypedDict` only on Python 3.12 and later.
from typing_extensions import TypedDict

ClaimState = Literal["live", "expired", "dead"]


class ClaimView(TypedDict):
    """A claim as `claims` and `status` show it: the record, its state, whose it is, time left."""

    id: str
    created_rev: int
    updated_rev: int
    agent: str
    session_id: str
    resource: str
    mode: Literal["exclusive", "shared"]
    token: int
    message: str
    progress: int | None
    created_at: str
    last_check_in: str
    expires_at: str
    until_merged: bool
    auto: bool  # claimed by hooks.mode = "auto" (the guard or pre-commit)
    state: ClaimState
    mine: bool
    seconds_left: int


# A file of mine that would conflict with another agent's branch (or the default branch), and the
# next step. The functional form: `with` is a keyword.
ComingConflict = TypedDict("ComingConflict", {"path": str, "with": str, "branch": str, "next": str})


class ConflictRow(TypedDict):
    """Two branches whose work would conflict, as `status` shows them (`gitcoord conflicts`)."""

    between: str
    conflicts: str
    overlap: str
    next: str


class LostClaim(TypedDict):
    """A claim someone else removed since the holder's last write, and who holds its resource now."""

    id: str
    resource: str
    now_held_by: str
    # With allowed signers set: who removed it, and whether a signature proves it was a person.
    removed_by: NotRequired[str]
    action: NotRequired[str]
    signed_by: NotRequired[str | None]
    verified: NotRequired[bool]


class CheckInResult(TypedDict):
    agent: str
    renewed: list[str]
    kept: list[str]  # held, not renewed yet: more than half of the lease is left (renewed at half)
    lost: list[LostClaim]
    next_check_in: datetime
    conflicts: list[ComingConflict]


class InitResult(TypedDict):
    created: bool
    branch: str
    remote: str | None
    config_written: bool


MigrateResult = TypedDict("MigrateResult", {"branch": str, "from": int, "to": int, "migrated": bool})


class LogEntry(TypedDict):
    """One coord commit of the audit trail, with its Coord-* trailers (lower case, without `Coord-`)."""

    commit: str
    time: str
    author: str
    subject: str
    agent: NotRequired[str]
    action: NotRequired[str]
    rev: NotRequired[str]
    records: NotRequired[list[str]]
    force: NotRequired[str]
    takeover: NotRequired[str]
    released: NotRequired[str]
    override: NotRequired[str]
    # With allowed signers set, on a human act: the principal of a good signature, and what was found.
    signed_by: NotRequired[str | None]
    signature: NotRequired[str]


# A commit pushed by hand may carry other Coord-* trailers: `log` shows them, and pydantic
# (the MCP `log` tool's output check) keeps them rather than dropping what it does not know.
# setattr, not an attribute: a TypedDict takes no class attributes.
setattr(LogEntry, "__pydantic_config__", {"extra": "allow"})  # noqa: B010


class AgentView(TypedDict):
    """An agent record as `status` shows it, with whether it is active, idle, or stale."""

    created_rev: int
    updated_rev: int
    name: str
    role: str
    session_id: str
    started_at: str | None
    previous_session_at: str | None
    last_check_in: str | None
    next_check_in: str | None
    progress: int | None
    message: str
    resource: str
    held: dict[str, str]
    lost: dict[str, str]
    branch: str
    head: str
    seq: int  # writes of the record so far (DESIGN §2, each agent's own ref)
    status: Literal["active", "idle", "stale"]


class ReviewProof(TypedDict):
    """Whether a signed commit proves a decision's review (both None without allowed signers)."""

    review_verified: bool | None
    review_signer: str | None


class StatusReport(TypedDict):
    """Everything at a glance. The open items are the records as stored (see DESIGN §4)."""

    rev: int | None
    now: datetime
    agents: list[AgentView]
    claims: list[ClaimView]
    help_requests: list[dict[str, Any]]
    errors: list[dict[str, Any]]  # without `trace`; `has_trace` says whether there is one
    decisions: list[dict[str, Any]]  # with `review_verified` and `review_signer`
    tasks: list[dict[str, Any]]
    conflicts: list[ConflictRow]
    skipped: list[str]


# -- the startup context: compact views, empty values left out ------------------------------


class HelpView(TypedDict):
    id: str
    priority: str
    from_agent: str
    to: str
    status: str
    resource: NotRequired[str]
    message: NotRequired[str]


class MessageView(TypedDict):
    id: str
    from_agent: str
    to: str
    reply_to: NotRequired[str]
    body: NotRequired[str]


class TaskView(TypedDict):
    id: str
    priority: str
    status: str
    assignee: NotRequired[str]
    title: str
    resources: NotRequired[list[str]]
    waiting_on: NotRequired[list[str]]
    block_reason: NotRequired[str]


class DecisionView(TypedDict):
    id: str
    status: str
    impact: str
    title: str
    reviewed_by: NotRequired[str]
    review_note: NotRequired[str]
    review_verified: NotRequired[bool]
    review_signer: NotRequired[str]


class ErrorView(TypedDict):
    id: str
    severity: str
    type: str
    agent: str
    resource: NotRequired[str]
    message: NotRequired[str]


class ActiveClaimView(TypedDict):
    """A live claim in the startup context: mine first, then soonest to expire."""

    id: str
    agent: str
    resource: str
    mode: Literal["exclusive", "shared"]
    expires_at: datetime
    state: ClaimState
    seconds_left: int
    mine: bool
    auto: NotRequired[bool]  # present (true) for a claim hooks.mode = "auto" made


class HooksReport(TypedDict):
    """What `start` found of this clone's hooks, and what it installed or repaired (DESIGN §6)."""

    manager: str
    hooks_dir: str
    installed: list[str]
    files: list[str]
    problem: str


class StartContext(TypedDict):
    """What `start` returns: the agent's session and what needs it, most urgent first (DESIGN §5).

    Lists are capped and the whole fits a byte budget; `omitted` counts, per list, what
    was left out. `hooks` is None where there is nothing to guard.
    """

    agent: str
    session_id: str
    role: str
    next_check_in: datetime | None
    lost_claims: list[LostClaim]
    help_requests: list[HelpView]
    messages: list[MessageView]
    my_tasks: list[TaskView]
    decisions: list[DecisionView]
    errors: list[ErrorView]
    active_claims: list[ActiveClaimView]
    stale_agents: list[str]
    omitted: NotRequired[dict[str, int]]
    conflicts: list[ComingConflict]
    hooks: HooksReport | None
    # "auto" when hooks.mode = "auto": the agent's first edit of a file, and a commit, claim it.
    hooks_mode: NotRequired[Literal["auto"]]
