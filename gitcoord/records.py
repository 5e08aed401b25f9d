"""Pydantic models for every record kept on the coord branch (DESIGN §2).

Records are written strictly (a model is validated before it becomes TOML)
and read tolerantly (unknown keys are ignored; a file that does not parse is
skipped with a warning by the store's reader, never a crash). A value no
command could have written (a claim on a 1,200-byte resource, a task needing
`../../etc/passwd`) fails validation here, so such a record is skipped like a
malformed one instead of making every command that reads it exit 2.
"""

from __future__ import annotations

import tomllib
from collections.abc import Sequence
from datetime import date, datetime
from functools import lru_cache
from typing import Annotated, Any, ClassVar, TypeVar

import tomli_w
from pydantic import BaseModel, ConfigDict, Field, PlainSerializer, field_validator

from gitcoord.clock import utc_text as utc_text
from gitcoord.constants import AGENT_NAME as AGENT_NAME
from gitcoord.constants import PRIORITY_ORDER as PRIORITY_ORDER
from gitcoord.constants import RECORD_ID as RECORD_ID
from gitcoord.constants import SEVERITY_ORDER as SEVERITY_ORDER
from gitcoord.constants import ClaimMode, DecisionStatus, ErrorStatus, HelpStatus, TaskStatus
from gitcoord.constants import ErrorType as ErrorType
from gitcoord.constants import Impact as Impact
from gitcoord.constants import Priority as Priority
from gitcoord.constants import Severity as Severity
from gitcoord.errors import InvalidInput
from gitcoord.resources import parse_resource

MAX_MESSAGE = 4000
MAX_TRACE = 64 * 1024


Timestamp = Annotated[datetime, PlainSerializer(utc_text, return_type=str)]


class Record(BaseModel):
    """Common base: revisions of creation and last change, tolerant of extra keys."""

    # defer_build: a model's validator is built on first use, so `gitcoord claim`
    # pays only for the few kinds it touches.
    model_config = ConfigDict(extra="ignore", validate_assignment=True, defer_build=True)
    directory: ClassVar[str] = ""

    created_rev: int = 0
    updated_rev: int = 0

    def to_toml(self) -> bytes:
        data = self.model_dump(mode="json", exclude_none=True)
        return tomli_w.dumps(data).encode()

    @property
    def key(self) -> str:
        """The file name stem of this record under its directory."""
        raise NotImplementedError


class IdRecord(Record):
    kind: ClassVar[str] = ""  # the id's letter: C, T, H, M, E, D
    id: str

    @field_validator("id")
    @classmethod
    def _id_names_this_kind(cls, value: str) -> str:
        # The id becomes a file name: a record pushed by hand with `id = "../x"` must not
        # make a later write touch a path outside its directory.
        match = RECORD_ID.fullmatch(value)
        if match is None or (cls.kind and match.group(1) != cls.kind):
            raise ValueError(f"{value[:60]!r} is not a {cls.kind or 'record'} id")
        return value

    @property
    def key(self) -> str:
        return self.id


class Meta(BaseModel):
    model_config = ConfigDict(extra="ignore", defer_build=True)
    format: int = 1
    rev: int = 0

    def to_toml(self) -> bytes:
        return tomli_w.dumps(self.model_dump(mode="json")).encode()


class Agent(Record):
    directory: ClassVar[str] = "agents"

    name: str
    role: str = ""
    session_id: str = ""
    started_at: Timestamp | None = None
    previous_session_at: Timestamp | None = None
    last_check_in: Timestamp | None = None
    next_check_in: Timestamp | None = None
    progress: int | None = None
    message: str = ""
    resource: str = ""
    # The claims (id -> resource) the agent held after its own last write: a claim that
    # left this list by someone else's hand (a takeover, a forced release) was lost.
    held: dict[str, str] = Field(default_factory=dict)
    lost: dict[str, str] = Field(default_factory=dict)  # lost since the last check-in, which reports them
    # Where the agent works, as of its last write: what `gitcoord conflicts` compares.
    branch: str = ""
    head: str = ""
    # Writes of this record so far: of its copy on the shared ref and on the agent's own ref, the
    # one with the larger count is the later (`gitcoord.agent_refs`, store format 2).
    seq: int = 0

    @field_validator("name")
    @classmethod
    def _name_is_an_agent_name(cls, value: str) -> str:
        return _agent_name(value)

    @property
    def key(self) -> str:
        return self.name


class Claim(IdRecord):
    kind: ClassVar[str] = "C"
    directory: ClassVar[str] = "claims"

    agent: str
    session_id: str = ""
    resource: str
    mode: ClaimMode = "exclusive"
    token: int
    message: str = ""
    progress: int | None = None
    created_at: Timestamp
    last_check_in: Timestamp
    expires_at: Timestamp
    # Released by `release --merged` once every commit carrying its token reached the default branch.
    until_merged: bool = False
    auto: bool = False  # claimed by hooks.mode = "auto" (the guard or pre-commit), not by `claim`

    @field_validator("resource")
    @classmethod
    def _resource_is_a_resource(cls, value: str) -> str:
        return _resource(value)


class Task(IdRecord):
    kind: ClassVar[str] = "T"
    directory: ClassVar[str] = "tasks"

    title: str
    description: str = ""
    resources: list[str] = Field(default_factory=list)
    assignee: str = ""
    priority: Priority = "normal"
    depends_on: list[str] = Field(default_factory=list)
    status: TaskStatus = "todo"
    created_by: str
    created_at: Timestamp
    started_at: Timestamp | None = None
    done_at: Timestamp | None = None
    claim_ids: list[str] = Field(default_factory=list)
    note: str = ""
    block_reason: str = ""

    @field_validator("resources")
    @classmethod
    def _resources_are_resources(cls, value: list[str]) -> list[str]:
        return [_resource(item) for item in value]


class HelpRequest(IdRecord):
    kind: ClassVar[str] = "H"
    directory: ClassVar[str] = "help"

    from_agent: str
    to: str
    priority: Priority = "normal"
    resource: str = ""
    message: str
    status: HelpStatus = "open"
    created_at: Timestamp
    acked_by: str = ""
    acked_at: Timestamp | None = None
    resolved_by: str = ""
    resolved_at: Timestamp | None = None
    resolution_note: str = ""

    @field_validator("resource")
    @classmethod
    def _resource_is_empty_or_a_resource(cls, value: str) -> str:
        return _resource(value) if value else value


class Message(IdRecord):
    kind: ClassVar[str] = "M"
    directory: ClassVar[str] = "messages"

    from_agent: str
    to: str
    body: str
    reply_to: str = ""
    created_at: Timestamp
    read_by: list[str] = Field(default_factory=list)


class ErrorRecord(IdRecord):
    kind: ClassVar[str] = "E"
    directory: ClassVar[str] = "errors"

    agent: str
    type: ErrorType
    severity: Severity
    resource: str = ""
    message: str
    trace: str = ""
    status: ErrorStatus = "open"
    created_at: Timestamp
    resolved_by: str = ""
    resolved_at: Timestamp | None = None
    resolution_note: str = ""


class Decision(IdRecord):
    kind: ClassVar[str] = "D"
    directory: ClassVar[str] = "decisions"

    agent: str
    category: str
    impact: Impact
    title: str
    rationale: str
    alternatives: list[str] = Field(default_factory=list)
    status: DecisionStatus = "proposed"
    created_at: Timestamp
    reviewed_by: str = ""
    reviewed_at: Timestamp | None = None
    review_note: str = ""
    implemented_at: Timestamp | None = None


class Summary(Record):
    directory: ClassVar[str] = "summaries"

    agent: str
    day: date
    day_number: int | None = None
    completed: str
    next: str
    blockers: str = ""
    messages: str = ""
    metrics: dict[str, str] = Field(default_factory=dict)
    created_at: Timestamp

    @field_validator("agent")
    @classmethod
    def _agent_is_an_agent_name(cls, value: str) -> str:
        return _agent_name(value)

    @field_validator("metrics", mode="before")
    @classmethod
    def _metrics_as_text(cls, value: Any) -> Any:
        if isinstance(value, dict):
            return {str(k): str(v) for k, v in value.items()}
        return value

    @property
    def key(self) -> str:
        return f"{self.agent}/{self.day.isoformat()}"


def _resource(value: str) -> str:
    """A resource as the claim rules read it (DESIGN §4), kept as written; ValueError if impossible."""
    problem = _resource_problem(value)
    if problem:
        raise ValueError(problem)
    return value


@lru_cache(maxsize=4096)
def _resource_problem(value: str) -> str:
    # Cached: every read of the claims validates every claim, and the same few resources recur.
    try:
        parse_resource(value)
    except InvalidInput as exc:
        return exc.message
    return ""


def _agent_name(value: str) -> str:
    if not AGENT_NAME.fullmatch(value):
        raise ValueError(f"{value[:60]!r} is not an agent name")
    return value


KINDS: dict[str, type[Record]] = {
    "C": Claim,
    "T": Task,
    "H": HelpRequest,
    "M": Message,
    "E": ErrorRecord,
    "D": Decision,
}

R = TypeVar("R", bound=Record)


def parse_record(model: type[R], data: bytes) -> R:
    """Parse TOML bytes into `model`; raises ValueError (tomllib or pydantic) when malformed."""
    return model.model_validate(tomllib.loads(data.decode()))


def override_message(
    actor: str, paths: Sequence[str], holders: Sequence[str], reason: str, limit: int = MAX_MESSAGE
) -> str:
    """An override record's message for a human: as many paths as fit in `limit` characters."""
    head = f"{actor} overrode the pre-commit hook for "
    tail = f"; claims: {', '.join(holders) or 'none (strict mode: unclaimed paths)'}; reason: {reason}"
    named = ", ".join(paths)
    if len(head) + len(named) + len(tail) > limit:
        budget = limit - len(head) - len(tail) - len(f" and {len(paths)} more (all in the record's trace)")
        kept: list[str] = []
        for path in paths:
            budget -= len(path) + 2
            if budget < 0:
                break
            kept.append(path)
        named = f"{', '.join(kept)} and {len(paths) - len(kept)} more (all in the record's trace)"
    return (head + named + tail)[:limit]
