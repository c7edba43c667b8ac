"""The leases of the global limits (access/leases.py) against the real Redis: grant, renewal,
expiry, return, several workers at once, and the fallback when Redis does not answer.

Time is injected: one test clock drives the workers' lease expiry and the buckets' refills
(which otherwise follow Redis's own clock)."""

from __future__ import annotations

import asyncio
import uuid
from datetime import UTC, datetime, timedelta

import pytest
from redis.asyncio import Redis

from licensing_api.access import leases
from licensing_api.access.leases import GlobalLimits, LeaseNeeded
from licensing_api.access.records import AccessRecord, UsageTarget
from licensing_api.billing.plans import PlanKind, PlanSpec
from licensing_api.usage import redis_keys
from licensing_api.usage.tally import UsageTally
from tests.usage.redis_proxy import RedisProxy

INTERVAL = 0.2
NOW = 1_795_000_000.0


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def plan(rate: int | None = None, cap: int | None = None) -> PlanSpec:
    return PlanSpec(id="p", name="p", kind=PlanKind.FIXED, currency="usd", interval="month", base_amount=100,
                    included_units=0, tiers=(), cap_units=cap, rate_limit_per_second=rate)


def record(rate: int | None = None, cap: int | None = None, item: uuid.UUID | None = None) -> AccessRecord:
    item = item or uuid.uuid4()
    start = datetime.fromtimestamp(NOW, UTC)
    end = start + timedelta(days=30)
    target = UsageTarget(item, start, end, plan(rate, cap), redis_keys.item_period_field(item, start),
                         end.timestamp(), end.isoformat())
    key_id = uuid.uuid4()
    return AccessRecord("digest", key_id, str(key_id), False, uuid.uuid4(), "active", None, target, None)


def worker(redis: Redis, prefix: str, clock: Clock | None = None) -> GlobalLimits:
    clock = clock or Clock()
    # A first lease takes the whole burst here, for round figures; the share is tested below.
    return GlobalLimits(redis, prefix, UsageTally(redis, prefix), INTERVAL, clock=clock, bucket_clock=clock,
                        rate_lease_share=1)


def admitted(limits: GlobalLimits, rec: AccessRecord, requests: int) -> int:
    """Requests the key's rate lets this worker admit (LeaseNeeded: not admitted here)."""
    rate = rec.target.plan.rate_limit_per_second  # type: ignore[union-attr]
    count = 0
    for _ in range(requests):
        try:
            count += limits.take_token(rec.key_id_text, rate, NOW) == 0  # type: ignore[arg-type]
        except LeaseNeeded:
            pass
    return count


def serve_under_cap(limits: GlobalLimits, rec: AccessRecord, requests: int) -> list[str]:
    """Requests checked against the cap, each served one unit when allowed."""
    target = rec.target
    assert target is not None and target.plan.cap_units is not None
    outcomes = []
    for _ in range(requests):
        try:
            reached = limits.cap_reached(target, target.plan.cap_units)
        except LeaseNeeded:
            outcomes.append("lease needed")
            continue
        if not reached:
            limits.tally.add(target.period_field, rec.key_id_text, NOW)
        outcomes.append("cap reached" if reached else "served")
    return outcomes


async def bucket(redis: Redis, prefix: str, rec: AccessRecord) -> float:
    return float(await redis.hget(prefix + leases.rate_bucket_key(rec.key_id_text), "tokens"))  # type: ignore[arg-type]


async def test_a_first_lease_takes_the_burst_and_a_second_worker_finds_the_bucket_empty(redis, prefix):
    rec = record(rate=10)
    ours, theirs = worker(redis, prefix), worker(redis, prefix)
    assert not ours.ready(rec)
    with pytest.raises(LeaseNeeded):  # the request takes the async path, which prepares
        ours.take_token(rec.key_id_text, 10, NOW)
    await ours.prepare(rec)
    await theirs.prepare(rec)
    assert ours.ready(rec) and theirs.ready(rec)
    assert admitted(ours, rec, 15) == 10
    assert admitted(theirs, rec, 5) == 0  # one bucket for the key, whatever the worker
    assert await bucket(redis, prefix, rec) < 1


async def serve_one(limits: GlobalLimits, rec: AccessRecord) -> bool:
    """One request as the guard handles it: a missing or spent lease is prepared, then decided."""
    rate = rec.target.plan.rate_limit_per_second  # type: ignore[union-attr]
    for _ in range(leases.PREPARE_ROUNDS):
        try:
            return limits.take_token(rec.key_id_text, rate, NOW) == 0  # type: ignore[arg-type]
        except LeaseNeeded:
            await limits.prepare(rec)
    return False


async def test_workers_starting_together_each_get_a_share_of_the_burst(redis, prefix):
    """A key well under its rate is never refused because another worker holds the burst."""
    rec = record(rate=8)
    clock = Clock()
    ours, theirs = (GlobalLimits(redis, prefix, UsageTally(redis, prefix), INTERVAL, clock=clock,
                                 bucket_clock=clock) for _ in range(2))
    served = [await serve_one(worker_, rec) for _ in range(4) for worker_ in (ours, theirs)]
    assert served == [True] * 8  # the whole burst, alternating between the workers
    assert not await serve_one(ours, rec) and not await serve_one(theirs, rec)  # and not one more
    assert await bucket(redis, prefix, rec) < 1


async def test_a_worker_that_found_the_bucket_empty_asks_again_once_a_token_refilled(redis, prefix):
    rec = record(rate=10)
    clock = Clock()
    ours, theirs = worker(redis, prefix, clock), worker(redis, prefix, clock)
    await ours.prepare(rec)  # the whole burst
    await theirs.prepare(rec)  # nothing left
    assert theirs.take_token(rec.key_id_text, 10, NOW) == 1  # refused here, no round trip
    clock.now += 0.1  # one token refills
    assert await serve_one(theirs, rec)
    assert not await serve_one(theirs, rec)


async def test_concurrent_first_requests_share_one_round_trip(redis, prefix):
    rec = record(rate=10)
    limits = worker(redis, prefix)
    await asyncio.gather(*(limits.prepare(rec) for _ in range(20)))
    assert admitted(limits, rec, 30) == 10  # one lease taken, not twenty


async def test_a_renewal_grants_what_refilled_to_a_busy_worker(redis, prefix):
    rec = record(rate=100)
    clock = Clock()
    limits = worker(redis, prefix, clock)
    await limits.prepare(rec)
    assert admitted(limits, rec, 130) == 100  # the burst, then the lease is spent
    clock.now += INTERVAL  # 20 tokens refill
    await limits.renew_once()
    assert admitted(limits, rec, 200) == 20
    clock.now += 0.5
    await limits.renew_once()
    assert admitted(limits, rec, 200) == 50


async def test_a_lease_follows_the_demand_and_leaves_the_rest_in_redis(redis, prefix):
    rec = record(rate=100)
    clock = Clock()
    limits = worker(redis, prefix, clock)
    await limits.prepare(rec)
    assert admitted(limits, rec, 99) == 99  # with the request that took the lease: 100 in a second
    clock.now += 1.0  # the bucket is full again
    await limits.renew_once()
    # 100 requests/s, leased for LEASE_HEADROOM intervals: 40 new tokens (the one left lapsed)
    assert admitted(limits, rec, 100) == 100 * leases.LEASE_HEADROOM * INTERVAL
    assert await bucket(redis, prefix, rec) == 60


async def test_a_spent_lease_is_topped_up_at_once_while_redis_has_tokens_and_not_after(redis, prefix):
    rec = record(rate=100)
    clock = Clock()
    limits = worker(redis, prefix, clock)
    await limits.prepare(rec)
    assert admitted(limits, rec, 1) == 1
    clock.now += 1.0
    await limits.renew_once()  # a quiet second: a lease of 1 token, 99 stay in Redis
    assert admitted(limits, rec, 1) == 1
    assert not limits.ready(rec)  # spent, and Redis had tokens left: the next request tops up
    with pytest.raises(LeaseNeeded):
        limits.take_token(rec.key_id_text, 100, NOW)
    await limits.prepare(rec)
    assert admitted(limits, rec, 200) == 99  # the burst Redis kept for the key
    assert limits.ready(rec)  # spent, and Redis had nothing left: refused here, no round trip
    assert admitted(limits, rec, 1) == 0


async def test_an_expired_lease_is_not_spent(redis, prefix):
    rec = record(rate=100)
    clock = Clock()
    limits = worker(redis, prefix, clock)
    await limits.prepare(rec)
    assert admitted(limits, rec, 10) == 10
    clock.now += leases.LEASE_WINDOW_INTERVALS * INTERVAL  # the worker did not renew in time
    assert admitted(limits, rec, 10) == 0


async def test_unused_tokens_go_back_to_the_bucket_and_an_idle_lease_is_dropped(redis, prefix):
    rec = record(rate=100)
    clock = Clock()
    limits = worker(redis, prefix, clock)
    await limits.prepare(rec)
    assert admitted(limits, rec, 29) == 29  # 30 requests with the one that took the lease
    clock.now += INTERVAL  # 20 tokens refill
    await limits.renew_once()  # keeps 60 of its 71 (two intervals of 30 per interval), returns 11
    assert await bucket(redis, prefix, rec) == 31
    clock.now += INTERVAL  # 20 more
    await limits.renew_once()  # no demand: the 60 go back too
    assert not limits.ready(rec)
    assert await bucket(redis, prefix, rec) == 100  # 51 + 60 returned, at most the burst


async def test_shutdown_returns_every_lease(redis, prefix):
    rec = record(rate=100, cap=50)
    limits = worker(redis, prefix)
    await limits.prepare(rec)
    assert admitted(limits, rec, 3) == 3
    serve_under_cap(limits, rec, 3)
    await limits.renew_once(final=True)
    assert await bucket(redis, prefix, rec) == 97
    granted = await redis.get(prefix + leases.cap_counter_key(rec.target.period_field))  # type: ignore[union-attr]
    assert int(granted) == 3  # only what was served stays granted


async def test_a_resent_renewal_returns_its_tokens_once(redis, prefix):
    rec = record(rate=100)
    script = redis.register_script(leases.RATE_SCRIPT)
    keys = [prefix + leases.rate_bucket_key(rec.key_id_text), prefix + leases.rate_marker_key(rec.key_id_text, "w1")]
    now = "1000000000"  # µs, the same moment for every call: no refill
    assert (await script(keys=keys, args=[100, 100, 0, 0, 100, 1, 60_000, 600, now]))[0] == 100
    for _ in range(2):  # the client resent renewal 2 after a lost reply
        await script(keys=keys, args=[100, 100, 40, 0, 0, 2, 60_000, 600, now])
    assert await bucket(redis, prefix, rec) == 40


async def test_each_script_touches_the_keys_of_one_hash_tag(redis, prefix):
    rec = record(rate=10, cap=10)
    limits = worker(redis, prefix)
    await limits.prepare(rec)
    keys = [k.decode() async for k in redis.scan_iter(match=prefix + "limits:*")]
    assert len(keys) == 4  # bucket and marker of the key; counter and marker of the item period
    tags = {key[len(prefix):].split("{", 1)[1].split("}", 1)[0] for key in keys}
    assert tags == {f"key:{rec.key_id_text}", f"item:{rec.target.item_id}"}  # type: ignore[union-attr]


async def test_the_cap_is_shared_by_four_workers_and_never_passed(redis, prefix):
    rec = record(cap=100)
    clock = Clock()
    workers = [worker(redis, prefix, clock) for _ in range(4)]
    for limits in workers:
        await limits.prepare(rec)
    served = [0] * 4
    for _ in range(40):  # rounds of demand and renewal, every worker busy
        for index, limits in enumerate(workers):
            served[index] += serve_under_cap(limits, rec, 3).count("served")
        clock.now += INTERVAL
        await asyncio.gather(*(limits.renew_once() for limits in workers))
    assert sum(served) == 100
    assert all(served)  # every worker had a share
    assert all(limits.cap_reached(rec.target, 100) for limits in workers)  # type: ignore[arg-type]


async def test_the_cap_counts_units_already_in_the_usage_counters(redis, prefix):
    rec = record(cap=100)
    target = rec.target
    assert target is not None
    other = UsageTally(redis, prefix)  # a worker that served before leases existed
    other.add(target.period_field, rec.key_id_text, NOW, 95)
    await other.move_once()
    limits = worker(redis, prefix)
    limits.tally.watch(target.period_field, 95)
    await limits.prepare(rec)
    assert serve_under_cap(limits, rec, 10).count("served") == 5


async def test_four_workers_renewing_concurrently_spend_exactly_the_bucket(redis, prefix):
    rate = 50
    rec = record(rate=rate)
    clock = Clock()
    workers = [worker(redis, prefix, clock) for _ in range(4)]
    await asyncio.gather(*(limits.prepare(rec) for limits in workers))
    spent = sum(admitted(limits, rec, 100) for limits in workers)
    for _ in range(10):
        clock.now += 0.1
        await asyncio.gather(*(limits.renew_once() for limits in workers))
        spent += sum(admitted(limits, rec, 20) for limits in workers)
    assert spent == rate + rate * 1.0  # the burst and one second's refill, not four times that


async def test_without_redis_each_worker_limits_on_its_own(prefix):
    proxy = RedisProxy()
    await proxy.start()
    client = proxy.client()
    try:
        rec = record(rate=5, cap=3)
        limits = worker(client, prefix)
        proxy.go_down()
        await limits.prepare(rec)
        assert limits.degraded and limits.ready(rec)
        assert admitted(limits, rec, 10) == 5  # the per-worker bucket of access/ratelimit.py
        assert serve_under_cap(limits, rec, 5).count("served") == 3  # the worker's own view of the period
        proxy.come_back()
        assert await limits.try_renew()
        assert not limits.degraded and not limits.ready(rec)  # leases again from the next request
    finally:
        await client.aclose()
        await proxy.close()


async def test_a_dear_request_past_the_lease_is_charged_to_redis_so_no_other_worker_serves_it(redis, prefix):
    rec = record(cap=10)
    target = rec.target
    assert target is not None
    clock = Clock()
    ours, theirs = worker(redis, prefix, clock), worker(redis, prefix, clock)
    await ours.prepare(rec)  # all 10 units
    assert serve_under_cap(ours, rec, 9).count("served") == 9
    assert not ours.cap_reached(target, 10)  # one unit left: a request of 3 units is served
    ours.tally.add(target.period_field, rec.key_id_text, NOW, 3)
    clock.now += INTERVAL
    await ours.renew_once()
    granted = await redis.get(prefix + leases.cap_counter_key(target.period_field))
    assert int(granted) == 12  # the cap and the u − 1 = 2 units the dear request went past it
    await theirs.prepare(rec)
    assert theirs.cap_reached(target, 10)
