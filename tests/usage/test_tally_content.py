"""The tally's units per content path and UTC day reach `content:{d:<day>}` in Redis, outside
the billing script, survive a failed move, and stay bounded per worker."""

from __future__ import annotations

from redis.asyncio import Redis
from redis.exceptions import ConnectionError as RedisConnectionError

from licensing_api.usage import redis_keys
from licensing_api.usage.tally import UsageTally

NOON = 1_795_000_000.0  # 2026-11-18T...Z: a fixed moment, so the UTC day is known
DAY, NEXT_DAY = "2026-11-18", "2026-11-19"
SECONDS_PER_DAY = 86_400


async def content_of(redis: Redis, prefix: str, day: str) -> dict[str, int]:
    return {k.decode(): int(v) for k, v in (await redis.hgetall(prefix + redis_keys.content_day(day))).items()}


def test_a_content_days_key_is_one_slot_of_its_own():
    assert redis_keys.content_day(DAY) == "content:{d:2026-11-18}"


async def test_units_per_path_and_day_reach_redis_with_an_expiry(redis, prefix):
    tally = UsageTally(redis, prefix)
    tally.add("item:100", "key-1", NOON, 1, "/v1/content/a")
    tally.add("item:100", "key-2", NOON + 1, 3, "/v1/content/a")  # a dear path: 3 units
    tally.add("item:100", "key-1", NOON + 2, 1, "/docs/b")
    tally.add("item:100", "key-1", NOON + 3, 0, "/v1/content")  # free: no units, no row
    tally.add("item:100", "key-1", NOON + SECONDS_PER_DAY, 2, "/v1/content/a")  # the next UTC day

    assert await tally.move_once() == 7

    assert await content_of(redis, prefix, DAY) == {"/v1/content/a": 4, "/docs/b": 1}
    assert await content_of(redis, prefix, NEXT_DAY) == {"/v1/content/a": 2}
    ttl = await redis.ttl(prefix + redis_keys.content_day(DAY))
    assert redis_keys.CONTENT_DAY_TTL_SECONDS - 60 < ttl <= redis_keys.CONTENT_DAY_TTL_SECONDS
    assert tally.unmoved_content() == 0
    # The billing counters are the script's, as before: the content counts are not in them.
    period = await redis.hgetall(prefix + redis_keys.period_totals(0))
    assert {k.decode(): int(v) for k, v in period.items()} == {"item:100": 7}


async def test_several_workers_add_up_and_a_second_move_adds_only_the_new_units(redis, prefix):
    first, second = UsageTally(redis, prefix), UsageTally(redis, prefix)
    first.add("item:1", "key", NOON, 1, "/a")
    second.add("item:1", "key", NOON, 2, "/a")
    await first.move_once()
    await second.move_once()
    first.add("item:1", "key", NOON + 5, 1, "/a")
    await first.move_once()
    await first.move_once()  # nothing new: adds nothing
    assert await content_of(redis, prefix, DAY) == {"/a": 4}


async def test_while_redis_is_down_the_path_counts_are_kept_and_moved_once_it_is_back(proxy, redis, prefix):
    client = proxy.client()
    tally = UsageTally(client, prefix)
    tally.add("item:1", "key", NOON, 1, "/a")
    await tally.move_once()
    proxy.go_down()
    for second in range(3):
        tally.add("item:1", "key", NOON + second, 1, "/a")
        assert not await tally.try_move()
    tally.add("item:1", "key", NOON + SECONDS_PER_DAY, 1, "/b")
    assert not await tally.try_move()
    assert tally.unmoved_content() == 4
    proxy.come_back()
    assert await tally.try_move()
    assert await content_of(redis, prefix, DAY) == {"/a": 4}
    assert await content_of(redis, prefix, NEXT_DAY) == {"/b": 1}
    assert tally.unmoved_content() == 0
    await client.aclose()


class FailingPipeline:
    """A pipeline whose commands never reach Redis."""

    def __init__(self) -> None:
        self.commands = 0

    def hincrby(self, *args: object) -> None:
        self.commands += 1

    def expire(self, *args: object) -> None:
        self.commands += 1

    async def execute(self) -> list[object]:
        raise RedisConnectionError("connection reset")


async def test_a_failed_content_move_keeps_its_counts_and_never_holds_the_billing_counters(redis, prefix):
    tally = UsageTally(redis, prefix)
    tally.add("item:1", "key", NOON, 2, "/a")
    real_pipeline = redis.pipeline
    tally.redis = type("OnlyPipelinesFail", (), {"pipeline": lambda self, **_: FailingPipeline()})()
    assert not await tally.try_move()

    period = await redis.hgetall(prefix + redis_keys.period_totals(0))
    assert {k.decode(): int(v) for k, v in period.items()} == {"item:1": 2}  # billed units moved
    assert tally.unmoved_total() == 0
    assert tally.unmoved_content() == 2 and await content_of(redis, prefix, DAY) == {}

    tally.add("item:1", "key", NOON + 1, 1, "/a")
    tally.redis = type("Pipelines", (), {"pipeline": lambda self, **kw: real_pipeline(**kw)})()
    assert await tally.try_move()
    assert await content_of(redis, prefix, DAY) == {"/a": 3}


async def test_paths_beyond_the_cap_count_as_other(redis, prefix):
    tally = UsageTally(redis, prefix)
    tally.max_content_paths = 3
    for n in range(5):
        tally.add("item:1", "key", NOON, 1, f"/p{n}")
    tally.add("item:1", "key", NOON, 1, "/p0")  # a path already kept is still its own
    tally.add("item:1", "key", NOON, 2, "/p9")
    await tally.move_once()
    assert await content_of(redis, prefix, DAY) == {"/p0": 2, "/p1": 1, "/p2": 1, redis_keys.OTHER_CONTENT: 4}


async def test_counts_kept_from_failed_moves_stay_within_the_cap(redis, prefix):
    tally = UsageTally(redis, prefix)
    tally.max_content_paths = 2
    real_pipeline = redis.pipeline
    tally.redis = type("OnlyPipelinesFail", (), {"pipeline": lambda self, **_: FailingPipeline()})()
    tally.add("item:1", "key", NOON, 1, "/a")
    tally.add("item:1", "key", NOON, 1, "/b")
    assert not await tally.try_move()
    tally.add("item:1", "key", NOON, 1, "/c")  # a new path, kept apart until the next move
    tally.add("item:1", "key", NOON, 1, "/a")
    assert not await tally.try_move()  # "/c" joins the kept day: over the cap
    tally.redis = type("Pipelines", (), {"pipeline": lambda self, **kw: real_pipeline(**kw)})()
    assert await tally.try_move()
    assert await content_of(redis, prefix, DAY) == {"/a": 2, "/b": 1, redis_keys.OTHER_CONTENT: 1}
