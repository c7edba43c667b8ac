"""A renewal (Stripe's `customer.subscription.updated` with the next period, delivered over
HTTP) drops the cached access record at once: the next unit counts in the new period."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime

import httpx
from sqlalchemy import select

from licensing_api.billing.models import SubscriptionItem
from licensing_api.billing.provisioning import usage_item_of
from licensing_api.db import session_scope
from licensing_api.usage.redis_keys import item_period_field, period_totals_of
from tests.stripe_server.helpers import advance_clock
from tests.webhooks.builders import subscription_row
from tests.webhooks.served import provision, wait_for_deliveries

CLOCK_START = int(datetime(2027, 12, 31, 9, tzinfo=UTC).timestamp())  # renews Jan 31, then Feb 29
ITEM = "/v1/content/repairing-a-bicycle-chain"


async def _units(resources, field: str) -> int:  # type: ignore[no-untyped-def]
    return int(await resources.redis.hget(resources.redis_key(period_totals_of(field)), field) or 0)


async def test_after_a_renewal_units_count_in_the_new_period_at_once(served, synced, stripe_server, stripe_client):
    clock = stripe_client.v1.test_helpers.test_clocks.create({"frozen_time": CLOCK_START})
    customer, subscription_id, key = await provision(synced, stripe_client, clock=clock.id)
    before = await subscription_row(synced, subscription_id)
    async with session_scope(synced.sessionmaker) as session:
        usage_item_id = usage_item_of(list(await session.scalars(select(SubscriptionItem).where(
            SubscriptionItem.subscription_id == before.id)))).id
    old_field = item_period_field(usage_item_id, before.current_period_start)
    async with httpx.AsyncClient(base_url=served.url, timeout=10) as http:
        assert (await http.get(ITEM, headers={"Authorization": f"Bearer {key}"})).status_code == 200
        await asyncio.to_thread(advance_clock, stripe_client, clock.id,
                                int(before.current_period_end.timestamp()) + 60)
        await asyncio.to_thread(wait_for_deliveries, stripe_server, served)
        renewed = await subscription_row(synced, subscription_id)
        assert renewed.current_period_start == before.current_period_end
        new_field = item_period_field(usage_item_id, renewed.current_period_start)
        await asyncio.sleep(0.3)  # the served worker's subscriber hears the invalidation
        assert (await http.get(ITEM, headers={"Authorization": f"Bearer {key}"})).status_code == 200
        for _ in range(100):  # the worker's tally reaches Redis (every 200 ms)
            if await _units(synced, new_field):
                break
            await asyncio.sleep(0.05)
    assert (await _units(synced, old_field), await _units(synced, new_field)) == (1, 1)
