"""The per-worker key cache: TTLs, invalidation, and no database query in the steady state."""

from __future__ import annotations

import asyncio
import contextlib
import socket
import uuid

from prometheus_client import REGISTRY
from redis.asyncio import Redis
from sqlalchemy import event

from licensing_api.access.cache import UNHEARD_TTL_SECONDS, AccessCache
from licensing_api.access.invalidation import publish_invalidation
from licensing_api.access.subscriber import apply_invalidation, listen_for_invalidations
from tests.access.helpers import new_crawler

ITEM = "/v1/content/science/tide-pools"


class Clock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def record_for(customer_id: uuid.UUID, digest: str):
    """A stand-in AccessRecord: the cache reads only customer_id and the key's digest."""
    class Record:
        pass

    record = Record()
    record.customer_id = customer_id  # type: ignore[attr-defined]
    record.digest = digest  # type: ignore[attr-defined]
    return record


def test_entries_expire_after_the_ttl_and_unknown_digests_sooner():
    clock = Clock()
    cache = AccessCache(30, clock=clock)
    cache.put("known", record_for(uuid.uuid4(), "known"), cache.generation)  # type: ignore[arg-type]
    cache.put("unknown", None, cache.generation)
    clock.now += 6
    assert cache.get("known") is not None
    assert cache.get("unknown") is None
    clock.now += 25
    assert cache.get("known") is None


def test_a_read_that_raced_with_an_invalidation_is_not_cached():
    cache = AccessCache(30)
    generation = cache.generation
    cache.drop_digest("d")  # an invalidation arrives while the database read is in flight
    cache.put("d", record_for(uuid.uuid4(), "d"), generation)  # type: ignore[arg-type]
    assert cache.get("d") is None


def test_messages_drop_a_customer_a_digest_or_everything():
    cache = AccessCache(30)
    alice, bob = uuid.uuid4(), uuid.uuid4()
    for digest, customer in (("a1", alice), ("a2", alice), ("b1", bob), ("b2", bob)):
        cache.put(digest, record_for(customer, digest), cache.generation)  # type: ignore[arg-type]
    cache.put("nobody", None, cache.generation)
    apply_invalidation(cache, f'{{"customer_id": "{alice}"}}'.encode())
    assert cache.get("a1") is None and cache.get("a2") is None and cache.get("b1") is not None
    apply_invalidation(cache, b'{"key_digest": "nobody"}')
    assert cache.get("nobody") is None and cache.get("b2") is not None
    apply_invalidation(cache, b'{"all": true}')
    assert len(cache) == 0


def test_entries_derived_from_a_key_drop_with_the_key():
    """A license token's entry holds its key's record: revoking the key drops both."""
    cache = AccessCache(30)
    customer = uuid.uuid4()
    cache.put("key", record_for(customer, "key"), cache.generation)  # type: ignore[arg-type]
    cache.put("token", record_for(customer, "key"), cache.generation)  # type: ignore[arg-type]
    cache.put("other", record_for(customer, "other"), cache.generation)  # type: ignore[arg-type]
    apply_invalidation(cache, b'{"key_digest": "key"}')
    assert cache.get("key") is None and cache.get("token") is None and cache.get("other") is not None


def test_an_entry_lives_no_longer_than_its_max_ttl():
    clock = Clock()
    cache = AccessCache(30, clock=clock)
    cache.put("token", record_for(uuid.uuid4(), "key"), cache.generation, max_ttl=10)  # type: ignore[arg-type]
    clock.now += 11
    assert cache.get("token") is None


def test_while_invalidations_are_unheard_entries_live_a_few_seconds_only():
    clock = Clock()
    cache = AccessCache(300, clock=clock)
    cache.hearing_invalidations(False)
    cache.put("key", record_for(uuid.uuid4(), "key"), cache.generation)
    clock.now += UNHEARD_TTL_SECONDS + 0.1
    assert cache.get("key") is None
    cache.hearing_invalidations(True)
    cache.put("key", record_for(uuid.uuid4(), "key"), cache.generation)
    clock.now += 299
    assert cache.get("key") is not None


async def test_a_worker_that_cannot_reach_redis_caches_briefly_and_drops_what_it_had():
    with socket.socket() as probe:  # a port nobody listens on
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    unreachable = Redis(host="127.0.0.1", port=port, socket_connect_timeout=0.2)
    cache = AccessCache(300)
    cache.put("key", record_for(uuid.uuid4(), "key"), cache.generation)
    subscribed = asyncio.Event()
    listener = asyncio.create_task(listen_for_invalidations(unreachable, "t:", cache, subscribed))
    try:
        for _ in range(500):  # redis-py retries the connection for about 3 s first
            if len(cache) == 0:
                break
            await asyncio.sleep(0.02)
        assert len(cache) == 0
        assert cache.ttl_seconds == UNHEARD_TTL_SECONDS
        assert not subscribed.is_set()
    finally:
        listener.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await listener
        await unreachable.aclose()


def test_an_unreadable_message_drops_everything():
    cache = AccessCache(30)
    cache.put("d", None, cache.generation)
    apply_invalidation(cache, b"\xff not json")
    assert len(cache) == 0


class QueryCounter:
    def __init__(self, engine) -> None:
        self.engine = engine.sync_engine
        self.statements: list[str] = []

    def __enter__(self) -> QueryCounter:
        event.listen(self.engine, "before_cursor_execute", self._count)
        return self

    def __exit__(self, *exc: object) -> None:
        event.remove(self.engine, "before_cursor_execute", self._count)

    def _count(self, conn, cursor, statement, *args) -> None:  # type: ignore[no-untyped-def]
        if "api_keys" in statement:  # other tasks of the app (grace check, flusher) query too
            self.statements.append(statement)


async def test_concurrent_misses_read_the_database_once_and_hits_never(api):
    crawler = await new_crawler(api.resources)
    with QueryCounter(api.resources.engine) as queries:
        first = await asyncio.gather(*(api.client.get(ITEM, headers=crawler.headers) for _ in range(20)))
        after_miss = len(queries.statements)
        steady = [await api.client.get(ITEM, headers=crawler.headers) for _ in range(30)]
    assert {r.status_code for r in first + steady} == {200}
    assert after_miss == 1
    assert len(queries.statements) == 1


async def test_an_unknown_key_is_cached_as_unknown(api):
    secret = "lk_" + "u" * 43
    with QueryCounter(api.resources.engine) as queries:
        for _ in range(3):
            response = await api.client.get(ITEM, headers={"X-API-Key": secret})
            assert response.status_code == 401
    assert len(queries.statements) == 1


async def test_an_invalidation_message_makes_the_next_request_read_the_database(api):
    crawler = await new_crawler(api.resources)
    assert (await api.client.get(ITEM, headers=crawler.headers)).status_code == 200
    assert len(api.hot_path.cache) == 1
    await publish_invalidation(
        api.resources.redis, api.resources.settings.redis_key_prefix, customer_id=crawler.customer_id
    )
    for _ in range(50):  # bounded wait for the subscriber task
        if len(api.hot_path.cache) == 0:
            break
        await asyncio.sleep(0.02)
    assert len(api.hot_path.cache) == 0


def lookups_total(result: str) -> float:
    return REGISTRY.get_sample_value("licensing_access_cache_lookups_total", {"result": result}) or 0.0


async def test_lookups_are_counted_per_request_and_published_to_prometheus(api):
    crawler = await new_crawler(api.resources)
    unknown = {"X-API-Key": "lk_" + "n" * 43}
    before = {result: lookups_total(result) for result in ("hit", "miss", "negative")}
    for headers in (crawler.headers, crawler.headers, crawler.headers, unknown, unknown):
        await api.client.get(ITEM, headers=headers)
    api.hot_path.guard.lookups.publish()  # what the worker's task does every second
    assert lookups_total("miss") - before["miss"] == 2
    assert lookups_total("hit") - before["hit"] == 2
    assert lookups_total("negative") - before["negative"] == 1


async def test_the_publishing_worker_drops_its_own_entry_before_redis_answers(api):
    """Read-your-writes: this process's cache is invalidated even if Redis never delivers."""
    crawler = await new_crawler(api.resources)
    assert (await api.client.get(ITEM, headers=crawler.headers)).status_code == 200
    assert len(api.hot_path.cache) == 1

    class UnreachableRedis:
        async def publish(self, channel: str, message: str) -> int:
            raise ConnectionError("Redis is down")

    try:
        await publish_invalidation(
            UnreachableRedis(),  # type: ignore[arg-type]
            api.resources.settings.redis_key_prefix,
            customer_id=crawler.customer_id,
        )
    except ConnectionError:
        pass
    assert len(api.hot_path.cache) == 0
