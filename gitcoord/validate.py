"""Checks on what users type: free text and record ids (exit 2 when wrong)."""

from __future__ import annotations

import math

from gitcoord.constants import RECORD_ID
from gitcoord.errors import InvalidInput

# The longest wait a `--wait` (CLI, MCP `wait`, the Python API) may ask for: a week, as a lease.
MAX_WAIT_SECONDS = 7 * 24 * 3600


def quoted(value: str, limit: int = 60) -> str:
    """A user's input as an error message shows it: escaped, and cut when it is long."""
    if len(value) <= limit:
        return repr(value)
    return f"{value[:limit]!r}... ({len(value)} characters)"


# Characters that reorder the text around them when shown (embeddings, overrides, isolates):
# in a message they can make a terminal or a dashboard show something other than what is
# stored ("Trojan Source"). Plain right-to-left text needs none of them.
BIDI_CONTROLS = frozenset("\u202a\u202b\u202c\u202d\u202e\u2066\u2067\u2068\u2069")


def _is_control(c: str) -> bool:
    """C0 (but newline and tab), DEL and C1: what terminals act on instead of showing."""
    code = ord(c)
    return (code < 32 and c not in "\n\t") or 127 <= code <= 159


def check_utf8(value: str, what: str) -> str:
    """Refuse text that cannot be stored as UTF-8.

    On Linux, bytes of argv that are not UTF-8 arrive as lone surrogates
    (surrogate escapes); TOML, git and JSON cannot carry them.
    """
    try:
        value.encode("utf-8")
    except UnicodeEncodeError as exc:
        bad = value[exc.start]
        byte = f" (byte 0x{ord(bad) - 0xDC00:02x})" if 0xDC80 <= ord(bad) <= 0xDCFF else ""
        raise InvalidInput(
            f"the {what} is not valid UTF-8{byte} at character {exc.start + 1}.",
            hint="pass it as UTF-8 text.",
        ) from None
    return value


def check_text(value: str, what: str, limit: int) -> str:
    """Free text an agent writes: bounded, valid UTF-8; no control characters but newline and tab, no bidi."""
    check_utf8(value, what)
    if len(value) > limit:
        raise InvalidInput(f"the {what} is {len(value)} characters long; the limit is {limit}.")
    bad = next((c for c in value if _is_control(c)), None)
    if bad is not None:
        raise InvalidInput(f"the {what} contains the control character {bad!r}.")
    bidi = next((c for c in value if c in BIDI_CONTROLS), None)
    if bidi is not None:
        raise InvalidInput(
            f"the {what} contains the bidirectional control {bidi!r}, which would make it "
            "display differently from what is stored."
        )
    return value


def check_wait(seconds: float) -> float:
    """A wait in seconds: 0 (do not wait) up to a week; `inf` and `nan` would wait forever."""
    if not (
        isinstance(seconds, (int, float)) and math.isfinite(seconds) and 0 <= seconds <= MAX_WAIT_SECONDS
    ):
        raise InvalidInput(
            f"--wait must be 0 or more seconds and at most a week ({MAX_WAIT_SECONDS}), not {seconds}."
        )
    return float(seconds)


def require_id(value: str, kind: str) -> str:
    """Validate a record id of `kind` typed by a user (exit 2 when malformed)."""
    match = RECORD_ID.fullmatch(value)
    if not match or match.group(1) != kind:
        raise InvalidInput(f"{quoted(value)} is not a valid {kind}- id.", hint=f"ids look like {kind}-42.")
    return value
