"""The Notion client as the sync uses it: rate limited, retried, counted.

`notion_client` is imported here only, and this module only by the notion
commands, so no other gitcoord command pays for it.

Retries are ours, not the client's: the client retries a POST or PATCH only on
429, and a 5xx answer to a create may mean the page was made anyway. So the
client runs with `retry=False`; `Api.call` waits out 429 (Retry-After) and
retries 5xx and timeouts with backoff for reads and idempotent writes, while
creates are made idempotent by the caller (look the Record ID up, then create).
"""

from __future__ import annotations

import random
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from gitcoord.errors import InvalidInput, Unavailable

NOTION_VERSION = "2025-09-03"
DEFAULT_BASE_URL = "https://api.notion.com"
RATE_PER_SECOND = 3.0
BURST = 3.0
MAX_ATTEMPTS = 8


@dataclass
class RateLimiter:
    """A token bucket: `rate` requests per second on average, short bursts of `burst`."""

    rate: float = RATE_PER_SECOND
    burst: float = BURST
    clock: Callable[[], float] = time.monotonic
    sleep: Callable[[float], None] = time.sleep
    _tokens: float = BURST
    _last: float = field(default_factory=time.monotonic)

    def acquire(self) -> None:
        now = self.clock()
        self._tokens = min(self.burst, self._tokens + (now - self._last) * self.rate)
        self._last = now
        if self._tokens < 1:
            wait = (1 - self._tokens) / self.rate
            self.sleep(wait)
            self._last = self.clock()
            self._tokens = 1.0
        self._tokens -= 1


class Transient(Exception):
    """A request that may or may not have been applied (5xx, timeout): the caller decides."""


@dataclass
class Api:
    """A Notion client with a client-side rate limit and our retry rules."""

    client: Any
    limiter: RateLimiter = field(default_factory=RateLimiter)
    requests: int = 0
    on_request: Callable[[], None] | None = None

    @classmethod
    def connect(cls, token: str, base_url: str, *, rate: float = RATE_PER_SECOND,
                timeout_seconds: float = 30) -> Api:
        if not token:
            raise InvalidInput("NOTION_TOKEN is not set.",
                               hint="create an internal integration in Notion, share the parent page with it, "
                                    "and export NOTION_TOKEN=<its secret>.")
        import logging

        from notion_client import Client

        quiet = logging.getLogger("gitcoord.notion.client")
        quiet.setLevel(logging.CRITICAL)
        client = Client(auth=token, base_url=base_url.rstrip("/"), notion_version=NOTION_VERSION,
                        retry=False, timeout_ms=int(timeout_seconds * 1000), logger=quiet)
        return cls(client, RateLimiter(rate=rate, burst=max(1.0, rate)))

    def call(self, func: Callable[..., Any], *args: Any, idempotent: bool = True, **kwargs: Any) -> Any:
        """Call a client endpoint; 429 always retried, 5xx/timeouts retried only if `idempotent`.

        Raises `Transient` for a non-idempotent call that failed in a way that may
        have been applied, `Unavailable` when retries are exhausted.
        """
        from notion_client.errors import APIResponseError, HTTPResponseError, RequestTimeoutError

        delay = 0.5
        for attempt in range(MAX_ATTEMPTS):
            self.limiter.acquire()
            self.requests += 1
            if self.on_request:
                self.on_request()
            try:
                return func(*args, **kwargs)
            except (HTTPResponseError, RequestTimeoutError) as exc:
                status = getattr(exc, "status", 0)
                if status == 429:
                    time.sleep(_retry_after(exc, delay))
                    continue
                if status and status < 500 and not isinstance(exc, RequestTimeoutError):
                    raise _refused(exc) from exc
                if not idempotent:
                    raise Transient(str(exc)) from exc
                if attempt == MAX_ATTEMPTS - 1:
                    break
                time.sleep(delay * random.uniform(0.5, 1.5))
                delay = min(delay * 2, 30)
            except APIResponseError as exc:  # pragma: no cover - subclass of HTTPResponseError
                raise _refused(exc) from exc
        raise Unavailable("Notion kept failing (5xx or timeouts) after several retries.",
                          hint="run `gitcoord notion sync` again later: it completes what this one started.")


def _retry_after(exc: Any, fallback: float) -> float:
    headers = getattr(exc, "headers", None) or {}
    value = headers.get("retry-after") if hasattr(headers, "get") else None
    try:
        return max(0.0, float(value)) if value is not None else fallback
    except ValueError:
        return fallback


def _refused(exc: Any) -> InvalidInput:
    code = getattr(exc, "code", "")
    return InvalidInput(f"Notion refused a request ({getattr(exc, 'status', '?')} {code}): {exc}",
                        hint="check NOTION_TOKEN, that the parent page is shared with the integration, "
                             "and rerun `gitcoord notion setup`.")
