"""Checks on what users type: free text and record ids (exit 2 when wrong)."""

from __future__ import annotations

from gitcoord.constants import RECORD_ID
from gitcoord.errors import InvalidInput


def quoted(value: str, limit: int = 60) -> str:
    """A user's input as an error message shows it: escaped, and cut when it is long."""
    if len(value) <= limit:
        return repr(value)
    return f"{value[:limit]!r}... ({len(value)} characters)"


def check_text(value: str, what: str, limit: int) -> str:
    """Free text an agent writes: bounded, and no control characters but newline and tab."""
    if len(value) > limit:
        raise InvalidInput(f"the {what} is {len(value)} characters long; the limit is {limit}.")
    bad = next((c for c in value if (ord(c) < 32 and c not in "\n\t") or ord(c) == 127), None)
    if bad is not None:
        raise InvalidInput(f"the {what} contains the control character {bad!r}.")
    return value


def require_id(value: str, kind: str) -> str:
    """Validate a record id of `kind` typed by a user (exit 2 when malformed)."""
    match = RECORD_ID.fullmatch(value)
    if not match or match.group(1) != kind:
        raise InvalidInput(f"{quoted(value)} is not a valid {kind}- id.", hint=f"ids look like {kind}-42.")
    return value
