"""The Notion client as the sync uses it: rate limited, retried, counted.

`notion_client` is imported here only, and this module only by the notion
commands, so no other gitcoord command pays for it.

Retries are ours, not the client's: the client retries a POST or PATCH only on
429, and a 5xx answer to a create may mean the page was made anyway. So the
client runs with `retry=False`, and `Api.call` sorts each failure:

- not applied, so always retried: 429 (after its Retry-After), 409
  `conflict_error` (Notion: "try again");
- unreachable: the host name does not resolve (no retry: it will not resolve a
  second later) or the connection was refused or never made (two quick retries);
  either way `Unavailable` naming the host, not a long loop blamed on Notion;
- maybe applied: 5xx, timeouts, a connection lost mid-answer; retried with
  backoff for reads and idempotent writes, handed back as `Transient` for the
  others, which the caller makes idempotent (look the Record ID up, then create);
- refused: any other 4xx.

Every retry loop is bounded: a Notion that keeps failing ends in `Unavailable`.
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
FIRST_BACKOFF = 0.5  # seconds; doubled at each retry
MAX_BACKOFF = 30.0
UNREACHABLE_ATTEMPTS = 3  # a refused connection: the first try and two quick retries
UNREACHABLE_PAUSE = 0.25  # seconds before such a retry, times the retry's number
NOT_APPLIED, MAYBE_APPLIED, REFUSED = "not applied", "maybe applied", "refused"
UNREACHABLE = "unreachable"


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
    backoff: float = FIRST_BACKOFF
    base_url: str = DEFAULT_BASE_URL
    command: str = "sync"  # the `gitcoord notion` command running, named in what to do next

    @classmethod
    def connect(
        cls, token: str, base_url: str, *, rate: float = RATE_PER_SECOND, timeout_seconds: float = 30
    ) -> Api:
        if not token:
            raise InvalidInput(
                "NOTION_TOKEN is not set.",
                hint="create an internal integration in Notion, share the parent page with it, "
                "and export NOTION_TOKEN=<its secret>.",
            )
        import logging

        from notion_client import Client

        quiet = logging.getLogger("gitcoord.notion.client")
        quiet.setLevel(logging.CRITICAL)
        client = Client(
            auth=token,
            base_url=base_url.rstrip("/"),
            notion_version=NOTION_VERSION,
            retry=False,
            timeout_ms=int(timeout_seconds * 1000),
            logger=quiet,
        )
        return cls(client, RateLimiter(rate=rate, burst=max(1.0, rate)), base_url=base_url)

    def call(self, func: Callable[..., Any], *args: Any, idempotent: bool = True, **kwargs: Any) -> Any:
        """Call a client endpoint; failures not applied are retried, maybe-applied ones only if `idempotent`.

        Raises `Transient` for a non-idempotent call that failed in a way that may
        have been applied, `Unavailable` when retries are exhausted.
        """
        unreachable = 0
        for attempt in range(MAX_ATTEMPTS):
            self.limiter.acquire()
            self.requests += 1
            if self.on_request:
                self.on_request()
            try:
                return func(*args, **kwargs)
            except Exception as exc:
                verdict = _verdict(exc)
                if verdict is None:
                    raise
                if verdict == REFUSED:
                    raise _refused(exc) from exc
                if verdict == UNREACHABLE:
                    unreachable += 1
                    reason = _unreachable_reason(exc)
                    if reason is None or unreachable >= UNREACHABLE_ATTEMPTS:
                        raise self.unreachable(exc, reason) from exc
                    time.sleep(UNREACHABLE_PAUSE * unreachable)
                    continue
                if verdict == MAYBE_APPLIED and not idempotent:
                    raise Transient(str(exc)) from exc
                if attempt < MAX_ATTEMPTS - 1:
                    self.pause(attempt, exc)
        raise unavailable(self.command)

    def unreachable(self, exc: BaseException, reason: str | None) -> Unavailable:
        """The Notion API's host could not be reached at all: say so, with the host and what to rerun."""
        from urllib.parse import urlsplit

        host = urlsplit(self.base_url).netloc or self.base_url
        why = reason or "its name does not resolve"
        return Unavailable(
            f"could not reach the Notion API at {host}: {why} ({_first_line(exc)}).",
            hint="check the network, and NOTION_BASE_URL or notion.base_url if set; then run "
            f"`gitcoord notion {self.command}` again.",
        )

    def pause(self, attempt: int, exc: BaseException | None = None) -> None:
        """Wait before retry `attempt + 1`: the answer's Retry-After, else jittered exponential backoff."""
        delay = min(self.backoff * 2**attempt, MAX_BACKOFF) * random.uniform(0.5, 1.5)
        time.sleep(_retry_after(exc, delay))


def unavailable(command: str = "sync") -> Unavailable:
    """Notion answered, but kept failing; `command` is the `gitcoord notion` command to run again."""
    then = "it completes what this one started" if command == "sync" else "it completes what is missing"
    return Unavailable(
        "Notion kept failing (5xx, conflicts or timeouts) after several retries.",
        hint=f"run `gitcoord notion {command}` again later: {then}.",
    )


def _unreachable_reason(exc: BaseException) -> str | None:
    """Why a connection was never made, when a quick retry may help; None when the name does not resolve."""
    import socket

    seen: set[int] = set()
    cause: BaseException | None = exc
    while cause is not None and id(cause) not in seen:
        seen.add(id(cause))
        if isinstance(cause, socket.gaierror):
            return None
        if isinstance(cause, ConnectionRefusedError):
            return "connection refused"
        cause = cause.__cause__ or cause.__context__
    text = str(exc).lower()
    if "name or service not known" in text or "name resolution" in text or "nodename nor servname" in text:
        return None
    return "no connection could be made"


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()
    return text[0][:200] if text else type(exc).__name__


def _verdict(exc: BaseException) -> str | None:
    """NOT_APPLIED, MAYBE_APPLIED or REFUSED for a failed call; None for what is not a Notion failure."""
    import httpx
    from notion_client.errors import HTTPResponseError, RequestTimeoutError

    if isinstance(exc, HTTPResponseError):
        if exc.status in {409, 429}:
            return NOT_APPLIED
        return MAYBE_APPLIED if exc.status >= 500 else REFUSED
    if isinstance(exc, httpx.ConnectError):  # the request never left
        return UNREACHABLE
    if isinstance(exc, (RequestTimeoutError, httpx.TransportError)):
        return MAYBE_APPLIED
    return None


def _retry_after(exc: Any, fallback: float) -> float:
    """The answer's Retry-After (whole seconds, says Notion) when it has one, else `fallback`."""
    headers = getattr(exc, "headers", None) or {}
    value = headers.get("retry-after") if hasattr(headers, "get") else None
    try:
        return max(0.0, float(value)) if value is not None else fallback
    except ValueError:
        return fallback


def _refused(exc: Any) -> InvalidInput:
    code = getattr(exc, "code", "")
    return InvalidInput(
        f"Notion refused a request ({getattr(exc, 'status', '?')} {code}): {exc}",
        hint="check NOTION_TOKEN, that the parent page is shared with the integration, "
        "and rerun `gitcoord notion setup`.",
    )
