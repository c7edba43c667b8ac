"""Each worker's in-memory usage tally and the task that moves it into Redis.

The request path adds units with a few dict operations (`UsageTally.add`). Every
`TALLY_FLUSH_INTERVAL_MS`, and once more on graceful shutdown, `move_once` sends the whole
tally to Redis in ONE round trip per shard (one in all unless `redis_keys.SHARDS` > 1): a
server-side script adding the batch to the grow-only counters laid out as
`usage/redis_keys.py` says, marking them changed for the flusher, atomically, and reading
back the period totals of this worker's customers (for usage headers and caps).

No unit is lost or counted twice when Redis fails: a batch that did not go through stays
"unresolved" (still counted in this worker's figures) and is sent again, unchanged. The
script keeps, per shard, the number of the worker's last applied batch and applies nothing
it has seen, so a resend after an ambiguous failure (the reply was lost, not the request;
or the client's own retry) never applies a batch twice.

The same move also sends the units per content path and UTC day (the console's Content
page; analytics, not billed from): plain HINCRBYs pipelined to `content:{d:<day>}`, one slot
per day, never in the script (on a Redis Cluster a script touches one slot). A failed move
keeps them for the next round; a failure after Redis applied them (the reply lost) counts
them twice there. A worker keeps at most `MAX_CONTENT_PATHS` distinct paths per day; the
rest count as `"(other)"`.

A hard crash (SIGKILL, power loss) loses what was added since the last successful move:
at most `TALLY_FLUSH_INTERVAL_MS` of one worker's traffic.

Redis itself may lose batches it acknowledged (a master killed before its replica had them
and the replica promoted, a restart without persistence). Those units are never billed, and
never counted twice: the marker came back older than the last batch Redis acknowledged, so
the script reports it and the worker logs the lost batches and their units
(`usage_redis_lost_batches`, `licensing_usage_redis_lost_units_total`).
"""

from __future__ import annotations

import asyncio
import logging
import time
import uuid
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime

from redis.asyncio import Redis
from redis.exceptions import RedisError

from licensing_api import metrics
from licensing_api.usage import redis_keys

logger = logging.getLogger(__name__)

MOVE_MARKER_TTL_SECONDS = 86_400
MOVE_TIMEOUT_SECONDS = 5.0
LOSS_WINDOW_SECONDS = 600.0  # how long an acknowledged batch's units are kept to count a loss
SHUTDOWN_MOVE_SECONDS = 10.0  # how long a graceful shutdown keeps retrying a failing Redis
SECONDS_PER_DAY = 86_400
MAX_CONTENT_PATHS = 10_000  # distinct paths a worker keeps per UTC day; more: "(other)"
MOVE_ERRORS = (RedisError, OSError, TimeoutError)


# KEYS (one shard's): period totals, key days, key last used, changed set, this worker's move
# marker. ARGV: marker TTL (0: no batch, only read totals), batch number, then three counted
# lists of (field, value) pairs: units per item period, units per key-day, last-used seconds
# per key; then the period fields to read back. A worker sends its batches one at a time, in
# order: the marker holds the number of its last applied batch, so a batch is applied at most
# once, whatever the client retries. Returns the marker found (-1: no batch), then the totals.
MOVE_SCRIPT = """
local fresh = false
local last = -1
if ARGV[1] ~= '0' then
  last = tonumber(redis.call('GET', KEYS[5]) or '0')
  if tonumber(ARGV[2]) > last then
    fresh = true
    redis.call('SET', KEYS[5], ARGV[2], 'EX', ARGV[1])
  end
end
local pos = 3
for list = 1, 3 do
  local count = tonumber(ARGV[pos])
  pos = pos + 1
  for _ = 1, count do
    local field, value = ARGV[pos], tonumber(ARGV[pos + 1])
    pos = pos + 2
    if fresh then
      if list == 1 then
        redis.call('HINCRBY', KEYS[1], field, value)
        redis.call('SADD', KEYS[4], 'p|' .. field)
      elseif list == 2 then
        redis.call('HINCRBY', KEYS[2], field, value)
        redis.call('SADD', KEYS[4], 'k|' .. field)
      else
        local seen = tonumber(redis.call('HGET', KEYS[3], field) or '0')
        if value > seen then redis.call('HSET', KEYS[3], field, value) end
      end
    end
  end
end
local totals = {last}
for i = pos, #ARGV do
  totals[#totals + 1] = tonumber(redis.call('HGET', KEYS[1], ARGV[i]) or '0')
end
return totals
"""


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
        # API key id → [units, last used (Unix time)] on the UTC day that starts at
        # `_day_start`; days a batch spans (midnight, a clock step) wait in `_earlier_days`.
        self._key_use: dict[str, list[float]] = {}
        self._earlier_days: list[tuple[float, dict[str, list[float]]]] = []
        # Content path → units on the day that starts at `_day_start`; other days' (a day
        # that ended, a move that failed) wait in `_content_days`, by UTC day.
        self._path_units: dict[str, int] = {}
        self._content_days: dict[str, dict[str, int]] = {}
        self.max_content_paths = MAX_CONTENT_PATHS
        self._day_start = self._day_end = 0.0
        self._unresolved: MoveBatch | None = None
        self._in_flight: dict[str, int] = {}  # units of the unresolved batch
        self._served: dict[str, int] = {}  # period field → units this worker served (leases spend it)
        self._totals: dict[str, int] = {}  # period totals in Redis as of the last move
        self._watched: dict[str, float] = {}  # period field → when a worker cache loaded it
        self._script = redis.register_script(MOVE_SCRIPT)
        self._failing = False
        # Per shard: the last batch Redis acknowledged (number, when), and the units of the
        # batches acknowledged lately, to tell what a Redis that lost them lost.
        self._acknowledged: dict[int, tuple[int, float]] = {}
        self._recent: dict[int, deque[tuple[int, int, float]]] = {}
        self._forgotten: dict[int, int] = {}  # the latest batch dropped from `_recent`
        self.lost_units = 0

    # -- request path -------------------------------------------------------------------

    def add(self, period_field: str, key_id: str, now: float, units: int = 1, path: str | None = None) -> int:
        """Count one served request of `units` units (a per-path price rule may make it more
        than one, or none) of content `path`; returns the units of the period including it."""
        if not self._day_start <= now < self._day_end:
            self._start_day(now)
        if units and path is not None:
            paths = self._path_units
            served = paths.get(path)
            if served is not None:
                paths[path] = served + units
            else:
                self._add_new_path(path, units)
        use = self._key_use.get(key_id)
        if use is None:
            use = self._key_use[key_id] = [0, now]
        use[0] += units
        use[1] = now
        tallied = self._units
        count = tallied[period_field] = tallied.get(period_field, 0) + units
        self._served[period_field] = self._served.get(period_field, 0) + units
        return self._totals.get(period_field, 0) + self._in_flight.get(period_field, 0) + count

    def _add_new_path(self, path: str, units: int) -> None:
        paths = self._path_units
        if len(paths) >= self.max_content_paths:
            path = redis_keys.OTHER_CONTENT
        paths[path] = paths.get(path, 0) + units

    def _start_day(self, now: float) -> None:
        if self._key_use:
            self._earlier_days.append((self._day_start, self._key_use))
            self._key_use = {}
        self._set_aside_content()
        self._day_start = now // SECONDS_PER_DAY * SECONDS_PER_DAY
        self._day_end = self._day_start + SECONDS_PER_DAY

    def units_this_period(self, period_field: str) -> int:
        """Redis's period total as last seen plus this worker's units not yet in it."""
        return (
            self._totals.get(period_field, 0)
            + self._in_flight.get(period_field, 0)
            + self._units.get(period_field, 0)
        )

    def served_units(self, period_field: str) -> int:
        """Every unit this worker served for the period since it started (only grows, until
        `forget_served`): what a plan cap's lease (access/leases.py) is spent against."""
        return self._served.get(period_field, 0)

    def forget_served(self, period_field: str) -> None:
        """The lease of the period is gone: its spend need not be kept any longer."""
        self._served.pop(period_field, None)

    def redis_total(self, period_field: str) -> int:
        """The period's total in Redis as of the last move (every worker's moved units)."""
        return self._totals.get(period_field, 0)

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
        unresolved = self._unresolved
        if unresolved is not None:
            await self._apply(unresolved, sorted(unresolved.units))
            moved += unresolved.total
        batch = self._take_batch()
        refresh = self._fields_to_refresh(batch)
        if batch is not None or refresh:
            self._unresolved = batch
            await self._apply(batch, refresh)
        await self._move_content()  # after the billing counters: its failure never holds them
        return moved + (batch.total if batch else 0)

    def unmoved_content(self) -> int:
        """Units per content path this worker has not moved to Redis yet."""
        return sum(self._path_units.values()) + sum(sum(d.values()) for d in self._content_days.values())

    def unmoved_content_of(self, path: str) -> int:
        """This worker's units of content `path`, every day's, not moved to Redis yet."""
        return self._path_units.get(path, 0) + sum(d.get(path, 0) for d in self._content_days.values())

    def _set_aside_content(self) -> None:
        """The current day's path units join the days waiting for a move."""
        if self._path_units:
            day = datetime.fromtimestamp(self._day_start, UTC).date().isoformat()
            self._keep_content(day, self._path_units)
            self._path_units = {}

    def _keep_content(self, day: str, units: dict[str, int]) -> None:
        kept = self._content_days.get(day)
        if kept is None:
            self._content_days[day] = units
            return
        for path, count in units.items():
            if path not in kept and len(kept) >= self.max_content_paths:
                path = redis_keys.OTHER_CONTENT
            kept[path] = kept.get(path, 0) + count

    async def _move_content(self) -> None:
        """The units per path and day, one HINCRBY each, pipelined (plain commands: fine on a
        cluster, each to its day's slot); on a failure they wait for the next move."""
        self._set_aside_content()
        days, self._content_days = self._content_days, {}
        if not days:
            return
        pipe = self.redis.pipeline(transaction=False)
        for day, units in days.items():
            key = self.prefix + redis_keys.content_day(day)
            for path, count in units.items():
                pipe.hincrby(key, path, count)
            pipe.expire(key, redis_keys.CONTENT_DAY_TTL_SECONDS)
        try:
            await pipe.execute()
        except BaseException:
            for day, units in days.items():
                self._keep_content(day, units)
            raise

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
            # One warning per outage, not one per tick.
            log = logger.debug if self._failing else logger.warning
            log(
                "usage_tally_move_failed",
                extra={"error": type(exc).__name__, "units_kept": self.unmoved_total()},
            )
            self._failing = True
            return False
        if self._failing:
            self._failing = False
            logger.info("usage_tally_move_recovered", extra={"worker": self.worker_id})
        return True

    async def final_move(self, budget_seconds: float = SHUTDOWN_MOVE_SECONDS) -> None:
        """Graceful shutdown: move what is left, retrying a failing Redis for a while."""
        deadline = self.clock() + budget_seconds
        while True:
            if await self.try_move() and self.unmoved_total() == 0 and self.unmoved_content() == 0:
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
        if not self._units:
            return None
        self._batches += 1
        by_key: dict[tuple[str, str], int] = {}
        last_used: dict[str, int] = {}
        for day_start, key_use in (*self._earlier_days, (self._day_start, self._key_use)):
            day = datetime.fromtimestamp(day_start, UTC).date().isoformat()
            for key_id, (units, at) in key_use.items():
                by_key[key_id, day] = by_key.get((key_id, day), 0) + int(units)
                last_used[key_id] = max(last_used.get(key_id, 0), int(at))
        batch = MoveBatch(self._batches, self._units, by_key, last_used)
        batch.total = sum(batch.units.values())
        metrics.UNITS_TALLIED.inc(batch.total)  # here, not per request: off the request path
        self._units, self._key_use, self._earlier_days = {}, {}, []
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

    async def _apply(self, batch: MoveBatch | None, refresh: list[str]) -> None:
        """One round trip per shard: apply the batch (at most once, whatever retries happen)
        and read the period totals of `refresh`."""
        for shard, part, fields in _by_shard(batch, refresh):
            names = (redis_keys.period_totals(shard), redis_keys.key_days(shard),
                     redis_keys.key_last_used(shard), redis_keys.changed(shard),
                     redis_keys.move_marker(shard, self.worker_id))
            marker, *totals = await self._script(keys=[self.prefix + n for n in names],
                                                 args=_script_args(part) + fields)
            self._totals.update(zip(fields, (int(t) for t in totals), strict=True))
            if part is not None:
                self._acknowledge(shard, part, int(marker))
        self._unresolved = None
        self._in_flight = {}
        if batch is not None:
            metrics.UNITS_MOVED_TO_REDIS.inc(batch.total)


    def _acknowledge(self, shard: int, part: MoveBatch, marker: int) -> None:
        """Redis applied (or already had) this shard's part of the batch; `marker` is the last
        batch it held for this worker before it. Older than what it acknowledged: lost."""
        now = self.clock()
        number, at = self._acknowledged.get(shard, (0, now))
        if marker < number and now - at < MOVE_MARKER_TTL_SECONDS:
            lost = [units for n, units, _ in self._recent.get(shard, ()) if n > marker]
            self._report_loss(shard, marker, number, lost, self._forgotten.get(shard, 0) > marker)
        if part.number > number:
            self._acknowledged[shard] = (part.number, now)
            recent = self._recent.setdefault(shard, deque())
            recent.append((part.number, sum(part.units.values()), now))
            while now - recent[0][2] > LOSS_WINDOW_SECONDS:
                self._forgotten[shard] = recent.popleft()[0]

    def _report_loss(self, shard: int, marker: int, number: int, lost: list[int], more: bool) -> None:
        units = sum(lost)
        self.lost_units += units
        metrics.USAGE_REDIS_LOST_UNITS.inc(units)
        logger.error("usage_redis_lost_batches", extra={
            "worker": self.worker_id, "shard": shard, "batches": len(lost), "units": units,
            "redis_last_batch": marker, "acknowledged_batch": number,
            "older_batches_lost_too": more,  # beyond LOSS_WINDOW_SECONDS: units not counted
        })


def _script_args(batch: MoveBatch | None) -> list[str | int]:
    if batch is None:
        return [0, 0, 0, 0, 0]
    args: list[str | int] = [MOVE_MARKER_TTL_SECONDS, batch.number, len(batch.units)]
    for period_field, units in batch.units.items():
        args += [period_field, units]
    args.append(len(batch.by_key))
    for (key_id, day), units in batch.by_key.items():
        args += [f"{key_id}:{day}", units]
    args.append(len(batch.last_used))
    for key_id, seconds in batch.last_used.items():
        args += [key_id, seconds]
    return args


def _by_shard(
    batch: MoveBatch | None, refresh: list[str]
) -> list[tuple[int, MoveBatch | None, list[str]]]:
    """The batch and the fields to read back, split by the shard each counter lives in."""
    if redis_keys.SHARDS == 1:
        return [(0, batch, refresh)]
    parts: dict[int, tuple[MoveBatch | None, list[str]]] = {}

    def part(shard: int) -> tuple[MoveBatch | None, list[str]]:
        if shard not in parts:
            empty = None if batch is None else MoveBatch(batch.number, {}, {}, {})
            parts[shard] = (empty, [])
        return parts[shard]

    for period_field in refresh:
        part(redis_keys.shard_of(period_field.rsplit(":", 1)[0]))[1].append(period_field)
    if batch is not None:
        for period_field, units in batch.units.items():
            part(redis_keys.shard_of(period_field.rsplit(":", 1)[0]))[0].units[period_field] = units  # type: ignore[union-attr]
        for (key_id, day), units in batch.by_key.items():
            part(redis_keys.shard_of(key_id))[0].by_key[key_id, day] = units  # type: ignore[union-attr]
        for key_id, seconds in batch.last_used.items():
            part(redis_keys.shard_of(key_id))[0].last_used[key_id] = seconds  # type: ignore[union-attr]
    return [(shard, b, fields) for shard, (b, fields) in sorted(parts.items())]
