"""Time, in one place: what "now" is, and the one timestamp format on disk."""

from __future__ import annotations

import os
from datetime import UTC, datetime, timedelta

from gitcoord.constants import CLOCK_SKEW_ENV


def wall_clock() -> datetime:
    """Now, in UTC, to the second. GITCOORD_CLOCK_SKEW_SECONDS shifts it, to test skewed machines."""
    now = datetime.now(UTC).replace(microsecond=0)
    skew = os.environ.get(CLOCK_SKEW_ENV)
    return now + timedelta(seconds=float(skew)) if skew else now


def utc_text(value: datetime) -> str:
    """UTC ISO 8601 with a `Z`, to the second."""
    return value.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def parse_utc(value: object) -> datetime:
    """A timestamp as records hold it (`...Z` text, or a TOML datetime), in UTC."""
    if isinstance(value, datetime):
        return value if value.tzinfo else value.replace(tzinfo=UTC)
    return datetime.fromisoformat(str(value).replace("Z", "+00:00"))
