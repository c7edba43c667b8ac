"""A worker's tally reaches Redis whole, once, in the layout of usage/redis_keys.py."""

from __future__ import annotations

from redis.asyncio import Redis

from licensing_api.usage import redis_keys
from licensing_api.usage.tally import UsageTally

NOON = 1_795_000_000.0  # 2026-11-18T...Z: a fixed moment, so the UTC day is known
DAY = "2026-11-18"
PERIOD_TOTALS = redis_keys.period_totals(0)
KEY_DAYS = redis_keys.key_days(0)
KEY_LAST_USED = redis_keys.key_last_used(0)
CHANGED = redis_keys.changed(0)


async def hash_of(redis: Redis, key: str) -> dict[str, int]:
    return {k.decode(): int(v) for k, v in (await redis.hgetall(key)).items()}


async def test_a_move_adds_to_the_counters_and_marks_them_changed(redis, prefix):
    tally = UsageTally(redis, prefix)
    for _ in range(3):
        tally.add("item-a:100", "key-1", NOON)
    tally.add("item-a:100", "key-2", NOON + 5)
    tally.add("item-b:100", "key-3", NOON)

    assert await tally.move_once() == 5

    assert await hash_of(redis, prefix + PERIOD_TOTALS) == {"item-a:100": 4, "item-b:100": 1}
    assert await redis.smembers(prefix + CHANGED) == {
        b"p|item-a:100", b"p|item-b:100", f"k|key-1:{DAY}".encode(), f"k|key-2:{DAY}".encode(),
        f"k|key-3:{DAY}".encode(),
    }
    assert await hash_of(redis, prefix + KEY_DAYS) == {
        f"key-1:{DAY}": 3, f"key-2:{DAY}": 1, f"key-3:{DAY}": 1,
    }
    assert await hash_of(redis, prefix + KEY_LAST_USED) == {
        "key-1": int(NOON), "key-2": int(NOON + 5), "key-3": int(NOON),
    }
    assert tally.unmoved_total() == 0


async def test_a_request_of_several_units_or_none_counts_exactly_those(redis, prefix):
    """A per-path price rule makes a served request count 3 units, or 0 (free)."""
    tally = UsageTally(redis, prefix)
    assert tally.add("item-a:100", "key-1", NOON, units=3) == 3
    assert tally.add("item-a:100", "key-1", NOON, units=0) == 3
    assert tally.add("item-a:100", "key-1", NOON) == 4
    assert await tally.move_once() == 4
    assert await hash_of(redis, prefix + PERIOD_TOTALS) == {"item-a:100": 4}
    assert await hash_of(redis, prefix + KEY_DAYS) == {f"key-1:{DAY}": 4}


async def test_units_this_period_add_other_workers_moves_to_this_workers_tally(redis, prefix):
    ours, theirs = UsageTally(redis, prefix), UsageTally(redis, prefix)
    theirs.add("item:1", "key-b", NOON)
    theirs.add("item:1", "key-b", NOON)
    await theirs.move_once()
    ours.watch("item:1", 0)
    ours.add("item:1", "key-a", NOON)
    await ours.move_once()  # also reads back the period total every worker contributed to
    assert ours.add("item:1", "key-a", NOON) == 4
    assert ours.units_this_period("item:1") == 4
    assert ours.unmoved_units("item:1") == 1


async def test_key_last_used_never_goes_back_in_time(redis, prefix):
    late, early = UsageTally(redis, prefix), UsageTally(redis, prefix)
    late.add("item:1", "key", NOON + 60)
    early.add("item:1", "key", NOON)
    await late.move_once()
    await early.move_once()
    assert await hash_of(redis, prefix + KEY_LAST_USED) == {"key": int(NOON + 60)}


async def test_while_redis_is_down_units_are_kept_and_moved_once_it_is_back(proxy, redis, prefix):
    client = proxy.client()
    tally = UsageTally(client, prefix)
    tally.add("item:1", "key", NOON)
    await tally.move_once()
    proxy.go_down()
    for _ in range(3):
        tally.add("item:1", "key", NOON)
        assert not await tally.try_move()
    assert tally.unmoved_total() == 3
    assert tally.units_this_period("item:1") == 4  # the worker's own figures stay right
    proxy.come_back()
    tally.add("item:1", "key", NOON)
    assert await tally.try_move()
    assert await hash_of(redis, prefix + PERIOD_TOTALS) == {"item:1": 5}
    await client.aclose()


async def test_a_batch_whose_reply_was_lost_is_not_applied_twice(proxy, redis, prefix):
    client = proxy.client()
    tally = UsageTally(client, prefix)
    tally.add("item:1", "key", NOON)
    await tally.move_once()  # the connection is up and the script loaded
    for _ in range(7):
        tally.add("item:1", "key", NOON)
    proxy.replies_to_drop = 1  # Redis runs the batch; the worker never hears back
    for _ in range(5):
        if await tally.try_move() and tally.unmoved_total() == 0:
            break
    assert tally.unmoved_total() == 0
    assert await hash_of(redis, prefix + PERIOD_TOTALS) == {"item:1": 8}
    await client.aclose()


async def test_the_day_of_per_key_units_is_the_utc_day_of_the_request(redis, prefix):
    tally = UsageTally(redis, prefix)
    midnight = (NOON // 86_400 + 1) * 86_400
    tally.add("item:1", "key", midnight - 1)
    tally.add("item:1", "key", midnight)
    await tally.move_once()
    assert await hash_of(redis, prefix + KEY_DAYS) == {f"key:{DAY}": 1, "key:2026-11-19": 1}


async def test_a_request_may_count_several_units(redis, prefix):
    tally = UsageTally(redis, prefix)
    assert tally.add("item:1", "key", NOON, 3) == 3
    assert tally.add("item:1", "key", NOON, 0) == 3  # a free path counts nothing
    await tally.move_once()
    assert await hash_of(redis, prefix + PERIOD_TOTALS) == {"item:1": 3}
    assert await hash_of(redis, prefix + KEY_DAYS) == {f"key:{DAY}": 3}
