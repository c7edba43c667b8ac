"""PostgreSQL going away mid-run loses and doubles no unit: not between reading Redis's
counters and the ledger write, not between Stripe's acknowledgement and marking the report
sent, and not when the flusher's lock connection is killed."""

from __future__ import annotations

import asyncio
from urllib.parse import urlsplit

import pytest
from sqlalchemy import text
from sqlalchemy.exc import SQLAlchemyError

from licensing_api.usage import counters
from licensing_api.usage.flusher import flush_once
from licensing_api.usage.flusher_task import UsageFlusherTask
from tests.usage.faults.tcp_proxy import TcpProxy
from tests.usage.flusher_support import opened, provision, serve, settle, units_in_stripe


DATABASE_DOWN = (SQLAlchemyError, OSError)


@pytest.fixture
async def proxy(flush_settings):
    url = urlsplit(flush_settings.database_url)
    server = TcpProxy(url.hostname or "127.0.0.1", url.port or 5432)
    await server.start()
    yield server
    await server.cut()


def through(settings, proxy):
    url = urlsplit(settings.database_url)
    return settings.model_copy(update={"database_url": url._replace(netloc=f"{url.username}@127.0.0.1:{proxy.port}").geturl()})


async def test_database_down_after_reading_redis_leaves_the_counters_marked(
    flush_resources, flush_settings, proxy, stripe_server
):
    item = await provision(flush_resources)
    async with opened(through(flush_settings, proxy), sync=False) as resources:
        await serve(resources, item, 12)
        await proxy.cut()
        with pytest.raises(DATABASE_DOWN):
            await flush_once(resources)
        assert await counters.changed_count(resources.redis, resources.settings.redis_key_prefix) == 2

        await proxy.start()
        await serve(resources, item, 1)
        await settle(resources, item)

    assert units_in_stripe(stripe_server, item) == 13


async def test_database_down_after_stripe_acknowledged_resends_without_doubling(
    flush_resources, flush_settings, proxy, stripe_server
):
    item = await provision(flush_resources)
    stripe_server.inject_fault("POST", "/v1/billing/meter_events", "delay", count=1, seconds=1.0)
    async with opened(through(flush_settings, proxy), sync=False) as resources:
        await serve(resources, item, 21)
        flushing = asyncio.create_task(flush_once(resources))
        await asyncio.sleep(0.5)  # the meter event is on its way to Stripe
        await proxy.cut()
        with pytest.raises(DATABASE_DOWN):
            await flushing
        assert units_in_stripe(stripe_server, item) == 21

        await proxy.start()
        await settle(resources, item)

    assert units_in_stripe(stripe_server, item) == 21


async def test_a_killed_lock_connection_hands_over_leadership(flush_resources, flush_settings, stripe_server):
    item = await provision(flush_resources)
    async with opened(flush_settings, sync=False) as resources:
        leader = UsageFlusherTask(resources)
        assert await leader.tick()
        async with resources.engine.connect() as admin:
            await admin.execute(text(
                "SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
                "WHERE datname = current_database() AND pid <> pg_backend_pid()"))
        await serve(resources, item, 5)

        ticks = [await leader.tick() for _ in range(3)]
        await leader.lock.release()

    assert ticks[0] is False and any(ticks[1:])  # lost the lock, then took it back
    assert units_in_stripe(stripe_server, item) == 5
