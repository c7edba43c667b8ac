"""The hard stop: refused with 429 spend-cap-reached at the exact unit the budget allows,
before the request is served or counted; a new period starts afresh."""

from __future__ import annotations

import asyncio
import hashlib

from licensing_api.billing.renewals import roll_over_local_periods
from tests.access.helpers import Crawler
from tests.budgets.conftest import (
    NEXT_PERIOD, ONE_UNIT, PERIOD_END, THREE_UNITS, Api, crawler_in_fixed_period,
)

BUDGET_1200 = {"amount": 1200, "thresholds": [50, 80, 100], "hard_stop": True}  # 24 units (conftest)


async def put_budget(api: Api, crawler: Crawler, body: dict[str, object]) -> None:
    """PUT the budget and wait for its invalidation (the PUT's own key lookup cached the record)."""
    assert (await api.client.put("/v1/budget", json=body, headers=crawler.headers)).status_code == 200
    await until_uncached(api, crawler)


async def served(api: Api, crawler: Crawler, path: str, times: int) -> list[int]:
    return [(await api.client.get(path, headers=crawler.headers)).status_code for _ in range(times)]


async def test_one_unit_requests_stop_at_the_last_unit_the_budget_pays_for(api):
    crawler = await crawler_in_fixed_period(api.resources)
    await put_budget(api, crawler, BUDGET_1200)
    assert await served(api, crawler, ONE_UNIT, 26) == [200] * 24 + [429, 429]
    assert api.hot_path.tally.units_this_period(crawler.period_field) == 24  # refusals are not counted


async def test_a_dear_path_is_refused_when_its_units_would_pass_the_budget(api):
    crawler = await crawler_in_fixed_period(api.resources)
    await put_budget(api, crawler, BUDGET_1200)
    assert await served(api, crawler, ONE_UNIT, 21) == [200] * 21
    assert await served(api, crawler, THREE_UNITS, 1) == [200]  # 21 + 3 = 24: the bill is 12.00
    assert api.hot_path.tally.units_this_period(crawler.period_field) == 24
    assert await served(api, crawler, ONE_UNIT, 1) == [429]


async def test_a_dear_path_is_refused_while_cheaper_ones_still_fit(api):
    crawler = await crawler_in_fixed_period(api.resources)
    await put_budget(api, crawler, BUDGET_1200)
    assert await served(api, crawler, ONE_UNIT, 22) == [200] * 22
    assert await served(api, crawler, THREE_UNITS, 1) == [429]  # 22 + 3 = 25 units: 12.25
    assert await served(api, crawler, ONE_UNIT, 3) == [200, 200, 429]


async def test_the_refusal_carries_the_budget_the_amount_so_far_and_the_wait_to_the_period_end(api):
    crawler = await crawler_in_fixed_period(api.resources)
    await put_budget(api, crawler, BUDGET_1200)
    await served(api, crawler, ONE_UNIT, 24)
    refused = await api.client.get(ONE_UNIT, headers=crawler.headers)
    assert refused.status_code == 429
    assert refused.headers["content-type"] == "application/problem+json"
    body = refused.json()
    assert body["type"] == "https://licensing-api.dev/problems/spend-cap-reached"
    assert (body["budget"], body["amount_so_far"], body["currency"]) == (1200, 1200, "usd")
    assert body["period_end"] == "2031-04-01T00:00:00Z"
    assert int(refused.headers["Retry-After"]) == int(PERIOD_END.timestamp() - api.clock[0])


async def test_units_other_workers_moved_to_redis_count_toward_the_stop(api):
    crawler = await crawler_in_fixed_period(api.resources)
    await put_budget(api, crawler, BUDGET_1200)
    key = api.resources.redis_key("usage:{0}:period")
    await api.resources.redis.hset(key, crawler.period_field, 23)
    await api.hot_path.tally.move_once()  # the worker reads the period total back
    assert await served(api, crawler, ONE_UNIT, 2) == [200, 429]


async def test_without_the_hard_stop_requests_past_the_budget_are_served(api):
    crawler = await crawler_in_fixed_period(api.resources)
    await put_budget(api, crawler, {**BUDGET_1200, "hard_stop": False})
    assert await served(api, crawler, ONE_UNIT, 26) == [200] * 26


async def test_a_new_period_starts_with_the_whole_budget(api):
    crawler = await crawler_in_fixed_period(api.resources)
    await put_budget(api, crawler, BUDGET_1200)
    assert await served(api, crawler, ONE_UNIT, 25) == [200] * 24 + [429]
    assert crawler.customer_id in await roll_over_local_periods(api.resources, NEXT_PERIOD)
    api.set_now(NEXT_PERIOD)
    await until_uncached(api, crawler)
    assert await served(api, crawler, ONE_UNIT, 25) == [200] * 24 + [429]


async def test_raising_the_budget_takes_effect_on_the_next_request(api):
    crawler = await crawler_in_fixed_period(api.resources)
    await put_budget(api, crawler, BUDGET_1200)
    assert await served(api, crawler, ONE_UNIT, 25) == [200] * 24 + [429]
    await put_budget(api, crawler, {**BUDGET_1200, "amount": 1250})  # 12.50: two more units
    assert await served(api, crawler, ONE_UNIT, 3) == [200, 200, 429]


async def test_putting_a_budget_drops_the_cached_record_on_every_worker(api):
    crawler = await crawler_in_fixed_period(api.resources)
    assert await served(api, crawler, ONE_UNIT, 30) == [200] * 30  # cached, no budget
    digest = hashlib.sha256(crawler.secret.encode()).hexdigest()
    assert api.hot_path.cache.get(digest) is not None
    await api.client.put("/v1/budget", json=BUDGET_1200, headers=crawler.headers)
    await until_uncached(api, crawler)
    assert await served(api, crawler, ONE_UNIT, 1) == [429]


async def test_removing_the_budget_lifts_the_stop(api):
    crawler = await crawler_in_fixed_period(api.resources)
    await put_budget(api, crawler, BUDGET_1200)
    assert await served(api, crawler, ONE_UNIT, 25) == [200] * 24 + [429]
    assert (await api.client.delete("/v1/budget", headers=crawler.headers)).status_code == 204
    await until_uncached(api, crawler)
    assert await served(api, crawler, ONE_UNIT, 1) == [200]


async def until_uncached(api: Api, crawler: Crawler) -> None:
    """Wait (bounded) for the invalidation message to drop the key's cached record."""
    digest = hashlib.sha256(crawler.secret.encode()).hexdigest()
    for _ in range(200):
        if api.hot_path.cache.get(digest) is None:
            return
        await asyncio.sleep(0.01)
    raise AssertionError("the cached record was not dropped")
