"""What a CLI call says on stderr, the same from both paths (`gitcoord.cli`, `gitcoord.lean_reads`).

The library's warnings (a skipped malformed record, a coord branch that diverged...) become
`gitcoord: warning:` lines and an error its `gitcoord:` sentence and hint, cleaned of terminal
control (text from records is data). Stdlib only: the lean reads must not import click for it.
"""

from __future__ import annotations

import logging
import sys

from gitcoord.errors import GitcoordError
from gitcoord.output import clean


def say(line: str) -> None:
    """One line on stderr, written through at once (as `click.echo(err=True)` does)."""
    sys.stderr.write(clean(line) + "\n")
    sys.stderr.flush()


class StderrWarnings(logging.Handler):
    """Library warnings as `gitcoord: warning:` lines."""

    def emit(self, record: logging.LogRecord) -> None:
        say(f"gitcoord: warning: {record.getMessage()}")


def show_warnings() -> None:
    """Print the `gitcoord` logger's warnings on stderr (once, however often it is called)."""
    logger = logging.getLogger("gitcoord")
    if not any(isinstance(h, StderrWarnings) for h in logger.handlers):
        logger.addHandler(StderrWarnings(logging.WARNING))
        logger.propagate = False


def say_error(exc: GitcoordError) -> int:
    """An error as the CLI reports it; its exit code (DESIGN §5)."""
    say(f"gitcoord: {exc.render()}")
    return exc.exit_code
