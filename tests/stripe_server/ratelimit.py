"""Token-bucket rate limits shaped like Stripe's.

Numbers (per second, per account) and where they come from:

- Basic API limit: live mode 100 read + 100 write operations, test mode (sandbox) 25 + 25
  (https://stripe.com/docs/rate-limits, "Rate limiter"; newer revisions of the page say
  "100 operations" / "25 operations" and a default of 25 requests/s per endpoint, which is
  not modelled here).
- ``POST /v1/billing/meter_events``: a separate limit of 1000 calls/s per account in live
  mode that does not count against the basic limit (same page; SDK docstring of
  ``MeterEventService.create``: "up to 1,000 events per second in livemode"). The page's
  test-mode figure could not be retrieved offline; the ``test`` profile uses the live one.
- ``POST /v2/billing/meter_event_stream``: 10,000 requests/s in live mode (stripe-python
  16.1.0 ``_meter_event_stream_service.py`` docstring and
  docs.stripe.com/api/v2/billing/meter-event-stream/create), up to 100 events per request.
  Stripe's 2024-09-30.acacia changelog speaks of 10k events/s; this server limits
  **requests** at 10,000/s, and the batch size at 100.

Profiles: ``off`` (no limits), ``live`` (the numbers above), ``test`` (basic 25/25).
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field

PROFILES: dict[str, dict[str, float]] = {
    "off": {},
    "live": {"read": 100, "write": 100, "meter_events": 1000, "meter_event_stream": 10_000},
    "test": {"read": 25, "write": 25, "meter_events": 1000, "meter_event_stream": 10_000},
}


@dataclass
class Bucket:
    rate: float
    tokens: float
    stamp: float = field(default_factory=time.monotonic)

    def take(self, n: float = 1.0) -> bool:
        now = time.monotonic()
        self.tokens = min(self.rate, self.tokens + (now - self.stamp) * self.rate)
        self.stamp = now
        if self.tokens >= n:
            self.tokens -= n
            return True
        return False


class RateLimiter:
    def __init__(self, profile: str = "live", overrides: dict[str, float] | None = None):
        self.configure(profile, overrides)

    def configure(self, profile: str, overrides: dict[str, float] | None = None) -> None:
        if profile not in PROFILES:
            raise ValueError(f"unknown rate-limit profile {profile!r}")
        self.profile = profile
        self.limits = {**PROFILES[profile], **(overrides or {})}
        self.buckets = {k: Bucket(v, v) for k, v in self.limits.items()}

    def allow(self, bucket: str) -> bool:
        b = self.buckets.get(bucket)
        return True if b is None else b.take()

    @staticmethod
    def bucket_for(method: str, path: str) -> str:
        if path == "/v1/billing/meter_events":
            return "meter_events"
        if path == "/v2/billing/meter_event_stream":
            return "meter_event_stream"
        return "read" if method == "GET" else "write"
