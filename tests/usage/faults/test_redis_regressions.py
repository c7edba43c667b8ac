"""Redis losing its last writes never double-bills: an older snapshot restored after a flush,
an empty Redis in its place, a lagging replica promoted mid-flush. Units are counted on the
Stripe side; each case ends with Stripe ≤ units served, and the regression counted in the
metrics and in `usage status`."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Iterator

import pytest
import redis as redis_sync
from redis.exceptions import RedisError

from licensing_api import metrics
from licensing_api.usage import redis_keys
from licensing_api.usage.cli import usage_status
from licensing_api.usage.flusher import flush_once
from tests.usage.faults.redis_server import RestartableRedis
from tests.usage.faults.tcp_proxy import TcpProxy
from tests.usage.flusher_support import opened, period_counter, provision, serve, settle, units_in_stripe
from tests.usage.redis_proxy import RedisProxy


def regressions() -> float:
    return metrics.USAGE_REDIS_REGRESSIONS.labels("item_period")._value.get()


@pytest.fixture
def own_redis(tmp_path) -> Iterator[RestartableRedis]:
    server = RestartableRedis(tmp_path / "primary")
    server.start()
    yield server
    server.kill()


async def snapshot(resources) -> dict[bytes, bytes]:  # type: ignore[no-untyped-def]
    return {k: await resources.redis.dump(k) async for k in resources.redis.scan_iter(match=b"*")}


async def restore(resources, saved: dict[bytes, bytes]) -> None:  # type: ignore[no-untyped-def]
    """What a Redis restarted from an older persisted state holds."""
    for key, value in saved.items():
        await resources.redis.restore(key, 0, value, replace=True)


async def flushed_after_a_snapshot(resources, item, units_after_snapshot: int) -> dict[bytes, bytes]:  # type: ignore[no-untyped-def]
    """1 unit flushed, 7 more, a snapshot, `units_after_snapshot` more, a flush; the snapshot."""
    await serve(resources, item, 1)
    await flush_once(resources)
    await serve(resources, item, 7)
    saved = await snapshot(resources)
    if units_after_snapshot:
        await serve(resources, item, units_after_snapshot)
    await flush_once(resources)
    return saved


async def test_the_snapshot_of_issue_14_restored_after_a_flush_bills_nothing_twice(
    flush_resources, flush_settings, own_redis, stripe_server
):
    item = await provision(flush_resources)
    async with opened(flush_settings.model_copy(update={"redis_url": own_redis.url}), sync=False) as resources:
        saved = await flushed_after_a_snapshot(resources, item, 0)
        assert units_in_stripe(stripe_server, item) == 8

        await restore(resources, saved)
        await settle(resources, item)

    assert units_in_stripe(stripe_server, item) == 8  # was 1 → 8 → 15 for 8 served


async def test_a_snapshot_older_than_a_flush_is_a_counted_regression(
    flush_resources, flush_settings, own_redis, stripe_server
):
    item = await provision(flush_resources)
    async with opened(flush_settings.model_copy(update={"redis_url": own_redis.url}), sync=False) as resources:
        saved = await flushed_after_a_snapshot(resources, item, 3)
        assert units_in_stripe(stripe_server, item) == 11
        before = regressions()

        await restore(resources, saved)  # Redis holds 8 of the 11 the ledger reported
        await settle(resources, item)
        status = await usage_status(resources)
        raised = await period_counter(resources, item)
        await serve(resources, item, 2)
        await settle(resources, item)

    assert units_in_stripe(stripe_server, item) == 13 == 1 + 7 + 3 + 2
    assert regressions() == before + 1
    assert status[str(item.item_id)]["regressed"] == 3
    assert raised == 11  # back to the ledger's watermark, so later units count from there


async def test_an_empty_redis_in_its_place_reports_nothing_twice(flush_resources, flush_settings, own_redis, stripe_server):
    item = await provision(flush_resources)
    settings = flush_settings.model_copy(update={"redis_url": own_redis.url})
    async with opened(settings, sync=False) as resources:
        await serve(resources, item, 9)
        await settle(resources, item)
    own_redis.replace_with_empty()
    before = regressions()
    async with opened(settings, sync=False) as resources:
        await serve(resources, item, 4)
        await settle(resources, item)
        status = await usage_status(resources)
        await serve(resources, item, 6)
        await settle(resources, item)

    assert units_in_stripe(stripe_server, item) == 9 + 6  # the 4 fell below the watermark of 9
    assert regressions() == before + 1
    assert status[str(item.item_id)]["regressed"] == 5 and status[str(item.item_id)]["reported"] == 9


@pytest.fixture
async def primary_and_replica(tmp_path) -> AsyncIterator[tuple[RestartableRedis, RestartableRedis, TcpProxy]]:
    """A primary, and a real second redis-server replicating it through a link we can cut."""
    primary = RestartableRedis(tmp_path / "primary")
    primary.start()
    link = TcpProxy("127.0.0.1", primary.port)
    await link.start()
    replica = RestartableRedis(tmp_path / "replica", "--replicaof", "127.0.0.1", str(link.port))
    replica.start()
    try:
        client = redis_sync.Redis.from_url(replica.url)
        await _wait_for(lambda: client.info("replication").get("master_link_status") == "up")
        client.close()
        yield primary, replica, link
    finally:
        await link.cut()
        replica.kill()
        primary.kill()


async def _wait_for(condition, seconds: float = 10.0) -> None:  # type: ignore[no-untyped-def]
    for _ in range(int(seconds / 0.05)):
        if await asyncio.to_thread(condition):
            return
        await asyncio.sleep(0.05)
    raise AssertionError("condition not met in time")


async def test_a_lagging_replica_promoted_mid_flush_reports_nothing_twice(
    flush_resources, flush_settings, primary_and_replica, stripe_server
):
    primary, replica, link = primary_and_replica
    front = RedisProxy("127.0.0.1", primary.port)  # what the service connects to (a failover address)
    await front.start()
    item = await provision(flush_resources)
    try:
        async with opened(flush_settings.model_copy(update={"redis_url": front.url}), sync=False) as resources:
            await serve(resources, item, 5)
            replica_client = redis_sync.Redis.from_url(replica.url)
            key = resources.redis_key(redis_keys.period_totals_of(item.field))
            await _wait_for(lambda: replica_client.hget(key, item.field) == b"5")
            await link.cut()  # the replica stops receiving writes
            await serve(resources, item, 4)  # on the primary only
            stripe_server.inject_fault("POST", "/v1/billing/meter_events", "delay", count=1, seconds=1.0)
            flushing = asyncio.create_task(flush_once(resources))
            await asyncio.sleep(0.5)  # the ledger holds 9; the meter event is on its way to Stripe

            replica_client.execute_command("REPLICAOF", "NO", "ONE")  # the failover
            front.upstream = ("127.0.0.1", replica.port)
            front.go_down()
            front.come_back()
            primary.kill()
            await flushing
            with contextlib.suppress(RedisError):  # the first command on a cut connection fails
                await resources.redis.ping()
            before = regressions()

            await serve(resources, item, 3)  # the promoted replica holds 5 + 3 = 8 < 9
            await settle(resources, item)
            regressed = (await usage_status(resources))[str(item.item_id)]["regressed"]
            await serve(resources, item, 2)
            await settle(resources, item)
            replica_client.close()
    finally:
        await front.close()

    assert units_in_stripe(stripe_server, item) == 9 + 2  # 14 served; never more than that
    assert regressions() == before + 1
    assert regressed == 1
