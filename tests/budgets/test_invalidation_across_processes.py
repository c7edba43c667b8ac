"""A budget put through one process reaches another process's worker that cached the key
for an hour (ACCESS_CACHE_TTL_SECONDS=3600): only the invalidation message can do that."""

from __future__ import annotations

import asyncio

import httpx

from tests.access.service_process import running_service
from tests.budgets.conftest import ONE_UNIT, Api, crawler_in_fixed_period


async def test_a_hard_stop_put_elsewhere_is_enforced_by_a_worker_that_cached_the_key(api: Api):
    crawler = await crawler_in_fixed_period(api.resources)
    async with running_service(api.resources.settings, ACCESS_CACHE_TTL_SECONDS="3600") as service:
        async with httpx.AsyncClient(base_url=service.base_url) as http:
            statuses = [(await http.get(ONE_UNIT, headers=crawler.headers)).status_code for _ in range(30)]
            assert statuses == [200] * 30  # cached there, no budget: past 24 units
            put = await api.client.put("/v1/budget", json={"amount": 1200, "hard_stop": True}, headers=crawler.headers)
            assert put.status_code == 200
            for _ in range(500):  # bounded wait for the message; no timing asserted
                refused = await http.get(ONE_UNIT, headers=crawler.headers)
                if refused.status_code == 429:
                    break
                await asyncio.sleep(0.01)
            assert refused.status_code == 429
            assert refused.json()["type"].endswith("/spend-cap-reached")
