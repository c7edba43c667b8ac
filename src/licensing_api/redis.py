"""Redis client construction: `redis://` for the real server (or, with REDIS_CLUSTER, any
node of a Redis Cluster), `memory://` in-process."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager
from typing import Any

from redis.asyncio import ConnectionPool, Redis
from redis.asyncio.cluster import RedisCluster
from redis.commands.core import AsyncScript
from redis.exceptions import RedisError

# The service's Redis. Every command it sends names keys of one hash slot (`usage/redis_keys.py`),
# so the cluster client routes each to the one master serving it.
RedisClient = Redis | RedisCluster

REPLICATION_WAIT_MS = 2000


class UnreplicatedRead(RedisError):
    """A cluster master's replicas did not confirm what was read from it in time."""


def create_redis(url: str, *, cluster: bool = False) -> Redis:
    if url == "memory://":
        # Import here: fakeredis is only needed for the embedded single-process default.
        import fakeredis

        return fakeredis.FakeAsyncRedis(server=fakeredis.FakeServer(), decode_responses=False)
    if cluster:
        # Typed as `Redis`: the commands the service uses have the same signatures on both.
        return RedisCluster.from_url(url, decode_responses=False)  # type: ignore[return-value]
    return Redis.from_url(url, decode_responses=False, health_check_interval=30)


def is_cluster(redis: object) -> bool:
    return isinstance(redis, RedisCluster)


ScriptCall = tuple[AsyncScript, list[str], list[Any]]


async def run_scripts(redis: Redis, calls: Sequence[ScriptCall]) -> list[Any]:
    """Several Lua script calls in one round trip, replies in order: one pipeline on a single
    Redis; on a Redis Cluster (whose pipelines refuse scripts) concurrent calls, each to the
    master of its keys' slot. The first error is raised either way."""
    if is_cluster(redis):
        return list(await asyncio.gather(*(script(keys=keys, args=args) for script, keys, args in calls)))
    pipe = redis.pipeline(transaction=False)
    for script, keys, args in calls:
        await script(keys=keys, args=args, client=pipe)
    return list(await pipe.execute())


@asynccontextmanager
async def slot_master(redis: Redis, key: str) -> AsyncIterator[Redis]:
    """A client of the one node that serves `key`'s slot as its master (on a single Redis, the
    client itself). Commands naming another slot fail (MOVED), as do they all if the node is
    no longer that slot's master: safe, the caller just retries."""
    if not is_cluster(redis):
        yield redis
        return
    await redis.initialize()  # type: ignore[attr-defined]  # a no-op once it knows the slots
    async with _node_client(redis.get_node_from_key(key)) as direct:  # type: ignore[attr-defined]
        yield direct


@asynccontextmanager
async def any_node(redis: Redis, turn: int) -> AsyncIterator[Redis]:
    """For pub/sub: on a cluster, a client of one of its nodes (the next one at each `turn`,
    so a dead node is left behind); classic pub/sub messages reach every node. On a single
    Redis, the client itself."""
    if not is_cluster(redis):
        yield redis
        return
    await redis.initialize()  # type: ignore[attr-defined]
    nodes = redis.get_nodes()  # type: ignore[attr-defined]
    async with _node_client(nodes[turn % len(nodes)]) as direct:
        yield direct


@asynccontextmanager
async def _node_client(node: Any) -> AsyncIterator[Redis]:
    pool = ConnectionPool(connection_class=node.connection_class, **node.connection_kwargs)
    direct = Redis(connection_pool=pool)
    try:
        yield direct
    finally:
        await direct.aclose()
        await pool.disconnect()


async def confirm_replicated(master: Redis, mark_key: str, mark: str) -> None:
    """On a cluster master reached through `slot_master`: return once every replica it has
    holds everything read from it so far, else raise `UnreplicatedRead`.

    Why: replication is asynchronous, so a master that dies may take its last writes with it
    and its replica, promoted, continues without them. A value read from the master and then
    lost this way must not have been acted on (the flusher would bill units that the promoted
    replica counts again). WAIT confirms the replication of its own connection's writes, so
    a write (`mark_key` ← `mark`) sent after every read puts a point in the replication
    stream after every value read, and WAIT, on the same connection (one pipeline), waits
    for the replicas to reach it.

    Every replica the cluster lists for this master must confirm, connected or not: one cut
    off for a while can still be promoted. So a replica that is down holds back the reads
    of its master until it is back (or removed from the cluster with CLUSTER FORGET).
    """
    node_id = await master.execute_command("CLUSTER", "MYID")
    replicas = len(await master.execute_command("CLUSTER", "REPLICAS", node_id))
    async with master.pipeline(transaction=False) as pipe:
        pipe.set(mark_key, mark)
        pipe.execute_command("WAIT", replicas, REPLICATION_WAIT_MS)
        _, confirmed = await pipe.execute()
    if int(confirmed) < replicas:
        raise UnreplicatedRead(f"{confirmed} of {replicas} replica(s) confirmed in {REPLICATION_WAIT_MS} ms")
