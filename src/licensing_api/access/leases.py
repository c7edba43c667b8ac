"""Global per-key rate limits and plan caps, leased from Redis: no round trip per request.

Redis holds the one shared state of each limit:
- per API key, a token bucket (`limits:{key:<id>}:rate`: tokens, refilled at the plan's
  rate up to a burst of one second's worth, on Redis's own clock);
- per subscription item and period, the units granted so far
  (`limits:{item:<id>}:cap:<period start>`, never more than the plan's cap).

Each worker leases a share of either and spends it in memory: the request path is a dict
lookup and a comparison (`take_token`, `cap_reached`), without await or I/O. Every
`TALLY_FLUSH_INTERVAL_MS`, `renew_once` settles every lease in ONE round trip (`run_scripts`), one
script per lease (each touches the keys of one `{...}` hash tag: one Redis Cluster slot): it
returns the unused units and asks for what the demand of the last interval needs for the
next `LEASE_HEADROOM` intervals; idle leases are returned and dropped. A lease is usable for
`LEASE_WINDOW_INTERVALS` intervals after the renewal that granted it, never longer.

A key or item with no usable lease on this worker (its first request here, or a spent lease
while Redis had units left) raises `LeaseNeeded`: its request takes the async path, where
`prepare` takes the lease in one round trip shared by the requests waiting for it. Leases only move
units out of Redis, so the rate's bound is the bucket's own (burst + rate × time) whatever
the number of workers; README "Global limits" states the bounds and their measurement.

While Redis does not answer, the limits fall back to each worker on its own (the rate in
this worker's memory, `access/ratelimit.py`; the cap against the worker's view of the
period's units), as before leases existed.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import math
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass

from redis.asyncio import Redis
from redis.exceptions import RedisError

from licensing_api.access.ratelimit import KeyRateLimiter
from licensing_api.access.records import AccessRecord, UsageTarget
from licensing_api.redis import ScriptCall, run_scripts
from licensing_api.usage.tally import UsageTally

logger = logging.getLogger(__name__)

LEASE_WINDOW_INTERVALS = 3  # a lease is spent within this many renewal intervals, or lapses
LEASE_HEADROOM = 2  # a renewal asks for this many intervals of the demand it saw
FIRST_CAP_LEASE_UNITS = 10  # an item's first lease on a worker (later ones follow the demand)
# A key's first lease, or a top-up of a spent one, takes this share of the burst, so that
# workers starting together each find tokens (one taking the whole burst refused the others
# a key well under its rate until their next renewal). Renewals then follow the demand.
RATE_LEASE_SHARE = 4
# A worker that found a key's bucket empty refuses it locally, then asks again once a token
# could have refilled (at most this often: a key far over its rate costs few round trips).
EXHAUSTED_RETRY_SECONDS = 0.05
PREPARE_ROUNDS = 3  # requests that waited together for a top-up may spend it before some of them
MARKER_TTL_SECONDS = 600
CAP_TTL_AFTER_PERIOD_SECONDS = 86_400
RENEW_TIMEOUT_SECONDS = 2.0
RENEW_ERRORS = (RedisError, OSError, TimeoutError)

# KEYS: the key's bucket (hash: tokens, at µs), this worker's renewal marker for the key.
# ARGV: rate per second, burst, returned, charged (always 0 for a rate), wanted, renewal number,
# bucket TTL ms, marker TTL s[, now in µs: tests only, else Redis's clock, one for all hosts].
# Returns {granted, tokens left}. A renewal's return and charge apply once whatever the client
# retries (the marker); a retried grant only wastes tokens.
RATE_SCRIPT = """
local now = tonumber(ARGV[9] or '')
if not now then
  local clock = redis.call('TIME')
  now = tonumber(clock[1]) * 1000000 + tonumber(clock[2])
end
local rate, burst = tonumber(ARGV[1]), tonumber(ARGV[2])
local state = redis.call('HMGET', KEYS[1], 'tokens', 'at')
local tokens = tonumber(state[1]) or burst
local at = tonumber(state[2]) or now
if now > at then
  tokens = tokens + (now - at) * rate / 1000000
  at = now
end
if tokens > burst then tokens = burst end
if tonumber(ARGV[6]) > tonumber(redis.call('GET', KEYS[2]) or '0') then
  redis.call('SET', KEYS[2], ARGV[6], 'EX', ARGV[8])
  tokens = math.min(burst, tokens + tonumber(ARGV[3])) - tonumber(ARGV[4])
end
local grant = math.floor(math.min(tonumber(ARGV[5]), tokens))
if grant < 0 then grant = 0 end
tokens = tokens - grant
redis.call('HSET', KEYS[1], 'tokens', string.format('%.6f', tokens), 'at', string.format('%.0f', at))
redis.call('PEXPIRE', KEYS[1], ARGV[7])
return {grant, math.floor(tokens)}
"""

# KEYS: the item period's granted units, this worker's renewal marker for the item.
# ARGV: cap, floor (the period's units already in the usage counters), returned, charged,
# wanted, renewal number, counter TTL s, marker TTL s. Returns {granted, units left}. Charged:
# units served past the lease (a request of several units that its last unit admitted).
CAP_SCRIPT = """
local granted = tonumber(redis.call('GET', KEYS[1]) or '0')
if tonumber(ARGV[6]) > tonumber(redis.call('GET', KEYS[2]) or '0') then
  redis.call('SET', KEYS[2], ARGV[6], 'EX', ARGV[8])
  granted = granted - tonumber(ARGV[3]) + tonumber(ARGV[4])
end
local floor = tonumber(ARGV[2])
if floor > granted then granted = floor end
local cap = tonumber(ARGV[1])
local grant = math.min(tonumber(ARGV[5]), cap - granted)
if grant < 0 then grant = 0 end
granted = granted + grant
redis.call('SET', KEYS[1], string.format('%d', granted), 'EX', ARGV[7])
return {grant, math.max(cap - granted, 0)}
"""


def rate_bucket_key(api_key_id: str) -> str:
    return f"limits:{{key:{api_key_id}}}:rate"


def rate_marker_key(api_key_id: str, worker_id: str) -> str:
    return f"limits:{{key:{api_key_id}}}:renewed:{worker_id}"


def cap_counter_key(period_field: str) -> str:
    item_id, period_start = period_field.rsplit(":", 1)
    return f"limits:{{item:{item_id}}}:cap:{period_start}"


def cap_marker_key(period_field: str, worker_id: str) -> str:
    item_id, period_start = period_field.rsplit(":", 1)
    return f"limits:{{item:{item_id}}}:renewed:{period_start}:{worker_id}"


class LeaseNeeded(Exception):
    """This worker holds no usable lease for the request and Redis may have units for it:
    the request takes the async path, which `prepare`s the lease and decides again."""


@dataclass(slots=True)
class Lease:
    """One worker's share of a limit, in units of its spend (requests for a rate, served
    units for a cap), as absolute spend levels."""

    covered: int  # spend level that Redis's grants (and charges) cover: this worker may spend up to it
    expires: float  # the grants lapse then (this worker's monotonic clock)
    renewed_at: float
    spent_at_renewal: int = 0
    demand: int = 0  # requests that asked since the last renewal
    exhausted: bool = False  # Redis had nothing left at the last renewal
    topping_up: bool = False  # a top-up is in flight: a renewal must not drop the lease


@dataclass(slots=True)
class RateLease(Lease):
    rate: int = 0
    spent: int = 0  # requests admitted
    retry_at: float = 0.0  # exhausted: refused here until then, then a top-up is tried


@dataclass(slots=True)
class CapLease(Lease):
    cap: int = 0
    period_end_epoch: float = 0.0


@dataclass(slots=True)
class Settlement:
    """What one renewal sends for a lease."""

    returned: int
    charged: int
    wanted: int


class GlobalLimits:
    def __init__(
        self,
        redis: Redis,
        redis_key_prefix: str,
        tally: UsageTally,
        interval_seconds: float,
        *,
        clock: Callable[[], float] = time.monotonic,
        wall_clock: Callable[[], float] = time.time,
        bucket_clock: Callable[[], float] | None = None,
        rate_lease_share: int = RATE_LEASE_SHARE,
    ) -> None:
        """`clock`: lease expiry; `wall_clock`: period ends; `bucket_clock`: refills of the
        buckets in Redis (None: Redis's own clock, the one every host shares)."""
        self.redis = redis
        self.prefix = redis_key_prefix
        self.tally = tally
        self.interval = interval_seconds
        self.window = LEASE_WINDOW_INTERVALS * interval_seconds
        self.clock = clock
        self.wall_clock = wall_clock
        self.bucket_clock = bucket_clock
        self.rate_lease_share = rate_lease_share
        self.worker_id = uuid.uuid4().hex[:16]
        self.degraded = False  # the last renewal failed: each worker limits on its own
        self.fallback = KeyRateLimiter()
        self._rates: dict[str, RateLease] = {}
        self._caps: dict[str, CapLease] = {}
        self._renewals = 0
        self._preparing: dict[str, asyncio.Future[None]] = {}
        self._rate_script = redis.register_script(RATE_SCRIPT)
        self._cap_script = redis.register_script(CAP_SCRIPT)

    # -- request path -------------------------------------------------------------------

    def take_token(self, key_id: str, rate: int, now: float) -> int:
        """0 if the key may make one more request now (a token is spent); else seconds to
        wait (≥ 1). Raises LeaseNeeded. `now`: wall time, for the fallback bucket only."""
        if self.degraded:
            return self.fallback.acquire(key_id, rate, now)
        lease = self._rates.get(key_id)
        if lease is None:
            raise LeaseNeeded
        lease.demand += 1
        lease.rate = rate
        if lease.spent < lease.covered and self.clock() < lease.expires:
            lease.spent += 1
            return 0
        if lease.exhausted and self.clock() < lease.retry_at:  # Redis had no token left: refused here
            return 1
        raise LeaseNeeded

    def cap_reached(self, target: UsageTarget, cap: int) -> bool:
        """Whether the item's period has used up its cap, for this worker's next request.
        Raises LeaseNeeded."""
        period_field = target.period_field
        lease = self._caps.get(period_field)
        if lease is not None and not self.degraded:
            lease.demand += 1
            lease.cap = cap
            if self.tally.served_units(period_field) < lease.covered and self.clock() < lease.expires:
                return False  # units Redis granted this worker within the cap
            if lease.exhausted:  # Redis had no unit left at the last renewal
                return True
            raise LeaseNeeded
        if self.tally.units_this_period(period_field) >= cap:  # every worker's units, as last seen
            return True
        if self.degraded:
            return False
        raise LeaseNeeded

    # -- the async path -----------------------------------------------------------------

    def ready(self, record: AccessRecord) -> bool:
        """Whether this worker's leases can decide the record's request: it holds them, and
        each has units to spend or Redis had none left for it."""
        target = record.target
        if target is None or self.degraded:
            return True
        plan = target.plan
        now = self.clock()
        if plan.rate_limit_per_second is not None:
            rate = self._rates.get(record.key_id_text)
            if rate is None or not ((rate.exhausted and now < rate.retry_at)
                                    or (rate.spent < rate.covered and now < rate.expires)):
                return False
        if plan.cap_units is not None:
            cap = self._caps.get(target.period_field)
            if cap is None or not (cap.exhausted or (
                    self.tally.served_units(target.period_field) < cap.covered and now < cap.expires)):
                return False
        return True

    async def prepare(self, record: AccessRecord) -> None:
        """Take the record's leases on this worker, first ones or a top-up of a spent one:
        one round trip, shared by the requests that wait for the same leases (as a cache
        miss is). A burst after a quiet spell thus gets the bucket Redis kept for it."""
        target = record.target
        if target is None or self.ready(record):
            return
        name = f"{record.key_id_text}|{target.period_field}"
        pending = self._preparing.get(name)
        if pending is None:
            pending = self._preparing[name] = asyncio.ensure_future(self._take_once(name, record, target))
        await asyncio.shield(pending)

    async def _take_once(self, name: str, record: AccessRecord, target: UsageTarget) -> None:
        try:
            await self._take_leases(record, target)
        finally:
            del self._preparing[name]  # before the waiters resume: the next round asks again

    async def _take_leases(self, record: AccessRecord, target: UsageTarget) -> None:
        plan = target.plan
        calls: list[ScriptCall] = []
        now = self.clock()
        self._renewals += 1
        taken: list[tuple[Lease, dict[str, Lease], str]] = []
        rate = plan.rate_limit_per_second
        if rate is not None:
            key_id = record.key_id_text
            rate_lease = self._rates.get(key_id) or RateLease(0, now, now, rate=rate)
            if not ((rate_lease.exhausted and now < rate_lease.retry_at)
                    or (rate_lease.spent < rate_lease.covered and now < rate_lease.expires)):
                share = max(1, math.ceil(rate / self.rate_lease_share))
                settled = self._top_up(rate_lease, rate_lease.spent, share)
                calls.append(self._rate_call(key_id, rate_lease, settled, self._renewals))
                taken.append((rate_lease, self._rates, key_id))  # type: ignore[arg-type]
        cap = plan.cap_units
        if cap is not None:
            period_field = target.period_field
            served = self.tally.served_units(period_field)
            cap_lease = self._caps.get(period_field) or CapLease(
                served, now, now, served, cap=cap, period_end_epoch=target.period_end_epoch)
            if not (cap_lease.exhausted or (served < cap_lease.covered and now < cap_lease.expires)):
                settled = self._top_up(cap_lease, served, min(FIRST_CAP_LEASE_UNITS, cap))
                calls.append(self._cap_call(period_field, cap_lease, settled, self._renewals))
                taken.append((cap_lease, self._caps, period_field))  # type: ignore[arg-type]
        if not taken:
            return
        for lease, _, _ in taken:
            lease.topping_up = True
        try:
            replies = await asyncio.wait_for(run_scripts(self.redis, calls), RENEW_TIMEOUT_SECONDS)
        except RENEW_ERRORS as exc:
            self._failed(exc)
            return
        finally:
            for lease, _, _ in taken:
                lease.topping_up = False
        for (lease, leases, name), reply in zip(taken, replies, strict=True):
            self._granted(lease, reply, now)
            lease.demand += 1  # the request that asked: a renewal before it is decided keeps the lease
            leases.setdefault(name, lease)

    # -- renewal ------------------------------------------------------------------------

    async def run(self, stop: asyncio.Event) -> None:
        """Renew every interval until `stop` is set; then return what is left."""
        while not stop.is_set():
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), self.interval)
            if not stop.is_set():
                await self.try_renew()
        await self.try_renew(final=True)

    async def try_renew(self, *, final: bool = False) -> bool:
        try:
            await asyncio.wait_for(self.renew_once(final=final), RENEW_TIMEOUT_SECONDS)
        except RENEW_ERRORS as exc:
            self._failed(exc)
            return False
        if self.degraded:
            logger.info("limit_leases_renewal_recovered", extra={"worker": self.worker_id})
            self.degraded = False
        return True

    async def renew_once(self, *, final: bool = False) -> None:
        """Settle every lease in one round trip. `final`: return everything, ask for nothing
        (graceful shutdown)."""
        now = self.clock()
        self._renewals += 1
        number = self._renewals
        calls: list[ScriptCall] = []
        sent: list[Lease] = []
        for key_id, rate_lease in list(self._rates.items()):
            settled = self._settle(rate_lease, rate_lease.spent, now, max(rate_lease.rate, 1), final)
            if (rate_lease.demand == 0 and not rate_lease.topping_up) or final:
                del self._rates[key_id]  # idle: its next request takes a first lease again
            rate_lease.demand = 0
            if settled.returned or settled.charged or settled.wanted:
                calls.append(self._rate_call(key_id, rate_lease, settled, number))
                sent.append(rate_lease)
        for period_field, cap_lease in list(self._caps.items()):
            settled = self._settle(cap_lease, self.tally.served_units(period_field), now, cap_lease.cap, final)
            if (cap_lease.demand == 0 and not cap_lease.topping_up) or final:
                del self._caps[period_field]
                self.tally.forget_served(period_field)
            cap_lease.demand = 0
            if settled.returned or settled.charged or settled.wanted:
                calls.append(self._cap_call(period_field, cap_lease, settled, number))
                sent.append(cap_lease)
        if not sent:
            if self.degraded:
                await self.redis.ping()  # recovered only once Redis answers
            return
        replies = await run_scripts(self.redis, calls)
        for lease, reply in zip(sent, replies, strict=True):
            self._granted(lease, reply, now)

    def _rate_call(self, key_id: str, lease: RateLease, settled: Settlement, number: int) -> ScriptCall:
        burst = max(lease.rate, 1)
        ttl_ms = int((burst / max(lease.rate, 1) + 60) * 1000)  # a bucket left alone refills anyway
        return (
            self._rate_script,
            [self.prefix + rate_bucket_key(key_id), self.prefix + rate_marker_key(key_id, self.worker_id)],
            [lease.rate, burst, settled.returned, settled.charged, settled.wanted, number, ttl_ms,
             MARKER_TTL_SECONDS, *([] if self.bucket_clock is None else [f"{self.bucket_clock() * 1e6:.0f}"])],
        )

    def _cap_call(self, period_field: str, lease: CapLease, settled: Settlement, number: int) -> ScriptCall:
        ttl = int(max(lease.period_end_epoch - self.wall_clock(), 0)) + CAP_TTL_AFTER_PERIOD_SECONDS
        return (
            self._cap_script,
            [self.prefix + cap_counter_key(period_field), self.prefix + cap_marker_key(period_field, self.worker_id)],
            [lease.cap, self.tally.redis_total(period_field), settled.returned, settled.charged,
             settled.wanted, number, ttl, MARKER_TTL_SECONDS],
        )

    def _granted(self, lease: Lease, reply: list[int], sent_at: float) -> None:
        granted, left = int(reply[0]), int(reply[1])
        lease.covered += granted
        lease.exhausted = left <= 0
        if lease.exhausted and isinstance(lease, RateLease):
            lease.retry_at = self.clock() + max(1 / max(lease.rate, 1), EXHAUSTED_RETRY_SECONDS)
        if granted:
            lease.expires = sent_at + self.window  # measured from before the request: never later than Redis's

    def _failed(self, exc: BaseException) -> None:
        if not self.degraded:
            logger.warning("limit_leases_renewal_failed", extra={"error": type(exc).__name__})
        self.degraded = True

    def _top_up(self, lease: Lease, spent: int, wanted: int) -> Settlement:
        """A spent or lapsed lease asks for `wanted` more at once; what it held unused
        lapsed, and goes back."""
        charged = max(0, spent - lease.covered)
        unused = max(lease.covered, spent) - spent
        lease.covered = spent
        return Settlement(returned=unused, charged=charged, wanted=wanted)

    def _settle(self, lease: Lease, spent: int, now: float, most: int, final: bool) -> Settlement:
        """Return what the lease does not need, charge what was spent beyond its grants, and
        size the next grant from the demand of the last interval. Units kept stay usable
        during the round trip; units returned or charged are never spent or sent again,
        even if the round trip fails (a lost return only wastes units)."""
        charged = max(0, spent - lease.covered)
        covered = max(lease.covered, spent)
        unused = covered - spent
        elapsed = max(now - lease.renewed_at, self.interval / 4)
        demand = max(lease.demand, spent - lease.spent_at_renewal)
        needed = 0
        if demand and not final:
            needed = min(most, max(1, math.ceil(LEASE_HEADROOM * self.interval * demand / elapsed)))
        kept = min(unused if now < lease.expires else 0, needed)
        lease.covered = spent + kept
        lease.spent_at_renewal = spent
        lease.renewed_at = now
        return Settlement(returned=unused - kept, charged=charged, wanted=needed - kept)
