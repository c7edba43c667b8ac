"""The usage pipeline on a real Redis Cluster (REDIS_CLUSTER=true, 3 masters + 3 replicas):
the counters spread over the masters by shard, every script on one slot, and the flush
invariants hold. Healthy: units on Stripe == units served. A master killed mid-run (its
replica cut off first, so the writes it had not replicated are really lost) and the replica
promoted: units on Stripe ≤ units served, and the shortfall is exactly what the workers
detected as batches Redis acknowledged and then lost; nothing billed was among them (the
flusher waits for the replicas to confirm what it read)."""

from __future__ import annotations

import asyncio
import contextlib
import os
import random
import signal
import time
from collections.abc import Iterator

import pytest
from redis.crc import key_slot
from redis.exceptions import RedisError

from licensing_api import metrics
from licensing_api.usage import redis_keys
from licensing_api.usage.cli import usage_status
from licensing_api.usage.flusher import flush_once
from licensing_api.usage.tally import UsageTally
from tests.support.redis_cluster import LocalRedisCluster, started
from tests.usage.flusher_support import BilledItem, opened, provision, settle, units_in_stripe

pytestmark = pytest.mark.redis_cluster

ITEMS = 6
WORKERS = 2
MOVE_INTERVAL_SECONDS = 0.05
FLUSH_INTERVAL_SECONDS = 0.2


@pytest.fixture
def cluster(tmp_path) -> Iterator[LocalRedisCluster]:
    yield from started(tmp_path / "cluster")


def cluster_settings(flush_settings, cluster: LocalRedisCluster):  # type: ignore[no-untyped-def]
    return flush_settings.model_copy(update={"redis_url": cluster.url, "redis_cluster": True})


def slot_of(resources, item: BilledItem) -> int:  # type: ignore[no-untyped-def]
    return key_slot(resources.redis_key(redis_keys.period_totals_of(item.field)).encode())


def on_master(cluster: LocalRedisCluster, resources, item: BilledItem) -> int:  # type: ignore[no-untyped-def]
    """The item's period counter read straight from the master of its slot (no redirects)."""
    with cluster.client(cluster.master_of_slot(slot_of(resources, item))) as master:
        return int(master.hget(resources.redis_key(redis_keys.period_totals_of(item.field)), item.field))


def lost_units() -> float:
    return metrics.USAGE_REDIS_LOST_UNITS._value.get()


def regressions() -> float:
    return metrics.USAGE_REDIS_REGRESSIONS.labels("item_period")._value.get()


class Traffic:
    """Workers' tallies taking requests, their movers and one flusher, all running until
    `stop`; `served` counts every unit handed to a tally (what the crawlers were served)."""

    def __init__(self, resources, items: list[BilledItem]) -> None:  # type: ignore[no-untyped-def]
        self.resources = resources
        self.items = items
        self.tallies = [UsageTally(resources.redis, resources.settings.redis_key_prefix)
                        for _ in range(WORKERS)]
        self.served = {item.item_id: 0 for item in items}
        self.flush_failures = 0
        self._stop_load, self._stop_rest = asyncio.Event(), asyncio.Event()
        self._tasks: list[asyncio.Task[None]] = []

    def start(self) -> None:
        self._tasks = [asyncio.create_task(self._load()), asyncio.create_task(self._flusher())]
        self._tasks += [asyncio.create_task(t.run_mover(MOVE_INTERVAL_SECONDS, self._stop_rest))
                        for t in self.tallies]

    async def _load(self) -> None:
        rng = random.Random(20)
        while not self._stop_load.is_set():
            for _ in range(20):
                item = rng.choice(self.items)
                units = rng.randint(1, 3)
                rng.choice(self.tallies).add(item.field, str(item.api_key_id), time.time(), units)
                self.served[item.item_id] += units
            await asyncio.sleep(0.005)

    async def _flusher(self) -> None:
        while not self._stop_rest.is_set():
            try:
                await flush_once(self.resources)
            except RedisError:  # a master down, a replica not confirming: the next flush retries
                self.flush_failures += 1
            await asyncio.sleep(FLUSH_INTERVAL_SECONDS)

    async def stop(self) -> None:
        self._stop_load.set()
        await asyncio.sleep(0.05)
        self._stop_rest.set()
        await asyncio.gather(*self._tasks)
        for tally in self.tallies:
            await tally.final_move()
            assert tally.unmoved_total() == 0

    @property
    def lost(self) -> int:
        return sum(t.lost_units for t in self.tallies)


async def provision_spread(flush_resources, resources, cluster) -> list[BilledItem]:  # type: ignore[no-untyped-def]
    """ITEMS customers, more if needed until their counters live on two masters or more."""
    items: list[BilledItem] = []
    while len(items) < ITEMS or len({cluster.master_of_slot(slot_of(resources, i)) for i in items}) < 2:
        assert len(items) < 4 * ITEMS
        items.append(await provision(flush_resources))
    return items


async def test_a_healthy_cluster_bills_every_unit_served_once(
    flush_resources, flush_settings, healthy_redis_cluster, stripe_server, caplog
):
    cluster = healthy_redis_cluster
    async with opened(cluster_settings(flush_settings, cluster), sync=False) as resources:
        assert redis_keys.SHARDS == 12
        items = await provision_spread(flush_resources, resources, cluster)
        traffic = Traffic(resources, items)
        traffic.start()
        await asyncio.sleep(1.5)
        await traffic.stop()
        await settle(resources, *items)
        on_their_masters = {item.item_id: on_master(cluster, resources, item) for item in items}
        status = await usage_status(resources)
        units = {item.item_id: units_in_stripe(stripe_server, item) for item in items}

    assert on_their_masters == traffic.served  # each counter where its shard's slot lives
    assert units == traffic.served
    assert {i.item_id: status[str(i.item_id)]["reported"] for i in items} == traffic.served
    assert all(status[str(i.item_id)]["pending_redis"] == 0 for i in items)
    assert all(n > 0 for n in units.values())
    assert traffic.lost == 0 and traffic.flush_failures == 0
    assert "usage_shard_unread" not in caplog.text


async def test_a_master_killed_mid_run_bills_no_unit_twice_and_counts_what_it_lost(
    flush_resources, flush_settings, cluster, stripe_server, caplog
):
    lost_before, regressions_before = lost_units(), regressions()
    async with opened(cluster_settings(flush_settings, cluster), sync=False) as resources:
        items = await provision_spread(flush_resources, resources, cluster)
        victim = cluster.master_of_slot(slot_of(resources, items[0]))
        replica = cluster.replica_of(victim)
        traffic = Traffic(resources, items)
        traffic.start()
        await asyncio.sleep(0.8)

        # The replica is cut off (frozen, its link dropped); the master keeps acknowledging
        # writes (workers' batches; the flusher's reads, which it can no longer confirm), then
        # dies, and the replica is promoted without them.
        os.kill(cluster.processes[replica].pid, signal.SIGSTOP)
        with cluster.client(victim) as master:
            master.execute_command("CLIENT", "KILL", "TYPE", "replica")
        await asyncio.sleep(1.0)
        cluster.kill(victim)
        os.kill(cluster.processes[replica].pid, signal.SIGCONT)
        await asyncio.to_thread(cluster.promote, replica)
        await asyncio.sleep(1.0)  # traffic goes on against the promoted replica

        await traffic.stop()
        with contextlib.suppress(RedisError):
            await settle(resources, *items)
        await settle(resources, *items)
        units = {item.item_id: units_in_stripe(stripe_server, item) for item in items}

    shortfall = sum(traffic.served.values()) - sum(units.values())
    assert all(units[i] <= traffic.served[i] for i in units)  # never more than served
    assert all(n > 0 for n in units.values())
    assert "usage_shard_unread" in caplog.text  # its shards waited for the cut-off replica
    assert traffic.lost > 0  # the frozen replica missed acknowledged batches: really lost
    assert shortfall == traffic.lost == lost_units() - lost_before  # every lost unit detected
    assert regressions() == regressions_before  # nothing billed was lost: no counter fell below the ledger
    assert "usage_redis_lost_batches" in caplog.text


async def test_the_service_on_a_cluster_serves_counts_and_bills_requests(
    flush_resources, flush_settings, healthy_redis_cluster, stripe_server
):
    cluster = healthy_redis_cluster
    from asgi_lifespan import LifespanManager
    from httpx import ASGITransport, AsyncClient

    from licensing_api.main import create_app

    crawler = await provision(flush_resources)
    app = create_app(cluster_settings(flush_settings, cluster).model_copy(update={"tally_flush_interval_ms": 50}))
    async with LifespanManager(app) as manager:
        async with AsyncClient(transport=ASGITransport(app=manager.app), base_url="http://testserver") as http:
            statuses = [
                (await http.get("/v1/content/how-libraries-classify-books",
                                headers={"Authorization": f"Bearer {crawler.api_key_secret}"})).status_code
                for _ in range(5)
            ]
            usage = await http.get("/v1/usage", headers={"Authorization": f"Bearer {crawler.api_key_secret}"})
        for _ in range(100):  # the service's own mover and flusher
            if units_in_stripe(stripe_server, crawler) == 5:
                break
            await asyncio.sleep(0.1)

    assert statuses == [200] * 5
    assert usage.status_code == 200
    assert units_in_stripe(stripe_server, crawler) == 5
