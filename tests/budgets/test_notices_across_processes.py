"""Several workers in their own processes (and this one) check the same budgets over and
over: each threshold is still notified exactly once in the period."""

from __future__ import annotations

import asyncio
from typing import Any

from licensing_api.accounts.notifier import WebhookNotifier
from licensing_api.budgets.notices import check_budgets
from licensing_api.usage.redis_keys import period_totals_of
from tests.access.helpers import Crawler
from tests.access.service_process import running_service
from tests.accounts.test_notifier import json_receiver
from tests.budgets.conftest import Api, crawler_in_fixed_period

BUDGET = {"amount": 1200, "thresholds": [90, 95, 100]}


def thresholds_of(crawler: Crawler, received: list[dict[str, Any]]) -> list[int]:
    return sorted(n["threshold"] for n in received if n["customer_id"] == str(crawler.customer_id))


async def past_every_threshold(api: Api, crawler: Crawler) -> None:
    key = api.resources.redis_key(period_totals_of(crawler.period_field))
    await api.resources.redis.hset(key, crawler.period_field, 40)


async def test_three_workers_and_another_process_notify_each_threshold_once(api: Api):
    by_workers = await crawler_in_fixed_period(api.resources)
    contended = await crawler_in_fixed_period(api.resources)
    for crawler in (by_workers, contended):
        await api.client.put("/v1/budget", json=BUDGET, headers=crawler.headers)
    with json_receiver() as (url, received):
        async with running_service(
            api.resources.settings, uvicorn_args=("--workers", "3"),
            NOTIFIER="webhook", NOTIFIER_WEBHOOK_URL=url, BUDGET_CHECK_INTERVAL_SECONDS="0.1",
        ):
            # The workers alone: they do notify.
            await past_every_threshold(api, by_workers)
            for _ in range(300):
                if len(thresholds_of(by_workers, received)) >= 3:
                    break
                await asyncio.sleep(0.05)
            # The workers and this process at once, round after round (on the same clock as
            # the workers: a send lease is measured in real time).
            await past_every_threshold(api, contended)
            for _ in range(40):
                await check_budgets(api.resources, WebhookNotifier(url))
                await asyncio.sleep(0.02)
    assert thresholds_of(by_workers, received) == [90, 95, 100]
    assert thresholds_of(contended, received) == [90, 95, 100]
