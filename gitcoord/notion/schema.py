"""The Notion databases and how records map onto their properties.

Every database has `Name` (title), `Record ID` and `Rev`. Enums are selects,
times are dates, progress is a number, text is rich text split into 2,000
character items (at most 100, then cut with a marker). Notion counts those
characters as JavaScript does, in UTF-16 code units, so an emoji counts two.

Values are handled in a plain form (str, number, bool, None) so that what the
sync would write can be compared with what a page holds: equal means no write.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import date, datetime
from typing import Any

from gitcoord.constants import (
    CLAIM_MODES,
    DECISION_STATUSES,
    ERROR_STATUSES,
    ERROR_TYPES,
    HELP_STATUSES,
    IMPACTS,
    PRIORITIES,
    SEVERITIES,
    TASK_STATUSES,
)
from gitcoord.records import utc_text

TEXT_ITEM = 2000
TEXT_ITEMS = 100
CUT_MARKER = " … [cut: the full text is in the coord branch]"

Plain = str | int | float | bool | None


def _select(*options: str) -> dict[str, Any]:
    return {"select": {"options": [{"name": o} for o in options]}}


TEXT: dict[str, Any] = {"rich_text": {}}
NUMBER: dict[str, Any] = {"number": {"format": "number"}}
DATE: dict[str, Any] = {"date": {}}
CHECK: dict[str, Any] = {"checkbox": {}}
PRIORITY = _select(*reversed(PRIORITIES))
# live, expired (lease past, in its grace), dead (past the grace, still in the tree, anyone may take it over);
# then, once gone from the tree: released by its holder (or forced), or taken over by another agent's claim.
CLAIM_STATES = ("live", "expired", "dead", "released", "taken over")
SEVERITY = _select(*reversed(SEVERITIES))
# A pair of branches that would not merge cleanly, that both change a path (merging cleanly for now),
# or that did so at an earlier sync and no longer does.
CONFLICT_STATES = ("conflict", "overlap", "resolved")

COMMON: dict[str, dict[str, Any]] = {"Name": {"title": {}}, "Record ID": TEXT, "Rev": NUMBER}

DATABASES: dict[str, tuple[str, dict[str, dict[str, Any]]]] = {
    "agents": (
        "Agents",
        {
            "Status": _select("active", "idle", "stale"),
            "Role": TEXT,
            "Current resource": TEXT,
            "Progress": NUMBER,
            "Last check-in": DATE,
            "Next check-in": DATE,
            "Stale": CHECK,
            "Message": TEXT,
        },
    ),
    "claims": (
        "Claims",
        {
            "Agent": TEXT,
            "Resource": TEXT,
            "Mode": _select(*CLAIM_MODES),
            "State": _select(*CLAIM_STATES),
            "Token": NUMBER,
            "Progress": NUMBER,
            "Since": DATE,
            "Until": DATE,
            "Message": TEXT,
        },
    ),
    "errors": (
        "Errors",
        {
            "Agent": TEXT,
            "Type": _select(*ERROR_TYPES),
            "Severity": SEVERITY,
            "Status": _select(*ERROR_STATUSES),
            "Resource": TEXT,
            "Message": TEXT,
            "Created": DATE,
            "Resolved by": TEXT,
            "Resolution": TEXT,
        },
    ),
    "decisions": (
        "Decisions",
        {
            "Agent": TEXT,
            "Category": TEXT,
            "Impact": _select(*IMPACTS),
            "Status": _select(*DECISION_STATUSES),
            "Rationale": TEXT,
            "Alternatives": TEXT,
            "Created": DATE,
            "Reviewed by": TEXT,
            "Review note": TEXT,
            "Review proof": TEXT,
        },
    ),
    "help": (
        "Help requests",
        {
            "From": TEXT,
            "To": TEXT,
            "Priority": PRIORITY,
            "Status": _select(*HELP_STATUSES),
            "Resource": TEXT,
            "Message": TEXT,
            "Created": DATE,
            "Resolved by": TEXT,
            "Resolution": TEXT,
        },
    ),
    "tasks": (
        "Tasks",
        {
            "Assignee": TEXT,
            "Priority": PRIORITY,
            "Status": _select(*TASK_STATUSES),
            "Resources": TEXT,
            "Depends on": TEXT,
            "Created": DATE,
            "Done": DATE,
            "Note": TEXT,
        },
    ),
    "summaries": (
        "Daily summaries",
        {"Agent": TEXT, "Day": DATE, "Completed": TEXT, "Next": TEXT, "Blockers": TEXT, "Metrics": TEXT},
    ),
    "conflicts": (
        "Conflicts",
        {
            "State": _select(*CONFLICT_STATES),
            "Agent A": TEXT,
            "Branch A": TEXT,
            "Agent B": TEXT,
            "Branch B": TEXT,
            "Conflicting paths": TEXT,
            "Overlapping paths": TEXT,
            "Next step": TEXT,
        },
    ),
    "activity": ("Activity", {"When": DATE, "Agent": TEXT, "Action": TEXT, "Records": TEXT, "Subject": TEXT}),
}


ADDED_LATER = ("conflicts",)  # a sync skips these, with a note, until `setup` is run again


def properties_of(kind: str) -> dict[str, dict[str, Any]]:
    """The full property schema of a database (the common three first)."""
    return {**COMMON, **DATABASES[kind][1]}


def kind_of(kind: str, prop: str) -> str:
    config = properties_of(kind)[prop]
    return next(iter(config))


def chunk_text(text: str, size: int = TEXT_ITEM) -> list[str]:
    """`text` in pieces of at most `size` UTF-16 code units, never splitting a character."""
    if not text or max(text) < "\U00010000":  # all in the BMP: one unit a character
        return [text[i : i + size] for i in range(0, len(text), size)]
    pieces: list[str] = []
    start, units = 0, 0
    for n, char in enumerate(text):
        width = 2 if char >= "\U00010000" else 1
        if units + width > size:
            pieces.append(text[start:n])
            start, units = n, 0
        units += width
    pieces.append(text[start:])
    return pieces


def rich_items(pieces: list[str]) -> list[dict[str, Any]]:
    return [{"type": "text", "text": {"content": piece}} for piece in pieces]


def split_text(text: str) -> list[dict[str, Any]]:
    """Rich text items within Notion's limits; text beyond 100 items is cut with a marker."""
    pieces = chunk_text(text)
    if len(pieces) > TEXT_ITEMS:
        kept = "".join(pieces[:TEXT_ITEMS])
        # One spare unit per item: a piece may end a unit short when a 2-unit character would not fit.
        pieces = chunk_text(kept[: len(kept) - len(CUT_MARKER) - TEXT_ITEMS] + CUT_MARKER)
    return rich_items(pieces)


def to_notion(kind: str, values: dict[str, Plain]) -> dict[str, Any]:
    """Plain values as a request's `properties` object."""
    out: dict[str, Any] = {}
    for prop, value in values.items():
        ptype = kind_of(kind, prop)
        if ptype in {"title", "rich_text"}:
            out[prop] = {ptype: split_text(str(value or ""))}
        elif ptype == "select":
            out[prop] = {"select": {"name": value} if value else None}
        elif ptype == "date":
            out[prop] = {"date": {"start": value} if value else None}
        else:
            out[prop] = {ptype: value}
    return out


def from_notion(prop: Any) -> Plain:
    """A page's property value in plain form."""
    if not isinstance(prop, dict):
        return None
    ptype = prop.get("type", "")
    value = prop.get(ptype)
    if ptype in {"title", "rich_text"}:
        return "".join(item.get("plain_text", "") for item in value or [])
    if ptype == "select":
        return value.get("name") if value else None
    if ptype == "date":
        return _normal_date(value.get("start")) if value else None
    if isinstance(value, (str, int, float, bool)):
        return value
    return None


def _normal_date(text: Any) -> str | None:
    """Notion may answer `...T10:00:00.000+00:00` for our `...T10:00:00Z`: compare one form."""
    if not text:
        return None
    if len(str(text)) == 10:
        return str(text)
    return utc_text(datetime.fromisoformat(str(text).replace("Z", "+00:00")))


def same(kind: str, want: dict[str, Plain], page: dict[str, Any]) -> bool:
    """Does the page already hold every value we would write?"""
    props = page.get("properties", {})
    for name, value in want.items():
        have = from_notion(props.get(name))
        if kind_of(kind, name) == "date":
            value = _normal_date(value)
        if kind_of(kind, name) in {"title", "rich_text"}:
            value = "".join(i["text"]["content"] for i in split_text(str(value or "")))
        numbers = isinstance(have, (int, float)) and isinstance(value, (int, float))
        if numbers and float(have) == float(value):  # type: ignore[arg-type]
            continue
        if have != value:
            return False
    return True


def when(value: datetime | date | None) -> str | None:
    if value is None:
        return None
    return utc_text(value) if isinstance(value, datetime) else value.isoformat()


Mapper = Callable[[Any], dict[str, Plain]]


# -- reading a page's values -----------------------------------------------------------------


def plain_text(page: dict[str, Any] | None, prop: str) -> str:
    if not page:
        return ""
    value = page.get("properties", {}).get(prop) or {}
    items = value.get(value.get("type", ""), []) or []
    return "".join(i.get("plain_text", "") for i in items) if isinstance(items, list) else ""


def plain_number(page: dict[str, Any], prop: str) -> float | None:
    value = (page.get("properties", {}).get(prop) or {}).get("number")
    return value if isinstance(value, (int, float)) else None


def plain_select(page: dict[str, Any] | None, prop: str) -> str | None:
    if not page:
        return None
    value = (page.get("properties", {}).get(prop) or {}).get("select")
    return value.get("name") if value else None
