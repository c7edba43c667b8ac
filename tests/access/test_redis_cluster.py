"""The request path's other Redis uses on a real Redis Cluster (REDIS_CLUSTER=true).
Cache invalidation: a message published through one node reaches a worker subscribed on
another, and still does after the node the worker listens on is killed (a master: its
replica promoted); the worker resubscribes. Web Bot Auth nonces: one pipeline of keys in
many slots, each accepted once."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Iterator

import pytest
from redis.crc import key_slot

from licensing_api.access.cache import AccessCache
from licensing_api.access.invalidation import channel_name, publish_invalidation
from licensing_api.access.subscriber import listen_for_invalidations
from licensing_api.bots.nonces import NonceStore
from licensing_api.redis import create_redis
from tests.access.test_cache import record_for
from tests.support.redis_cluster import LocalRedisCluster, started

pytestmark = pytest.mark.redis_cluster

PREFIX = "test:invalidation-cluster:"


@pytest.fixture
def cluster(tmp_path) -> Iterator[LocalRedisCluster]:
    yield from started(tmp_path / "cluster")


def listening_node(cluster: LocalRedisCluster) -> int:
    for port in cluster.running():
        with cluster.client(port) as node:
            if dict(node.pubsub_numsub(channel_name(PREFIX))).get(channel_name(PREFIX).encode()):
                return port
    raise LookupError("nobody subscribed")


async def dropped(cache: AccessCache, digest: str, seconds: float = 10.0) -> bool:
    for _ in range(int(seconds / 0.02)):
        if cache.get(digest) is None:
            return True
        await asyncio.sleep(0.02)
    return False


async def test_invalidations_reach_every_worker_through_a_failover(cluster):
    worker = create_redis(cluster.url, cluster=True)
    other_host = create_redis(f"redis://127.0.0.1:{cluster.ports[-1]}/0", cluster=True)
    cache = AccessCache(ttl_seconds=300)
    subscribed = asyncio.Event()
    listener = asyncio.create_task(listen_for_invalidations(worker, PREFIX, cache, subscribed))
    try:
        await asyncio.wait_for(subscribed.wait(), 10)
        cache.put("first", record_for(uuid.uuid4(), "first"), cache.generation)
        await publish_invalidation(other_host, PREFIX, key_digest="first")
        assert await dropped(cache, "first")

        listened_on = listening_node(cluster)
        was_master = cluster.roles()[listened_on] == "master"
        replica = cluster.replica_of(listened_on) if was_master else None
        cluster.kill(listened_on)
        if replica is not None:
            await asyncio.to_thread(cluster.promote, replica)

        async def delivered() -> bool:
            cache.put("second", record_for(uuid.uuid4(), "second"), cache.generation)
            await publish_invalidation(other_host, PREFIX, key_digest="second")
            return await dropped(cache, "second", seconds=0.5)

        for _ in range(40):  # until the worker has resubscribed
            if subscribed.is_set() and await delivered():
                break
            await asyncio.sleep(0.25)
        else:
            raise AssertionError("no invalidation delivered after the failover")
    finally:
        listener.cancel()
        await asyncio.gather(listener, return_exceptions=True)
        await worker.aclose()
        await other_host.aclose()


async def test_nonces_in_many_slots_are_each_accepted_once(healthy_redis_cluster):
    cluster = healthy_redis_cluster
    redis = create_redis(cluster.url, cluster=True)
    store = NonceStore(redis, PREFIX)
    try:
        nonces = [f"nonce-{i}" for i in range(30)]
        first = await asyncio.gather(*(store.first_use("bot", n, 2_000_000_000, 1_900_000_000) for n in nonces))
        again = await asyncio.gather(*(store.first_use("bot", n, 2_000_000_000, 1_900_000_000) for n in nonces))
        masters = {cluster.master_of_slot(key_slot(store.key("bot", n).encode())) for n in nonces}
    finally:
        await redis.aclose()

    assert first == [True] * 30 and again == [False] * 30
    assert store.round_trips == 2  # each batch of checks is one pipeline
    assert len(masters) == 3  # spread over every master
