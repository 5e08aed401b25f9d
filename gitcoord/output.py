"""Rendering for people and machines.

`--json` prints a stable machine format; otherwise a terminal gets rich tables
and colour, and a pipe gets plain aligned text. rich is imported only when a
table is actually drawn on a terminal, so hot paths never pay for it.
"""

from __future__ import annotations

import json
import sys
from collections.abc import Sequence
from datetime import date, datetime
from typing import Any

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


def is_terminal() -> bool:
    return sys.stdout.isatty()


def short_time(value: Any) -> str:
    """`2026-11-24T10:02:00Z` as `11-24 10:02`, for tables."""
    text = utc_text(value) if isinstance(value, datetime) else str(value or "")
    return text[5:16].replace("T", " ") if len(text) >= 16 else text


def table(title: str, columns: Sequence[str], rows: Sequence[Sequence[Any]]) -> None:
    """A titled table: rich on a terminal, plain columns through a pipe."""
    cells = [[str(c) if c is not None else "" for c in row] for row in rows]
    if is_terminal():
        from rich.console import Console
        from rich.table import Table

        t = Table(title=title, title_justify="left", header_style="bold")
        for col in columns:
            t.add_column(col)
        for row in cells:
            t.add_row(*row)
        Console().print(t)
        return
    print(f"{title}:")
    if not cells:
        print("  (none)")
        return
    widths = [max(len(col), *(len(r[i]) for r in cells)) for i, col in enumerate(columns)]
    print("  " + "  ".join(col.ljust(w) for col, w in zip(columns, widths, strict=True)).rstrip())
    for row in cells:
        print("  " + "  ".join(c.ljust(w) for c, w in zip(row, widths, strict=True)).rstrip())


def say(text: str, *, style: str = "") -> None:
    """One line for a person; coloured only on a terminal."""
    if style and is_terminal():
        from rich.console import Console

        Console(highlight=False).print(text, style=style, markup=False)
    else:
        print(text)
