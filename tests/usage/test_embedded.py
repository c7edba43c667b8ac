"""The embedded default (SQLite, in-process Redis, billing off) counts the same way: watermark
ranges written once, per-key days as maxima, a Redis that lost its counters a regression."""

from __future__ import annotations

import asyncio

from sqlalchemy import select

from licensing_api.billing.plans import load_catalogue
from licensing_api.billing.provisioning import provision_local_customer
from licensing_api.db import session_scope
from licensing_api.resources import open_resources
from licensing_api.settings import load_settings
from licensing_api.usage import redis_keys
from licensing_api.usage.cli import usage_status
from licensing_api.usage.flusher import flush_once
from licensing_api.usage.models import KeyDailyUsage, ReportState, UsageReport
from licensing_api.usage.tally import UsageTally
from tests.support import infra


async def test_sqlite_and_memory_redis_count_each_unit_once(tmp_path):
    url = f"sqlite+aiosqlite:///{tmp_path / 'licensing.db'}"
    await asyncio.to_thread(infra.migrate, url)
    settings = load_settings(database_url=url, _env_file=None)
    async with open_resources(settings, load_catalogue(settings.plans_file)) as resources:
        async with session_scope(resources.sessionmaker) as session:
            provisioned = await provision_local_customer(session, "embedded@example.com", resources.catalogue.get("standard"))
        item, key = provisioned.usage_item, provisioned.first_key
        assert key is not None
        field = redis_keys.item_period_field(item.id, item.current_period_start)

        async def serve(units: int) -> None:
            tally = UsageTally(resources.redis, settings.redis_key_prefix)
            tally.add(field, str(key.key.id), item.current_period_start.timestamp() + 60, units)
            await tally.move_once()

        await serve(4)
        await flush_once(resources)
        await serve(3)
        await flush_once(resources)
        await flush_once(resources)
        await resources.redis.flushall()  # the in-process Redis is gone with its process
        await serve(2)
        regressed = await flush_once(resources)

        async with session_scope(resources.sessionmaker) as session:
            reports = list(await session.scalars(select(UsageReport).where(UsageReport.subscription_item_id == item.id)))
            daily = list(await session.scalars(select(KeyDailyUsage).where(KeyDailyUsage.api_key_id == key.key.id)))
        status = await usage_status(resources)

    assert sorted((r.range_start, r.range_end) for r in reports) == [(0, 4), (4, 7)]
    assert {r.state for r in reports} == {ReportState.LOCAL}
    assert [(r.watermark, r.found) for r in regressed.regressions] == [(7, 2)]
    assert [d.units for d in daily] == [7]
    assert status[str(item.id)]["regressed"] == 5 and status[str(item.id)]["local"] == 7
