"""Each worker's in-memory usage tally and the task that moves it into Redis.

The request path adds a unit with a few dict operations (`UsageTally.add`). Every
`TALLY_FLUSH_INTERVAL_MS`, and once more on graceful shutdown, `move_once` sends the
whole tally to Redis as ONE MULTI/EXEC pipeline of `HINCRBY`s laid out as
`usage/redis_keys.py` says, and reads back the period totals of this worker's customers
in the same round trip (for usage headers and caps).

No unit is lost or counted twice when Redis fails: a batch that did not go through stays
"unresolved" (still counted in this worker's figures) and is retried. Each batch also
writes a marker key in its transaction, so a retry after an ambiguous failure (the reply
was lost, not the request) first checks the marker and never applies a batch twice.

A hard crash (SIGKILL, power loss) loses what was added since the last successful move:
at most `TALLY_FLUSH_INTERVAL_MS` of one worker's traffic.
"""

from __future__ import annotations

import asyncio
import logging
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime

from redis.asyncio import Redis
from redis.exceptions import RedisError

from licensing_api import metrics
from licensing_api.usage.redis_keys import KEY_LAST_USED, PENDING, PENDING_BY_KEY, PERIOD_TOTALS

logger = logging.getLogger(__name__)

MOVE_MARKER = "usage:moved:"  # + "{worker}:{batch}": proof that a batch was applied
MOVE_MARKER_TTL_SECONDS = 86_400
MOVE_TIMEOUT_SECONDS = 5.0
SHUTDOWN_MOVE_SECONDS = 10.0  # how long a graceful shutdown keeps retrying a failing Redis
SECONDS_PER_DAY = 86_400
MOVE_ERRORS = (RedisError, OSError, TimeoutError)


@dataclass(slots=True)
class MoveBatch:
    number: int
    units: dict[str, int]  # "{item_id}:{period_start_epoch}" → units
    by_key: dict[tuple[str, str], int]  # (api key id, UTC day) → units
    last_used: dict[str, int]  # api key id → Unix seconds
    total: int = field(default=0)


class UsageTally:
    def __init__(
        self,
        redis: Redis,
        redis_key_prefix: str,
        *,
        watch_seconds: float = 60.0,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.redis = redis
        self.prefix = redis_key_prefix
        self.worker_id = uuid.uuid4().hex[:16]
        self.watch_seconds = watch_seconds
        self.clock = clock
        self._batches = 0
        self._units: dict[str, int] = {}
        self._by_key: dict[tuple[str, str], int] = {}
        self._last_used: dict[str, int] = {}
        self._unresolved: MoveBatch | None = None
        self._in_flight: dict[str, int] = {}  # units of the unresolved batch
        self._totals: dict[str, int] = {}  # period totals in Redis as of the last move
        self._watched: dict[str, float] = {}  # period field → when a worker cache loaded it
        self._day_number = -1
        self._day_text = ""

    # -- request path -------------------------------------------------------------------

    def add(self, period_field: str, key_id: str, now: float) -> int:
        """Count one served request; returns the units of the period including it."""
        units = self._units
        units[period_field] = units.get(period_field, 0) + 1
        day_number = int(now // SECONDS_PER_DAY)
        if day_number != self._day_number:
            self._day_number = day_number
            self._day_text = datetime.fromtimestamp(day_number * SECONDS_PER_DAY, UTC).date().isoformat()
        by_key = self._by_key
        day_key = (key_id, self._day_text)
        by_key[day_key] = by_key.get(day_key, 0) + 1
        self._last_used[key_id] = int(now)
        metrics.UNITS_TALLIED.inc()
        return (
            self._totals.get(period_field, 0)
            + self._in_flight.get(period_field, 0)
            + units[period_field]
        )

    def units_this_period(self, period_field: str) -> int:
        """Redis's period total as last seen plus this worker's units not yet in it."""
        return (
            self._totals.get(period_field, 0)
            + self._in_flight.get(period_field, 0)
            + self._units.get(period_field, 0)
        )

    def unmoved_units(self, period_field: str) -> int:
        """This worker's units for the period that Redis does not have yet."""
        return self._in_flight.get(period_field, 0) + self._units.get(period_field, 0)

    def unmoved_total(self) -> int:
        return sum(self._in_flight.values()) + sum(self._units.values())

    def watch(self, period_field: str, redis_total: int) -> None:
        """A cache miss loaded this period: keep its Redis total fresh while it is cached."""
        self._watched[period_field] = self.clock()
        self._totals.setdefault(period_field, redis_total)

    # -- mover --------------------------------------------------------------------------

    async def move_once(self) -> int:
        """Move the tally into Redis; returns the units moved. Raises on a Redis failure,
        keeping every unit for the next attempt."""
        moved = 0
        if self._unresolved is not None:
            moved += await self._resolve_unresolved()
        batch = self._take_batch()
        refresh = self._fields_to_refresh(batch)
        if batch is None and not refresh:
            return moved
        self._unresolved = batch
        totals = await self._send(batch, refresh)
        self._finish(batch, refresh, totals)
        return moved + (batch.total if batch else 0)

    async def run_mover(self, interval_seconds: float, stop: asyncio.Event) -> None:
        """Move every interval until `stop` is set (the lifespan then calls `final_move`)."""
        while not stop.is_set():
            try:
                await asyncio.wait_for(stop.wait(), interval_seconds)
            except TimeoutError:
                pass
            if not stop.is_set():
                await self.try_move()

    async def try_move(self) -> bool:
        try:
            await asyncio.wait_for(self.move_once(), MOVE_TIMEOUT_SECONDS)
        except MOVE_ERRORS as exc:
            logger.warning(
                "usage_tally_move_failed",
                extra={"error": type(exc).__name__, "units_kept": self.unmoved_total()},
            )
            return False
        return True

    async def final_move(self, budget_seconds: float = SHUTDOWN_MOVE_SECONDS) -> None:
        """Graceful shutdown: move what is left, retrying a failing Redis for a while."""
        deadline = self.clock() + budget_seconds
        while True:
            if await self.try_move() and self.unmoved_total() == 0:
                logger.info("usage_tally_moved_at_shutdown", extra={"worker": self.worker_id})
                return
            if self.clock() >= deadline:
                logger.error(
                    "usage_tally_lost_at_shutdown",
                    extra={"worker": self.worker_id, "units": self.unmoved_total()},
                )
                return
            await asyncio.sleep(0.2)

    def _take_batch(self) -> MoveBatch | None:
        if not self._units and not self._last_used:
            return None
        self._batches += 1
        batch = MoveBatch(self._batches, self._units, self._by_key, self._last_used)
        batch.total = sum(batch.units.values())
        self._units, self._by_key, self._last_used = {}, {}, {}
        self._in_flight = dict(batch.units)
        return batch

    def _fields_to_refresh(self, batch: MoveBatch | None) -> list[str]:
        horizon = self.clock() - self.watch_seconds
        for stale in [f for f, at in self._watched.items() if at < horizon]:
            del self._watched[stale]
            self._totals.pop(stale, None)
        fields = set(self._watched)
        if batch is not None:
            fields.update(batch.units)
        return sorted(fields)

    def _marker(self, batch: MoveBatch) -> str:
        return f"{self.prefix}{MOVE_MARKER}{self.worker_id}:{batch.number}"

    async def _send(self, batch: MoveBatch | None, refresh: list[str]) -> list[int]:
        pending, period = self.prefix + PENDING, self.prefix + PERIOD_TOTALS
        async with self.redis.pipeline(transaction=True) as pipe:
            if batch is not None:
                pipe.set(self._marker(batch), 1, ex=MOVE_MARKER_TTL_SECONDS)
                for period_field, units in batch.units.items():
                    pipe.hincrby(pending, period_field, units)
                    pipe.hincrby(period, period_field, units)
                by_key = self.prefix + PENDING_BY_KEY
                for (key_id, day), units in batch.by_key.items():
                    pipe.hincrby(by_key, f"{key_id}:{day}", units)
                if batch.last_used:
                    pipe.hset(self.prefix + KEY_LAST_USED, mapping=batch.last_used)
            if refresh:
                pipe.hmget(period, refresh)
            results = await pipe.execute()
        if not refresh:
            return []
        return [int(value) if value is not None else 0 for value in results[-1]]

    def _finish(self, batch: MoveBatch | None, refresh: list[str], totals: list[int]) -> None:
        self._unresolved = None
        self._in_flight = {}
        self._totals.update(zip(refresh, totals, strict=True))
        if batch is not None:
            metrics.UNITS_MOVED_TO_REDIS.inc(batch.total)

    async def _resolve_unresolved(self) -> int:
        """Settle a batch whose move failed: applied already (marker present) or resend it."""
        batch = self._unresolved
        assert batch is not None
        if await self.redis.exists(self._marker(batch)):
            for period_field, units in batch.units.items():
                self._totals[period_field] = self._totals.get(period_field, 0) + units
            self._finish(batch, [], [])
            return batch.total
        totals = await self._send(batch, sorted(batch.units))
        self._finish(batch, sorted(batch.units), totals)
        return batch.total
