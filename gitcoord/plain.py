"""Records as plain tables: the views both read paths compute, and "plainly well-formed".

The full path validates records into pydantic models (`gitcoord.records`); the lean reads
(`gitcoord.lean_reads`) take the store's parsed TOML tables as they are. Both compute their
views here, from the dict `model_dump(mode="json")` gives (the lean path builds the same dict with
`dumped`), so the two cannot drift. `well_formed` is deliberately narrow: a table it does not
plainly recognise (a missing or unknown key, a value of another type, a naive time, a bad id or
resource) sends the whole call to the full path, whose validation says what is wrong. Stdlib only.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from datetime import datetime, timedelta
from typing import Any, get_args

from gitcoord.clock import parse_utc, utc_text
from gitcoord.constants import (
    AGENT_NAME,
    RECORD_ID,
    ClaimMode,
    DecisionStatus,
    ErrorStatus,
    ErrorType,
    HelpStatus,
    Impact,
    Priority,
    Severity,
    TaskStatus,
)

REQUIRED: Any = object()  # a field without a default
EVERYONE = "any"  # a message to every agent but its sender

# Each model's fields in declaration order (what model_dump gives): (kind of value, default).
# tests/test_lean_reads.py holds these to `records.Claim` and `records.Message`.
CLAIM: dict[str, tuple[Any, Any]] = {
    "created_rev": ("int", 0),
    "updated_rev": ("int", 0),
    "id": ("id", REQUIRED),
    "agent": ("str", REQUIRED),
    "session_id": ("str", ""),
    "resource": ("resource", REQUIRED),
    "mode": (get_args(ClaimMode), "exclusive"),
    "token": ("int", REQUIRED),
    "message": ("str", ""),
    "progress": ("int?", None),
    "created_at": ("time", REQUIRED),
    "last_check_in": ("time", REQUIRED),
    "expires_at": ("time", REQUIRED),
    "until_merged": ("bool", False),
    "auto": ("bool", False),
}
MESSAGE: dict[str, tuple[Any, Any]] = {
    "created_rev": ("int", 0),
    "updated_rev": ("int", 0),
    "id": ("id", REQUIRED),
    "from_agent": ("str", REQUIRED),
    "to": ("str", REQUIRED),
    "body": ("str", REQUIRED),
    "reply_to": ("str", ""),
    "created_at": ("time", REQUIRED),
    "read_by": ("strs", []),
}
REVS: dict[str, tuple[str, Any]] = {"created_rev": ("int", 0), "updated_rev": ("int", 0)}
# The records `status` reads besides claims (a tuple of strings: one of these values).
AGENT: dict[str, tuple[Any, Any]] = {
    **REVS,
    "name": ("name", REQUIRED),
    "role": ("str", ""),
    "session_id": ("str", ""),
    "started_at": ("time?", None),
    "previous_session_at": ("time?", None),
    "last_check_in": ("time?", None),
    "next_check_in": ("time?", None),
    "progress": ("int?", None),
    "message": ("str", ""),
    "resource": ("str", ""),
    "held": ("strmap", {}),
    "lost": ("strmap", {}),
    "branch": ("str", ""),
    "head": ("str", ""),
    "seq": ("int", 0),
}
TASK: dict[str, tuple[Any, Any]] = {
    **REVS,
    "id": ("id", REQUIRED),
    "title": ("str", REQUIRED),
    "description": ("str", ""),
    "resources": ("resources", []),
    "assignee": ("str", ""),
    "priority": (get_args(Priority), "normal"),
    "depends_on": ("strs", []),
    "status": (get_args(TaskStatus), "todo"),
    "created_by": ("str", REQUIRED),
    "created_at": ("time", REQUIRED),
    "started_at": ("time?", None),
    "done_at": ("time?", None),
    "claim_ids": ("strs", []),
    "note": ("str", ""),
    "block_reason": ("str", ""),
}
HELP: dict[str, tuple[Any, Any]] = {
    **REVS,
    "id": ("id", REQUIRED),
    "from_agent": ("str", REQUIRED),
    "to": ("str", REQUIRED),
    "priority": (get_args(Priority), "normal"),
    "resource": ("resource?", ""),
    "message": ("str", REQUIRED),
    "status": (get_args(HelpStatus), "open"),
    "created_at": ("time", REQUIRED),
    "acked_by": ("str", ""),
    "acked_at": ("time?", None),
    "resolved_by": ("str", ""),
    "resolved_at": ("time?", None),
    "resolution_note": ("str", ""),
}
ERROR: dict[str, tuple[Any, Any]] = {
    **REVS,
    "id": ("id", REQUIRED),
    "agent": ("str", REQUIRED),
    "type": (get_args(ErrorType), REQUIRED),
    "severity": (get_args(Severity), REQUIRED),
    "resource": ("str", ""),
    "message": ("str", REQUIRED),
    "trace": ("str", ""),
    "status": (get_args(ErrorStatus), "open"),
    "created_at": ("time", REQUIRED),
    "resolved_by": ("str", ""),
    "resolved_at": ("time?", None),
    "resolution_note": ("str", ""),
}
DECISION: dict[str, tuple[Any, Any]] = {
    **REVS,
    "id": ("id", REQUIRED),
    "agent": ("str", REQUIRED),
    "category": ("str", REQUIRED),
    "impact": (get_args(Impact), REQUIRED),
    "title": ("str", REQUIRED),
    "rationale": ("str", REQUIRED),
    "alternatives": ("strs", []),
    "status": (get_args(DecisionStatus), "proposed"),
    "created_at": ("time", REQUIRED),
    "reviewed_by": ("str", ""),
    "reviewed_at": ("time?", None),
    "review_note": ("str", ""),
    "implemented_at": ("time?", None),
}
UTC_TEXT = re.compile(r"[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}:[0-9]{2}Z", re.ASCII)


def well_formed(
    table: Mapping[str, Any], schema: Mapping[str, tuple[Any, Any]], kind: str, name: str
) -> bool:
    """Whether a parsed record is plainly what gitcoord writes, under its own file `name`
    (`kind` "": an agent, keyed by its name)."""
    if not isinstance(table, dict) or not set(table) <= set(schema):
        return False
    for field, (shape, default) in schema.items():
        if field not in table:
            if default is REQUIRED:
                return False
        elif not _plain(shape, table[field]):
            return False
    if not kind:
        return name == f"{table['name']}.toml"
    match = RECORD_ID.fullmatch(table["id"])
    return match is not None and match.group(1) == kind and name == f"{table['id']}.toml"


def _plain(shape: Any, value: Any) -> bool:
    if isinstance(shape, tuple):  # one of these strings
        return type(value) is str and value in shape
    if value is None and shape in ("int?", "time?"):
        return True
    if shape in ("int", "int?"):
        return type(value) is int or (shape == "int?" and value is None)
    if shape in ("str", "id"):
        return type(value) is str
    if shape == "bool":
        return type(value) is bool
    if shape == "name":
        return type(value) is str and AGENT_NAME.fullmatch(value) is not None
    if shape == "strmap":
        return type(value) is dict and all(type(k) is str and type(v) is str for k, v in value.items())
    if shape == "resources":
        return type(value) is list and all(type(v) is str and _resource_ok(v) for v in value)
    if shape == "resource?":
        return type(value) is str and (value == "" or _resource_ok(value))
    if shape in ("time", "time?"):  # as gitcoord writes it (`clock.utc_text`), or a TOML time with an offset
        return (type(value) is str and UTC_TEXT.fullmatch(value) is not None) or (
            type(value) is datetime and value.utcoffset() is not None
        )
    if shape == "strs":
        return type(value) is list and all(type(item) is str for item in value)
    if shape == "resource":
        return type(value) is str and _resource_ok(value)
    return False


def _resource_ok(value: str) -> bool:
    from gitcoord.errors import InvalidInput
    from gitcoord.resources import parse_resource

    try:
        parse_resource(value)
    except InvalidInput:
        return False
    return True


def dumped(table: Mapping[str, Any], schema: Mapping[str, tuple[Any, Any]]) -> dict[str, Any]:
    """A well-formed table as `model_dump(mode="json")` gives the record: every field, in order."""
    out: dict[str, Any] = {}
    for field, (shape, default) in schema.items():
        value = table.get(field, default)
        if shape in ("time", "time?") and value is not None:
            value = utc_text(parse_utc(value))
        elif isinstance(value, (list, dict)):
            value = type(value)(value)  # a copy: the parse cache's tables stay as read
        out[field] = value
    return out


# -- views, shared by both paths ------------------------------------------------------------------


def lease_state(expires_at: datetime, now: datetime, grace: timedelta) -> str:
    """'live', 'expired' (in its grace period, still honoured) or 'dead' (DESIGN §4)."""
    if now <= expires_at:
        return "live"
    if now <= expires_at + grace:
        return "expired"
    return "dead"


def claim_view(
    dump: dict[str, Any], expires_at: datetime, now: datetime, grace: timedelta, me: str | None
) -> dict[str, Any]:
    """A claim as `claims` shows it: its fields (as dumped), its state, whether it is mine."""
    return {
        **dump,
        "state": lease_state(expires_at, now, grace),
        "mine": dump["agent"] == me,
        "seconds_left": int((expires_at - now).total_seconds()),
    }


def claims_order(view: Mapping[str, Any]) -> tuple[str, str]:
    return (view["resource"], view["agent"])


def addressed_to(to: str, from_agent: str, me: str) -> bool:
    """A message to me, or to everyone from someone else."""
    return to == me or (to == EVERYONE and from_agent != me)


def inbox_row(m: Mapping[str, Any]) -> list[Any]:
    """One message as the inbox table shows it."""
    return [m["id"], m["from_agent"], m["to"], m["reply_to"], m["body"]]
