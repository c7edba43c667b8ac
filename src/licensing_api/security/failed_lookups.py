"""Per-address limit on failed API-key lookups: a key-guessing client gets 429, not a DB query.

The sliding window itself (`AddressLimiter`) also limits signups per address
(`signup/limits.py`): any costly thing an unauthenticated client can repeat.

A per-worker, in-memory sliding window (no Redis round-trip on the hot path). With W workers
behind a load balancer a client gets at most about W × limit failures per window, which is
plenty to stop enumeration of 32-random-character keys and to shed the database load.

The hot path calls `check(address)` before looking a key that is not in its cache up in the
database (and before rejecting a malformed key), and `record_failure(address)` when the key
is malformed or unknown; a cached valid key never touches it. After `limit` failures within
the window, `check` raises 429 with Retry-After until the oldest failure leaves the window.
"""

from __future__ import annotations

import math
import time
from collections import deque
from collections.abc import Callable
from typing import Annotated, Any

from fastapi import Depends, Request

from licensing_api import metrics
from licensing_api.errors import ProblemError

MAX_TRACKED_ADDRESSES = 10_000


class TooManyFailedKeyLookups(ProblemError):
    status, slug, title = 429, "too-many-failed-key-lookups", "Too many failed key lookups"


class AddressLimiter:
    """At most `limit` recorded events per client address within a sliding window."""

    def __init__(
        self,
        limit: int,
        window_seconds: float,
        *,
        refuse: Callable[[float], ProblemError],
        max_addresses: int = MAX_TRACKED_ADDRESSES,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.limit = limit
        self.window_seconds = window_seconds
        self.max_addresses = max_addresses
        self._refuse = refuse  # seconds to wait → the 429 to raise
        self._clock = clock
        self._events: dict[str, deque[float]] = {}

    def __len__(self) -> int:
        """How many addresses are tracked (bounded by `max_addresses`)."""
        return len(self._events)

    def retry_after(self, address: str) -> float | None:
        """Seconds until `address` may try again, or None if it is not blocked."""
        events = self._events.get(address)
        if events is None:
            return None
        now = self._clock()
        while events and events[0] <= now - self.window_seconds:
            events.popleft()
        if not events:
            del self._events[address]
            return None
        if len(events) < self.limit:
            return None
        return events[0] + self.window_seconds - now

    def check(self, address: str) -> None:
        """Raise the refusal (429 with Retry-After) if `address` is blocked."""
        wait = self.retry_after(address)
        if wait is not None:
            raise self._refuse(wait)

    def record(self, address: str) -> None:
        """Count one event from `address`."""
        events = self._events.get(address)
        if events is None:
            self._make_room()
            events = self._events[address] = deque(maxlen=self.limit)
        events.append(self._clock())

    def _make_room(self) -> None:
        if len(self._events) < self.max_addresses:
            return
        horizon = self._clock() - self.window_seconds
        for address in [a for a, e in self._events.items() if not e or e[-1] <= horizon]:
            del self._events[address]
        while len(self._events) >= self.max_addresses:
            del self._events[next(iter(self._events))]  # oldest tracked address


def retry_headers(wait: float) -> dict[str, str]:
    return {"Retry-After": str(max(1, math.ceil(wait)))}


def _too_many_failed_lookups(wait: float) -> ProblemError:
    metrics.FAILED_KEY_LOOKUPS_REFUSED.inc()
    return TooManyFailedKeyLookups(
        f"too many unknown or malformed API keys from this address; retry in {math.ceil(wait)} s",
        headers=retry_headers(wait),
    )


class FailedKeyLookupLimiter(AddressLimiter):
    """The limiter of unknown or malformed API keys (the caller then answers 401)."""

    def __init__(self, limit: int, window_seconds: float, **options: Any) -> None:
        super().__init__(limit, window_seconds, refuse=_too_many_failed_lookups, **options)

    def record_failure(self, address: str) -> None:
        """Count one unknown or malformed key from `address`."""
        self.record(address)


def client_address(request: Request) -> str:
    """The caller's address (uvicorn applies X-Forwarded-For from FORWARDED_ALLOW_IPS)."""
    return request.client.host if request.client else "unknown"


def get_failed_key_lookup_limiter(request: Request) -> FailedKeyLookupLimiter:
    return request.app.state.failed_key_lookups  # type: ignore[no-any-return]


def install_failed_key_lookup_limiter(app: object, limit: int, window_seconds: float) -> None:
    app.state.failed_key_lookups = FailedKeyLookupLimiter(limit, window_seconds)  # type: ignore[attr-defined]


FailedKeyLookupLimiterDep = Annotated[FailedKeyLookupLimiter, Depends(get_failed_key_lookup_limiter)]
