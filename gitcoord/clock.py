"""Time, in one place: what "now" is, and the one timestamp format on disk."""

from __future__ import annotations

import math
import os
from datetime import UTC, datetime, timedelta

from gitcoord.constants import CLOCK_SKEW_ENV


def wall_clock() -> datetime:
    """Now, in UTC, to the second. GITCOORD_CLOCK_SKEW_SECONDS shifts it, to test skewed machines."""
    now = datetime.now(UTC).replace(microsecond=0)
    skew = os.environ.get(CLOCK_SKEW_ENV)
    return now + timedelta(seconds=_skew_seconds(skew)) if skew else now


# The clock aid shifts "now" for tests of skewed machines: within a century either way, so every
# lease computed from it is still a date.
MAX_SKEW_SECONDS = 100 * 365 * 24 * 3600


def _skew_seconds(text: str) -> float:
    try:
        seconds = float(text)
    except ValueError:
        seconds = math.nan
    if not (math.isfinite(seconds) and abs(seconds) <= MAX_SKEW_SECONDS):
        from gitcoord.errors import InvalidInput
        from gitcoord.validate import quoted

        raise InvalidInput(
            f"{CLOCK_SKEW_ENV} must be a number of seconds within a century, not {quoted(text)}.",
            hint=f"unset {CLOCK_SKEW_ENV} (it is a test aid), or give seconds such as 90 or -3600.",
        )
    return seconds


def utc_text(value: datetime) -> str:
    """UTC ISO 8601 with a `Z`, to the second."""
    return value.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def parse_utc(value: object) -> datetime:
    """A timestamp as records hold it (`...Z` text, or a TOML datetime), in UTC."""
    if isinstance(value, datetime):
        return value if value.tzinfo else value.replace(tzinfo=UTC)
    return datetime.fromisoformat(str(value).replace("Z", "+00:00"))
