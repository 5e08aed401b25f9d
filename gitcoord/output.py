"""Rendering for people and machines.

`--json` prints a stable machine format; otherwise a terminal gets rich tables
and colour, and a pipe gets plain aligned text. rich is imported only when a
table is actually drawn on a terminal, so hot paths never pay for it.
"""

from __future__ import annotations

import json
import re
import sys
from collections.abc import Mapping, Sequence
from datetime import date, datetime
from typing import Any, NamedTuple

from gitcoord import output_time
from gitcoord.clock import utc_text


def _default(value: Any) -> Any:
    if isinstance(value, datetime):
        return utc_text(value)
    if isinstance(value, date):
        return value.isoformat()
    if hasattr(value, "model_dump"):
        return value.model_dump(mode="json")
    raise TypeError(f"cannot serialise {type(value).__name__}")


def to_json(data: Any) -> str:
    return json.dumps(data, default=_default, indent=2, ensure_ascii=False)


def print_json(data: Any) -> None:
    sys.stdout.write(to_json(data) + "\n")


# What a terminal acts on instead of showing, in text that came from records (hand-pushed records
# were never checked): whole escape sequences first (CSI, OSC up to BEL or ST, DCS/SOS/PM/APC up
# to ST, two-byte ESC sequences, their 8-bit C1 forms), then any lone C0 control but newline and
# tab, DEL, C1, and the bidirectional controls that make text display other than it is stored.
_SEQUENCE = re.compile(
    r"(?:\x1b\[|\x9b)[0-?]*[ -/]*[@-~]?"
    r"|(?:\x1b[\]PX^_]|[\x9d\x90\x98\x9e\x9f])[^\x07\x1b\x9c]*(?:\x07|\x1b\\|\x9c)?"
    r"|\x1b[ -/]*[0-~]?"
)
_CONTROL = re.compile("[\x00-\x08\x0b-\x1f\x7f-\x9f\u202a-\u202e\u2066-\u2069]")
_BREAKS = re.compile("[\n\t]")


def clean(text: str, *, one_line: bool = False) -> str:
    """`text` with every control sequence removed; `one_line` also turns newlines and tabs into spaces."""
    if text.isprintable() and not one_line:
        return text
    text = _CONTROL.sub("", _SEQUENCE.sub("", text))
    return _BREAKS.sub(" ", text) if one_line else text


def is_terminal() -> bool:
    """Draw for a person: stdout is a terminal, or a test or a screenshot set a Console to draw on."""
    return _CONSOLE is not None or sys.stdout.isatty()


def when(value: Any) -> str:
    """A time for people: local with its zone on a terminal, UTC ISO 8601 through a pipe."""
    return output_time.when(value, terminal=is_terminal())


def short_time(value: Any) -> str:
    """`2026-11-24T10:02:00Z` as `11-24 10:02`, for tables."""
    text = utc_text(value) if isinstance(value, datetime) else str(value or "")
    return text[5:16].replace("T", " ") if len(text) >= 16 else text


def claim_mode(claim: Mapping[str, Any]) -> str:
    """A claim's mode for people, marked when hooks.mode = "auto" made it: `exclusive, auto`."""
    return f"{claim['mode']}, auto" if claim.get("auto") else str(claim["mode"])


class Cell(NamedTuple):
    """A table cell with a style for the terminal (`red bold`); a pipe shows the text alone."""

    text: Any
    style: str = ""


# Words that colour their cell wherever they appear in a column of this title: the severe, the
# urgent, the stale and the dying stand out without each command choosing colours.
_WORD_STYLES: dict[str, dict[str, str]] = {
    "severity": {"critical": "bold white on red", "high": "bold red", "medium": "yellow"},
    "priority": {"urgent": "bold red", "high": "yellow"},
    "impact": {"high": "bold red", "medium": "yellow"},
    "status": {"stale": "bold red", "blocked": "red", "open": "yellow", "proposed": "yellow"},
    "state": {"expired": "bold red", "stale": "bold red"},
}


# Columns a terminal never breaks (ids, revisions): the others wrap around them, each kept at
# least as wide as the longest word of its title so that no column is squeezed to nothing.
_WHOLE = frozenset({"id", "rev"})
_TIMES = frozenset({"time", "until", "last check-in", "created", "expires"})  # a date stays on one line


def table(title: str, columns: Sequence[str], rows: Sequence[Sequence[Any]], *, empty: str = "") -> None:
    """A titled table: rich on a terminal, plain columns through a pipe; no rows: one dim line.

    Cells are text, never rich markup: a task titled `Handle [/api] prefix` is shown
    as written, and `[link=...]` in a message stays text. Control sequences are
    removed, and through a pipe newlines too, so a cell cannot forge a row. Nothing is
    cut: a long resource wraps inside its column on a terminal and stays whole in a pipe.
    """
    if not rows:
        say(empty or f"{title}: none", style="dim")
        return
    if is_terminal():
        _rich_table(title, columns, rows)
        return
    cells = [[clean(_cell(c), one_line=True) for c in row] for row in rows]
    print(f"{title}:")
    widths = [max(len(col), *(len(r[i]) for r in cells)) for i, col in enumerate(columns)]
    print("  " + "  ".join(col.ljust(w) for col, w in zip(columns, widths, strict=True)).rstrip())
    for row in cells:
        print("  " + "  ".join(c.ljust(w) for c, w in zip(row, widths, strict=True)).rstrip())


def _rich_table(title: str, columns: Sequence[str], rows: Sequence[Sequence[Any]]) -> None:
    from rich.table import Table
    from rich.text import Text

    t = Table(title=Text(title, style="bold"), title_justify="left", header_style="bold")
    for col in columns:
        narrowest = 10 if col in _TIMES else max((len(word) for word in col.split()), default=1)
        t.add_column(Text(col), overflow="fold", no_wrap=col in _WHOLE, min_width=narrowest)
    for row in rows:
        t.add_row(*(_rich_cell(col, c) for col, c in zip(columns, row, strict=True)))
    console().print(t)


def _rich_cell(column: str, value: Any) -> Any:
    from rich.text import Text

    text = clean(_cell(value))
    style = value.style if isinstance(value, Cell) else _WORD_STYLES.get(column, {}).get(text, "")
    return Text(text, style=style)


def console() -> Any:
    """The rich Console of this run (a recording one when a test or a screenshot set it)."""
    global _CONSOLE
    if _CONSOLE is None:
        from rich.console import Console

        _CONSOLE = Console(highlight=False)
    return _CONSOLE


_CONSOLE: Any = None


def use_console(value: Any) -> None:
    """Draw through `value` (a rich Console, e.g. `Console(record=True)`) until set back to None."""
    global _CONSOLE
    _CONSOLE = value


def _cell(value: Any) -> str:
    if isinstance(value, Cell):
        value = value.text
    return str(value) if value is not None else ""


def say(text: str, *, style: str = "") -> None:
    """A line (or lines) for a person, control sequences removed; coloured only on a terminal."""
    text = clean(text)
    if style and is_terminal():
        from rich.text import Text

        console().print(Text(text, style=style))
    else:
        print(text)
