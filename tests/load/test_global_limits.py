"""Global limits across four real workers (`licensing-api serve --workers 4`, PostgreSQL,
Redis, the local Stripe server): a key limited to R requests/s under load from many
connections gets at most the bucket's burst plus R × duration of 200s (README "Global
limits": leases never create tokens), and not far fewer; a capped plan stops at its cap,
counted on the Stripe side. Every 200 is billed exactly once. Each test prints what it
measured (run with `-s`).

Per-worker limits would give up to 4 × R × duration here, and 4 × the cap's last interval."""

from __future__ import annotations

import asyncio
import os
import signal
import time
import uuid
from collections import Counter
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from licensing_api.access import leases
from licensing_api.resources import Resources
from licensing_api.settings import Settings
from tests.billing.stripe_setup import with_billing
from tests.observability.serving import serving
from tests.usage.faults.processes import environment
from tests.usage.flusher_support import BilledItem, opened, provision, settle

CONTENT = "/v1/content/how-libraries-classify-books"
WORKERS = 4
CONNECTIONS = 24
RATE = 40  # requests per second per key
RATE_SECONDS = 4.0
CAP = 300  # units per period
CAP_SECONDS_MAX = 15.0  # the load stops earlier, once every answer is the cap's refusal
CAP_QUIET_SECONDS = 1.5
TALLY_INTERVAL_MS = 200
START_SECONDS = 60  # the default: leases renew at this interval


def catalogue(suffix: str) -> str:
    return f"""
[plans.limited-{suffix}]
name = "Limited"
kind = "metered"
currency = "usd"
unit_amount_decimal = "0.1"
rate_limit_per_second = {RATE}

[plans.capped-{suffix}]
name = "Capped"
kind = "metered"
currency = "usd"
unit_amount_decimal = "0.1"
cap_units = {CAP}
"""


@pytest.fixture
async def limits_resources(settings: Settings, stripe_server: Any, tmp_path: Path) -> AsyncIterator[Resources]:
    plans = tmp_path / "plans.toml"
    plans.write_text(catalogue(uuid.uuid4().hex[:8]))
    prefix = f"{settings.redis_key_prefix}limits-{uuid.uuid4().hex[:8]}:"
    configured = with_billing(settings, stripe_server, plans, redis_key_prefix=prefix,
                              usage_flush_interval_seconds=0.5)
    async with opened(configured) as resources:
        yield resources


def units_in_stripe_summaries(stripe_server: Any, item: BilledItem) -> int:
    """The meter's event summary for the customer, through the Stripe SDK."""
    client = stripe_server.stripe_client()
    stripe_server.validate_meter_events()  # summaries follow validation, as on Stripe
    meter = next(m for m in client.v1.billing.meters.list({"limit": 100}).data if m.event_name == item.event_name)
    now = int(time.time())
    hour = now - now % 3600
    summaries = client.v1.billing.meters.event_summaries.list(
        meter.id, {"customer": item.stripe_customer_id, "start_time": hour - 3600, "end_time": hour + 3600})
    return int(sum(s.aggregated_value for s in summaries.data))


async def hammer(
    url: str, item: BilledItem, *, seconds: float, stop_when_capped: bool = False
) -> tuple[Counter[str], float]:
    """Many connections asking as fast as they can; the answers by status (429s by problem
    type) and the seconds from the first request to the last answer."""
    answers: Counter[str] = Counter()
    headers = {"Authorization": f"Bearer {item.api_key_secret}"}
    started = time.monotonic()
    deadline = started + seconds
    last_served = [started]
    # A new connection per request: the workers take turns accepting, so every one of them serves.
    limits = httpx.Limits(max_connections=CONNECTIONS, max_keepalive_connections=0)
    async with httpx.AsyncClient(base_url=url, timeout=30, limits=limits) as http:

        async def connection() -> None:
            while (now := time.monotonic()) < deadline:
                if stop_when_capped and answers["usage-cap-reached"] and now - last_served[0] > CAP_QUIET_SECONDS:
                    return
                response = await http.get(CONTENT, headers=headers)
                if response.status_code == 200:
                    answers["200"] += 1
                    last_served[0] = time.monotonic()
                elif response.status_code == 429:
                    answers[response.json()["type"].rsplit("/", 1)[1]] += 1
                else:
                    answers[str(response.status_code)] += 1

        await asyncio.gather(*(connection() for _ in range(CONNECTIONS)))
    return answers, time.monotonic() - started


async def all_workers_started(server: Any) -> None:
    """The first worker answers /healthz before the others are up (a loaded machine)."""
    deadline = time.monotonic() + START_SECONDS
    while server.log.count("Application startup complete.") < WORKERS:
        assert time.monotonic() < deadline, server.log
        await asyncio.sleep(0.1)


async def serve_and_bill(resources: Resources, stripe_server: Any, tmp_path: Path, item: BilledItem,
                         **load: Any) -> tuple[Counter[str], float, int]:
    env = environment(resources.settings, TALLY_FLUSH_INTERVAL_MS=str(TALLY_INTERVAL_MS), ACCESS_LOG="false",
                      LOG_LEVEL="info", USAGE_FLUSH_INTERVAL_SECONDS="0.5")
    with serving(env, tmp_path, "--workers", str(WORKERS), "--no-migrate") as server:
        server.wait_ready()
        await all_workers_started(server)
        answers, seconds = await hammer(server.url, item, **load)
        server.process.send_signal(signal.SIGTERM)
        server.assert_clean_exit()
        log = server.log
    print(f"\n{log.count('limit_leases_renewal_failed')} renewals failed (fallback to per-worker limits), "
          f"{log.count(' died')} workers restarted by the supervisor", end="")
    await settle(resources, item)
    return answers, seconds, units_in_stripe_summaries(stripe_server, item)


async def test_four_workers_hold_a_key_to_its_rate(limits_resources, stripe_server, tmp_path):
    item = await provision(limits_resources, plan="limited")
    answers, seconds, billed = await serve_and_bill(limits_resources, stripe_server, tmp_path, item,
                                                    seconds=RATE_SECONDS)
    served = answers["200"]
    bound = RATE + RATE * seconds  # the burst (one second of the rate) and what refills meanwhile
    ideal = RATE * seconds
    print(f"\nrate {RATE}/s over {seconds:.2f} s, {WORKERS} workers, {CONNECTIONS} connections: "
          f"{served} served (R x duration = {ideal:.0f}; bound burst + R x duration = {bound:.0f}; "
          f"overshoot over R x duration {served / ideal - 1:+.1%}, over the bound {served / bound - 1:+.1%}; "
          f"per-worker limits would allow {WORKERS * bound:.0f}); answers {dict(answers)}; "
          f"load average {os.getloadavg()[0]:.2f}")
    assert set(answers) <= {"200", "rate-limited"}, answers
    assert answers["rate-limited"] > served  # the load was well above the rate
    assert served <= bound
    assert served >= 0.7 * ideal  # the leases do not starve the key: utilisation
    assert billed == served  # units = 200s, counted by Stripe


async def test_four_workers_stop_a_capped_plan_at_its_cap(limits_resources, stripe_server, tmp_path):
    item = await provision(limits_resources, plan="capped")
    answers, seconds, billed = await serve_and_bill(limits_resources, stripe_server, tmp_path, item,
                                                    seconds=CAP_SECONDS_MAX, stop_when_capped=True)
    served = answers["200"]
    print(f"\ncap {CAP} units, {WORKERS} workers, {CONNECTIONS} connections, {seconds:.2f} s: {served} served, "
          f"{billed} billed in Stripe (overshoot {billed - CAP:+d} units, {billed / CAP - 1:+.1%}); "
          f"answers {dict(answers)}; load average {os.getloadavg()[0]:.2f}")
    assert set(answers) <= {"200", "usage-cap-reached", "rate-limited"}, answers
    assert answers["usage-cap-reached"] > 0
    assert billed == served  # units = 200s
    assert billed <= CAP  # one unit per request, served without awaiting: the bound is 0 units over
    # Not far under: a worker the supervisor restarted (a loaded machine) strands its lease.
    assert billed >= CAP - WORKERS * leases.FIRST_CAP_LEASE_UNITS
