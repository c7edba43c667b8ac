"""Threshold notices: each threshold reached sends one `budget_threshold` notice per period,
however many workers check at once; a new period starts afresh; a failed send is retried."""

from __future__ import annotations

import asyncio
from datetime import timedelta
from typing import Any

from licensing_api.accounts.notifier import WebhookNotifier
from licensing_api.billing.renewals import roll_over_local_periods
from licensing_api.budgets.notices import SEND_LEASE, check_budgets
from licensing_api.usage.redis_keys import item_period_field, period_totals_of
from tests.access.helpers import Crawler
from tests.accounts.test_notifier import json_receiver
from tests.budgets.conftest import IN_PERIOD, NEXT_PERIOD, Api, crawler_in_fixed_period

# 90 % of 12.00 is 10.80 (18 units), 95 % is 11.40 (22 units), 100 % is 12.00 (24 units).
BUDGET = {"amount": 1200, "thresholds": [90, 95, 100], "hard_stop": False}


async def set_units(api: Api, crawler: Crawler, units: int, period_start=None) -> None:
    field = item_period_field(crawler.usage_item_id, period_start or crawler.period_start)
    await api.resources.redis.hset(api.resources.redis_key(period_totals_of(field)), field, units)


def of(crawler: Crawler, received: list[dict[str, Any]]) -> list[int]:
    return [n["threshold"] for n in received if n["customer_id"] == str(crawler.customer_id)]


async def test_each_threshold_is_notified_once_as_the_bill_reaches_it(api: Api):
    crawler = await crawler_in_fixed_period(api.resources)
    await api.client.put("/v1/budget", json=BUDGET, headers=crawler.headers)
    with json_receiver() as (url, received):
        notifier = WebhookNotifier(url)
        await check_budgets(api.resources, notifier, IN_PERIOD)
        assert of(crawler, received) == []  # the base fee is 83 %
        await set_units(api, crawler, 18)
        await check_budgets(api.resources, notifier, IN_PERIOD)
        await check_budgets(api.resources, notifier, IN_PERIOD)
        assert of(crawler, received) == [90]
        await set_units(api, crawler, 22)
        await check_budgets(api.resources, notifier, IN_PERIOD)
        assert of(crawler, received) == [90, 95]
        await set_units(api, crawler, 40)
        await check_budgets(api.resources, notifier, IN_PERIOD)
        await check_budgets(api.resources, notifier, IN_PERIOD)
        assert of(crawler, received) == [90, 95, 100]
    notice = next(n for n in received if n["customer_id"] == str(crawler.customer_id) and n["threshold"] == 100)
    assert notice["kind"] == "budget_threshold"
    assert (notice["budget"], notice["amount_so_far"], notice["currency"]) == (1200, 1600, "usd")  # 40 units: 10.00 + 1.00 + 20 × 0.25
    assert notice["period_end"] == "2031-04-01T00:00:00Z"
    assert "100%" in notice["subject"]
    status = (await api.client.get("/v1/budget", headers=crawler.headers)).json()
    assert status["thresholds_notified"] == [90, 95, 100]


async def test_several_workers_checking_at_once_send_each_notice_once(api: Api):
    crawler = await crawler_in_fixed_period(api.resources)
    await api.client.put("/v1/budget", json=BUDGET, headers=crawler.headers)
    await set_units(api, crawler, 30)
    with json_receiver() as (url, received):
        await asyncio.gather(*(check_budgets(api.resources, WebhookNotifier(url), IN_PERIOD) for _ in range(6)))
        await check_budgets(api.resources, WebhookNotifier(url), IN_PERIOD + SEND_LEASE * 2)
    assert sorted(of(crawler, received)) == [90, 95, 100]


async def test_a_new_period_notifies_its_thresholds_again(api: Api):
    crawler = await crawler_in_fixed_period(api.resources)
    await api.client.put("/v1/budget", json=BUDGET, headers=crawler.headers)
    await set_units(api, crawler, 30)
    with json_receiver() as (url, received):
        notifier = WebhookNotifier(url)
        await check_budgets(api.resources, notifier, IN_PERIOD)
        assert sorted(of(crawler, received)) == [90, 95, 100]
        assert crawler.customer_id in await roll_over_local_periods(api.resources, NEXT_PERIOD)
        await check_budgets(api.resources, notifier, NEXT_PERIOD)
        assert len(of(crawler, received)) == 3  # the new period has no units yet
        new_start = (await api.client.get("/v1/usage", headers=crawler.headers)).json()["period_start"]
        assert new_start == "2031-04-01T00:00:00Z"
        await set_units(api, crawler, 18, NEXT_PERIOD.replace(day=1, hour=0))
        await check_budgets(api.resources, notifier, NEXT_PERIOD)
    mine = [n for n in received if n["customer_id"] == str(crawler.customer_id)]
    assert [(n["threshold"], n["period_start"]) for n in mine[3:]] == [(90, "2031-04-01T00:00:00Z")]


async def drain(api: Api) -> None:
    """Send what other tests' budgets have pending, so only this test's notices are due."""
    with json_receiver() as (url, _):
        await check_budgets(api.resources, WebhookNotifier(url), IN_PERIOD + SEND_LEASE * 10)


async def test_a_failed_send_is_retried_when_its_lease_ends_and_sent_once(api: Api):
    crawler = await crawler_in_fixed_period(api.resources)
    await api.client.put("/v1/budget", json={**BUDGET, "thresholds": [100]}, headers=crawler.headers)
    await drain(api)
    await set_units(api, crawler, 24)
    with json_receiver(failures=1) as (url, received):
        notifier = WebhookNotifier(url)
        first = await check_budgets(api.resources, notifier, IN_PERIOD)
        assert (first.claimed, first.failed) == (1, 1) and of(crawler, received) == []
        await check_budgets(api.resources, notifier, IN_PERIOD + timedelta(seconds=1))  # still leased
        assert of(crawler, received) == []
        await check_budgets(api.resources, notifier, IN_PERIOD + SEND_LEASE)
        await check_budgets(api.resources, notifier, IN_PERIOD + SEND_LEASE * 3)
    assert of(crawler, received) == [100]
