"""The gateway's billing on the Stripe side: with billing on against the local Stripe server,
only the origin's 2xx answers to licensed requests reach Stripe, each exactly once; its
3xx/4xx/5xx, a HEAD, a refused price, a slow origin (504) and an origin outage (502) never do."""

from __future__ import annotations

import signal
import uuid

import httpx

from tests.billing.stripe_setup import unique_catalogue, with_billing
from tests.gateway.processes import running_gateway, running_origin
from tests.gateway.site import ARTICLE, SCIENCE, SITE_URL, build_site
from tests.usage.flusher_support import opened, provision, settle, units_in_stripe

SCIENCE_RULE = '\n[[price_rules]]\npath = "/science/*"\nunits = 3\n'


async def test_only_origin_2xx_answers_are_billed_once_in_stripe(settings, stripe_server, tmp_path):
    plans_file, _ = unique_catalogue(tmp_path, ("standard", "pay-per-crawl"))
    plans_file.write_text(plans_file.read_text() + SCIENCE_RULE)
    billed = with_billing(
        settings, stripe_server, plans_file, usage_flush_interval_seconds=0.1, gateway_public_url=SITE_URL,
        redis_key_prefix=f"{settings.redis_key_prefix}gw-billing-{uuid.uuid4().hex[:8]}:",
    )
    site = build_site(tmp_path / "site", big_file=False)
    async with opened(billed) as resources:
        item = await provision(resources, "standard")
        key = {"Authorization": f"Bearer {item.api_key_secret}"}
        async with running_origin(site) as origin, running_gateway(
            billed, origin.base_url, ORIGIN_TIMEOUT_SECONDS="1", GATEWAY_PUBLIC_URL=SITE_URL,
        ) as gateway:
            async with httpx.AsyncClient(base_url=gateway.base_url, timeout=30) as http:
                statuses = [(await http.get(path, headers=key)).status_code for path in (ARTICLE, ARTICLE, ARTICLE, SCIENCE)]
                assert statuses == [200, 200, 200, 200]  # 1 + 1 + 1 + 3 units
                for path, status in (("/articles/missing.html", 404), ("/fail", 500), ("/moved", 301)):
                    assert (await http.get(path, headers=key)).status_code == status
                assert (await http.head(ARTICLE, headers=key)).status_code == 200
                refused = await http.get(ARTICLE, headers={**key, "crawler-exact-price": "USD 9.99"})
                assert refused.status_code == 402 and refused.headers["crawler-error"] == "InvalidCrawlerExactPrice"
                slow = await http.get("/slow", headers=key)
                assert slow.status_code == 504 and slow.json()["type"].endswith("/origin-timeout")
                origin.stop()
                down = await http.get(ARTICLE, headers=key)
                assert down.status_code == 502 and down.json()["type"].endswith("/origin-unreachable")
                assert down.headers["content-type"] == "application/problem+json"
            # SIGTERM: a graceful stop, the tally's last units moved to Redis (uvicorn re-raises it)
            assert await gateway.stop(signal.SIGTERM) in (0, -signal.SIGTERM)
        await settle(resources, item)
        assert units_in_stripe(stripe_server, item) == 6  # counted by the Stripe server itself
