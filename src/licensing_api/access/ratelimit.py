"""Per-key rate limits: a token bucket per key, in this worker's memory.

Each key may burst up to its plan's `rate_limit_per_second` and then sustain that rate.
The buckets live in the worker (no Redis round trip per request), so with W workers behind
one address a key can reach at most W × the rate; a single keep-alive connection stays on
one worker and sees exactly the plan's rate.
"""

from __future__ import annotations

import math

MAX_BUCKETS = 100_000  # beyond this the buckets start afresh (every key gets a full burst)


class KeyRateLimiter:
    def __init__(self) -> None:
        self._buckets: dict[str, list[float]] = {}  # key id → [tokens, last refill time]

    def acquire(self, key_id: str, rate_per_second: int, now: float) -> int:
        """0 if the request may proceed (a token is taken); else seconds to wait (≥ 1)."""
        bucket = self._buckets.get(key_id)
        if bucket is None:
            if len(self._buckets) >= MAX_BUCKETS:
                self._buckets.clear()
            self._buckets[key_id] = [rate_per_second - 1.0, now]
            return 0 if rate_per_second >= 1 else 1
        tokens = bucket[0] + (now - bucket[1]) * rate_per_second
        if tokens > rate_per_second:  # cheaper than min(): this runs on every request
            tokens = rate_per_second
        bucket[1] = now
        if tokens >= 1.0:
            bucket[0] = tokens - 1.0
            return 0
        bucket[0] = tokens
        if rate_per_second <= 0:
            return 1
        return max(1, math.ceil((1.0 - tokens) / rate_per_second))
