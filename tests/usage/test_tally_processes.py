"""What reaches Redis when a real worker process stops: everything on SIGTERM; on SIGKILL,
everything but the units served since its last move (the documented loss window)."""

from __future__ import annotations

import asyncio
import signal

import httpx

from tests.access.helpers import new_crawler, period_total
from tests.access.service_process import running_service

ITEM = "/v1/content/how-libraries-classify-books"
# The longest interval allowed: the test has 5 s after a move before the next one.
SLOW_MOVES = {"TALLY_FLUSH_INTERVAL_MS": "5000"}
BURST = 50


async def serve_until_moved(http, resources, crawler) -> int:
    """One request, then wait for the worker's next move to bring it to Redis (≤ 6 s): right
    after this returns, the worker has just moved its tally."""
    assert (await http.get(ITEM, headers=crawler.headers)).status_code == 200
    for _ in range(120):
        total = await period_total(resources, crawler)
        if total >= 1:
            return total
        await asyncio.sleep(0.05)
    raise AssertionError("the worker never moved its tally")


async def serve_burst(http, crawler) -> None:
    for _ in range(BURST):
        assert (await http.get(ITEM, headers=crawler.headers)).status_code == 200


async def test_sigterm_moves_the_whole_tally_to_redis_before_exit(resources, settings):
    crawler = await new_crawler(resources)
    async with running_service(settings, **SLOW_MOVES) as service:
        async with httpx.AsyncClient(base_url=service.base_url) as http:
            moved = await serve_until_moved(http, resources, crawler)
            await serve_burst(http, crawler)
        assert await period_total(resources, crawler) == moved  # the burst is in memory only
        # uvicorn shuts down gracefully, then re-raises the signal: exit status -SIGTERM.
        assert await service.stop(signal.SIGTERM) in (0, -signal.SIGTERM)
        assert "usage_tally_moved_at_shutdown" in service.log.read_text()
    assert await period_total(resources, crawler) == moved + BURST


async def test_sigkill_loses_at_most_the_units_since_the_last_move(resources, settings):
    crawler = await new_crawler(resources)
    async with running_service(settings, **SLOW_MOVES) as service:
        async with httpx.AsyncClient(base_url=service.base_url) as http:
            moved = await serve_until_moved(http, resources, crawler)
            await serve_burst(http, crawler)
        await service.stop(signal.SIGKILL)
    in_redis = await period_total(resources, crawler)
    lost = moved + BURST - in_redis
    # Everything moved before the crash survives; what was lost was served after the last move.
    assert in_redis >= moved
    assert 0 <= lost <= BURST
