"""The per-worker cache: key digest → `AccessRecord` (or "no such key") with a TTL.

Entries expire after `ACCESS_CACHE_TTL_SECONDS` and are dropped at once by invalidation
messages (`access/subscriber.py`). A generation counter, bumped by every invalidation,
keeps a database read that raced with an invalidation from caching what it read.

An entry is found by what the request presents: an API key's digest, a license token's
digest, or `wba:{keyid}` for a verified bot. Its record's `digest` is always the underlying
API key's, so dropping a key's digest drops what was derived from it too (its license tokens).
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass

from licensing_api import metrics
from licensing_api.access.records import AccessRecord

NEGATIVE_TTL_SECONDS = 5.0  # an unknown digest is remembered this long
UNHEARD_TTL_SECONDS = 5.0  # the longest life of an entry while invalidations can't be heard
MAX_ENTRIES = 200_000  # beyond this (e.g. a flood of random keys) the cache starts afresh


class AccessCache:
    def __init__(
        self, ttl_seconds: float, clock: Callable[[], float] = time.monotonic
    ) -> None:
        self.configured_ttl_seconds = ttl_seconds
        self.ttl_seconds = ttl_seconds
        self.negative_ttl_seconds = min(NEGATIVE_TTL_SECONDS, ttl_seconds)
        self.clock = clock
        self.generation = 0
        self._entries: dict[str, tuple[AccessRecord | None, float]] = {}
        self._derived: dict[str, set[str]] = {}  # API key digest → other entries of its record

    def get(self, digest: str) -> tuple[AccessRecord | None, float] | None:
        """(record or None for "unknown key", expiry) if cached and fresh; None on a miss."""
        entry = self._entries.get(digest)
        if entry is None:
            return None
        if entry[1] <= self.clock():
            del self._entries[digest]
            return None
        return entry

    def put(
        self, digest: str, record: AccessRecord | None, generation: int,
        max_ttl: float | None = None,
    ) -> None:
        """Cache what a read started at `generation` found, unless an invalidation came since;
        `max_ttl` shortens the entry's life (a license token that expires sooner)."""
        if generation != self.generation:
            return
        ttl = self.ttl_seconds if record is not None else self.negative_ttl_seconds
        if max_ttl is not None:
            ttl = min(ttl, max_ttl)
        if ttl <= 0:
            return
        if len(self._entries) >= MAX_ENTRIES:
            self._entries.clear()
            self._derived.clear()
        self._entries[digest] = (record, self.clock() + ttl)
        if record is not None and record.digest != digest:
            self._derived.setdefault(record.digest, set()).add(digest)

    def hearing_invalidations(self, heard: bool) -> None:
        """While the worker is not subscribed to invalidations (Redis unreachable), a key
        revoked elsewhere could stay cached for a whole TTL: cache for a few seconds only."""
        self.ttl_seconds = (
            self.configured_ttl_seconds if heard
            else min(UNHEARD_TTL_SECONDS, self.configured_ttl_seconds)
        )

    def drop_digest(self, digest: str) -> None:
        self.generation += 1
        self._entries.pop(digest, None)
        for derived in self._derived.pop(digest, ()):
            self._entries.pop(derived, None)

    def drop_customer(self, customer_id: uuid.UUID) -> None:
        self.generation += 1
        doomed = [
            digest
            for digest, (record, _) in self._entries.items()
            if record is not None and record.customer_id == customer_id
        ]
        for digest in doomed:
            del self._entries[digest]

    def clear(self) -> None:
        self.generation += 1
        self._entries.clear()
        self._derived.clear()

    def __len__(self) -> int:
        return len(self._entries)


@dataclass(slots=True)
class CacheLookupCounts:
    """Lookups counted in plain ints on the request path and added to the Prometheus counter
    by `publish` (`access/runtime.py` calls it every second and at shutdown): one Prometheus
    increment costs more than the cache lookup it counts."""

    hits: int = 0
    misses: int = 0
    negative: int = 0  # a key remembered as unknown

    def publish(self) -> None:
        for result, count in (("hit", self.hits), ("miss", self.misses), ("negative", self.negative)):
            if count:
                metrics.ACCESS_CACHE_LOOKUPS.labels(result=result).inc(count)
        self.hits = self.misses = self.negative = 0
