"""How `notion sync` shows its progress: a bar on a terminal, plain lines in a log.

A first sync of a thousand records takes minutes at Notion's three requests a
second, so a person should see it move. rich is imported only when a bar is
drawn; CI logs get a line a stage and one every `LINE_EVERY` steps instead of
control characters; `--json` gets nothing, so its output stays one document.
"""

from __future__ import annotations

import sys
from contextlib import AbstractContextManager
from types import TracebackType
from typing import Any, TextIO

from gitcoord.notion.sync import Progress, Silent

LINE_EVERY = 100


class Lines:
    """Plain lines on `stream` (stderr): the stage, then every hundredth step."""

    def __init__(self, stream: TextIO) -> None:
        self.stream = stream
        self.label, self.total, self.done = "", 0, 0

    def stage(self, label: str, total: int) -> None:
        self.label, self.total, self.done = label, total, 0
        self._say(f"notion sync: {label} ({total})")

    def step(self) -> None:
        self.done += 1
        if self.done % LINE_EVERY == 0 and self.done < self.total:
            self._say(f"notion sync: {self.label} {self.done}/{self.total}")

    def _say(self, line: str) -> None:
        self.stream.write(line + "\n")
        self.stream.flush()


class Bar:
    """A rich progress bar on stderr, one row a stage; use it as a context manager."""

    def __init__(self) -> None:
        self._bar: Any = None
        self._task: Any = None

    def __enter__(self) -> Bar:
        from rich.console import Console
        from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

        self._bar = Progress(
            TextColumn("{task.description:<16}"),
            BarColumn(),
            MofNCompleteColumn(),
            TimeElapsedColumn(),
            console=Console(stderr=True),
        )
        self._bar.start()
        return self

    def __exit__(
        self, kind: type[BaseException] | None, exc: BaseException | None, trace: TracebackType | None
    ) -> None:
        self._bar.stop()  # an interrupted stage stays drawn where it stopped

    def stage(self, label: str, total: int) -> None:
        self._task = self._bar.add_task(label, total=total)

    def step(self) -> None:
        self._bar.advance(self._task)


class _Plain(AbstractContextManager["Progress"]):
    def __init__(self, progress: Progress) -> None:
        self.progress = progress

    def __enter__(self) -> Progress:
        return self.progress

    def __exit__(self, *exc: object) -> None:
        return None


def for_output(as_json: bool) -> AbstractContextManager[Progress]:
    """The progress display for this run: none with --json, a bar on a terminal, lines otherwise."""
    if as_json:
        return _Plain(Silent())
    if sys.stderr.isatty():
        return Bar()
    return _Plain(Lines(sys.stderr))
