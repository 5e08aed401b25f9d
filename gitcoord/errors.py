"""The error hierarchy. Every failure a user can see is a `GitcoordError`.

Each subclass carries the process exit code of DESIGN §5, so the CLI maps
errors to exit codes in exactly one place.
"""

from __future__ import annotations


class GitcoordError(Exception):
    """Root of every error gitcoord raises on purpose (exit 1 unless refined)."""

    exit_code = 1

    def __init__(self, message: str, *, hint: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.hint = hint

    def render(self) -> str:
        """The message as shown to a person: a sentence, then an optional hint line."""
        if self.hint:
            return f"{self.message}\nhint: {self.hint}"
        return self.message


class InvalidInput(GitcoordError):
    """Bad input, bad usage, not a git repository, unknown id (exit 2)."""

    exit_code = 2


class Refused(GitcoordError):
    """Refused: a conflict, a lost claim, an invalid transition, not allowed (exit 3)."""

    exit_code = 3


class Unavailable(GitcoordError):
    """Coordination unavailable: remote unreachable, contention retries exhausted (exit 4)."""

    exit_code = 4
