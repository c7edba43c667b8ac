"""Local subscriptions (billing off) roll over by themselves at the period end: caps reset,
the period is anchored as Stripe anchors it, a scheduled plan change starts at the boundary."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import select

from licensing_api.billing.models import Subscription, SubscriptionItem
from licensing_api.billing.renewals import roll_over_local_periods
from licensing_api.db import session_scope, utcnow
from licensing_api.usage.redis_keys import item_period_field, period_totals_of
from tests.access.helpers import new_crawler

pytestmark = pytest.mark.usefixtures("clean_database")  # rolls every local subscription due

ITEM = "/v1/content/repairing-a-bicycle-chain"


def at(year: int, month: int, day: int, hour: int = 10) -> datetime:
    return datetime(year, month, day, hour, tzinfo=UTC)


async def _set_period(resources, crawler, anchor, start, end) -> None:  # type: ignore[no-untyped-def]
    async with session_scope(resources.sessionmaker) as session:
        subscription = await session.scalar(select(Subscription).where(
            Subscription.customer_id == crawler.customer_id))
        subscription.billing_anchor = anchor
        subscription.current_period_start, subscription.current_period_end = start, end
        for item in await session.scalars(select(SubscriptionItem).where(
                SubscriptionItem.subscription_id == subscription.id)):
            item.current_period_start, item.current_period_end = start, end


async def _period(resources, crawler) -> tuple[datetime, datetime]:  # type: ignore[no-untyped-def]
    async with session_scope(resources.sessionmaker) as session:
        item = await session.get(SubscriptionItem, crawler.usage_item_id)
        return item.current_period_start, item.current_period_end


@pytest.mark.parametrize("plan, anchor, period, now, expected", [
    # a month end: periods end on the last day of shorter months
    ("standard", at(2027, 1, 31), (at(2027, 1, 31), at(2027, 2, 28)), at(2027, 3, 2),
     (at(2027, 2, 28), at(2027, 3, 31))),
    # Feb 29 of a leap year, reached exactly at the boundary
    ("standard", at(2028, 1, 31), (at(2028, 1, 31), at(2028, 2, 29)), at(2028, 2, 29),
     (at(2028, 2, 29), at(2028, 3, 31))),
    # Dec 31 into the new year
    ("starter", at(2027, 12, 31), (at(2027, 12, 31), at(2028, 1, 31)), at(2028, 1, 31, 11),
     (at(2028, 1, 31), at(2028, 2, 29))),
    # a yearly plan anchored on Feb 29
    ("standard-annual", at(2028, 2, 29), (at(2028, 2, 29), at(2029, 2, 28)), at(2029, 3, 1),
     (at(2029, 2, 28), at(2030, 2, 28))),
])
async def test_a_local_period_rolls_over_to_the_period_containing_now(
    resources, plan, anchor, period, now, expected
):
    crawler = await new_crawler(resources, plan=plan)
    await _set_period(resources, crawler, anchor, *period)
    assert await roll_over_local_periods(resources, period[1] - timedelta(seconds=1)) == []
    assert await roll_over_local_periods(resources, now) == [crawler.customer_id]
    assert await _period(resources, crawler) == expected
    assert await roll_over_local_periods(resources, now) == []  # once


async def test_a_fixed_plan_at_its_cap_is_served_again_in_the_next_period(client, resources):
    crawler = await new_crawler(resources, plan="starter")
    now = utcnow().replace(microsecond=0)
    anchor = now - timedelta(days=45)
    old_start, old_end = now - timedelta(days=31), now - timedelta(seconds=30)
    await _set_period(resources, crawler, anchor, old_start, old_end)
    cap = resources.catalogue.get("starter").cap_units
    field = item_period_field(crawler.usage_item_id, old_start)
    await resources.redis.hset(resources.redis_key(period_totals_of(field)), field, cap)
    refused = await client.get(ITEM, headers=crawler.headers)
    assert refused.status_code == 429  # the period the service still has is used up

    assert await roll_over_local_periods(resources, now) == [crawler.customer_id]
    start, end = await _period(resources, crawler)
    assert start <= now < end
    for _ in range(100):  # the invalidation reaches this worker's subscriber (bounded)
        served = await client.get(ITEM, headers=crawler.headers)
        if served.status_code == 200:
            break
        await asyncio.sleep(0.02)
    assert served.status_code == 200
    assert served.headers["x-usage-units"] == "1"
