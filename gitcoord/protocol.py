"""The coordination protocol on top of claims: help requests, messages, tasks,
errors, decisions, daily summaries, and the startup context (DESIGN §5).

`ProtocolOps` is mixed into `gitcoord.Coordinator`; its methods use the
Coordinator's `write` (one transaction, one commit) and `snapshot` (reads).
"""

from __future__ import annotations

from datetime import datetime
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from gitcoord.records import Agent
    from gitcoord.store import Snapshot


class ProtocolOps:
    """Protocol operations (filled in by the protocol issue)."""

    def _extend_context(self, ctx: dict[str, Any], snap: Snapshot, me: Agent, now: datetime) -> None:
        """Add messages, help requests, tasks, decisions, errors to a startup context."""

    def _extend_status(self, report: dict[str, Any], snap: Snapshot, now: datetime) -> None:
        """Add help requests, errors, decisions and tasks to a status report."""
