"""The one time format people read: local time with its zone on a terminal, UTC ISO 8601 otherwise.

`--json` and piped output carry `2026-11-26T15:22:00Z` (what scripts parse and what the records
store); a terminal shows the reader's own clock, `2026-11-26 16:22 CET`, with the year and the zone
so that no line is ambiguous. Light on purpose: `claim` and the hooks import `output`.
"""

from __future__ import annotations

import sys
from datetime import datetime
from typing import Any

from gitcoord.clock import parse_utc, utc_text


def when(value: Any, *, terminal: bool | None = None) -> str:
    """`value` (a datetime or a record's `...Z` text) in the one format; "" for no time."""
    if value is None or value == "":
        return ""
    try:
        moment = parse_utc(value)
    except ValueError:
        return str(value)  # not a time: shown as it is (it is cleaned as any cell is)
    if terminal if terminal is not None else sys.stdout.isatty():
        return local_text(moment)
    return utc_text(moment)


def local_text(moment: datetime) -> str:
    """`moment` on this machine's clock, with the year and the zone's name."""
    return moment.astimezone().strftime("%Y-%m-%d %H:%M %Z")
