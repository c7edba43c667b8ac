"""Four uvicorn workers serving concurrently: one flusher among them reports every served
unit to Stripe once, and a graceful stop leaves nothing behind.

A worker's hard crash can lose the units it served since its last tally move (at most
TALLY_FLUSH_INTERVAL_MS of its traffic); that window is measured by the request path's own
test, tests/usage/test_tally_processes.py::test_sigkill_loses_at_most_the_units_since_the_last_move.
"""

from __future__ import annotations

import asyncio
import signal
import time

import httpx

from tests.observability.serving import serving
from tests.usage.faults.processes import environment
from tests.usage.flusher_support import (
    provision,
    settle,
    units_in_stripe,
)


CONTENT = "/v1/content/how-libraries-classify-books"
REQUESTS_PER_CRAWLER = 150
CONCURRENCY = 12
SETTLE_SECONDS = 20


async def test_four_workers_serving_concurrently_report_each_unit_once(
    flush_resources, flush_settings, stripe_server, tmp_path
):
    crawlers = [await provision(flush_resources) for _ in range(2)]
    env = environment(flush_settings, USAGE_FLUSH_INTERVAL_SECONDS="0.5", TALLY_FLUSH_INTERVAL_MS="100",
                      LOG_LEVEL="info", ACCESS_LOG="false")
    served = [0, 0]
    with serving(env, tmp_path, "--workers", "4", "--no-migrate") as server:
        server.wait_ready()
        limit = asyncio.Semaphore(CONCURRENCY)
        async with httpx.AsyncClient(base_url=server.url, timeout=30) as http:

            async def request(index: int) -> None:
                async with limit:
                    crawler = crawlers[index % 2]
                    response = await http.get(CONTENT, headers={"Authorization": f"Bearer {crawler.api_key_secret}"})
                    if response.status_code == 200:  # only served requests are billed
                        served[index % 2] += 1

            await asyncio.gather(*(request(i) for i in range(2 * REQUESTS_PER_CRAWLER)))

        deadline = time.monotonic() + SETTLE_SECONDS  # the service's own flusher catches up
        while time.monotonic() < deadline and [units_in_stripe(stripe_server, c) for c in crawlers] != served:
            await asyncio.sleep(0.25)
        reported_while_serving = [units_in_stripe(stripe_server, c) for c in crawlers]
        # Read before SIGTERM: on shutdown the holder releases the lock, and a worker still
        # draining may legitimately take it over for a last flush.
        log_while_serving = server.log
        server.process.send_signal(signal.SIGTERM)
        server.assert_clean_exit()

    await settle(flush_resources, *crawlers)  # anything moved to Redis during shutdown
    assert min(served) > 0
    assert reported_while_serving == served
    assert [units_in_stripe(stripe_server, c) for c in crawlers] == served
    assert log_while_serving.count("usage_flusher_lock_acquired") == 1  # one flusher among four workers
