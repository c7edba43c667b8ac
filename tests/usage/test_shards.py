"""USAGE_SHARDS > 1 on one Redis (the layout a Redis Cluster uses): a worker's batch split by
shard, every counter in its item's or key's shard, the flush reading every shard, and the
per-key counters the dashboard reads found where they live."""

from __future__ import annotations

import time
from datetime import UTC, datetime

from licensing_api.usage import key_counters, redis_keys
from licensing_api.usage.tally import UsageTally
from tests.usage.flusher_support import opened, period_counter, provision, settle, units_in_stripe

SHARDS = 5


async def test_counters_of_several_shards_are_moved_flushed_and_read_where_they_live(
    flush_resources, flush_settings, stripe_server
):
    items = [await provision(flush_resources) for _ in range(4)]
    async with opened(flush_settings.model_copy(update={"usage_shards": SHARDS}), sync=False) as resources:
        assert redis_keys.SHARDS == SHARDS
        tally = UsageTally(resources.redis, resources.settings.redis_key_prefix)
        now = time.time()
        served = {}
        for units, item in enumerate(items, start=3):
            tally.add(item.field, str(item.api_key_id), now, units)
            served[item.item_id] = units
        assert await tally.move_once() == sum(served.values())  # one batch, one call per shard
        counted = {item.item_id: await period_counter(resources, item) for item in items}
        day = datetime.fromtimestamp(now, UTC).date()
        by_key = await key_counters.key_day_units(
            resources.redis, resources.settings.redis_key_prefix, [(i.api_key_id, day) for i in items])
        marks = await key_counters.last_used_marks(
            resources.redis, resources.settings.redis_key_prefix, [i.api_key_id for i in items])
        await settle(resources, *items)
        in_each_shard = [await resources.redis.hlen(resources.redis_key(redis_keys.period_totals(s)))
                         for s in range(SHARDS)]
        expected = [sum(1 for i in items if redis_keys.shard_of(i.item_id) == s) for s in range(SHARDS)]
    assert redis_keys.SHARDS == 1  # the layout of the resources still open

    assert counted == served
    assert by_key == {(i.api_key_id, day): served[i.item_id] for i in items}
    assert marks == {i.api_key_id: int(now) for i in items}
    assert {i.item_id: units_in_stripe(stripe_server, i) for i in items} == served
    assert in_each_shard == expected and sum(expected) == len(items)
