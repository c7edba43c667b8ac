"""Redis restarting mid-run (append-only persistence) loses and doubles no unit."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from redis.exceptions import RedisError

from licensing_api.usage import counters
from licensing_api.usage.flusher import flush_once
from licensing_api.usage.flusher_task import UsageFlusherTask
from tests.usage.faults.redis_server import RestartableRedis
from tests.usage.flusher_support import opened, provision, serve, settle, units_in_stripe


@pytest.fixture
def own_redis(tmp_path) -> Iterator[RestartableRedis]:
    server = RestartableRedis(tmp_path)
    server.start()
    yield server
    server.stop()


async def test_units_survive_a_redis_restart_mid_run(flush_resources, flush_settings, own_redis, stripe_server):
    item = await provision(flush_resources)
    async with opened(flush_settings.model_copy(update={"redis_url": own_redis.url}), sync=False) as resources:
        await serve(resources, item, 4)
        await flush_once(resources)
        await serve(resources, item, 5)
        await counters.read_changed(resources.redis, resources.settings.redis_key_prefix)  # a flush dies
        await serve(resources, item, 6)  # and units still pending

        own_redis.stop()
        with pytest.raises(RedisError):
            await flush_once(resources)
        background = UsageFlusherTask(resources)
        assert await background.tick() is False  # the background task logs it and carries on
        await background.lock.release()
        own_redis.start()

        await serve(resources, item, 7)
        await settle(resources, item)

    assert units_in_stripe(stripe_server, item) == 4 + 5 + 6 + 7
