"""A real Debian nginx in front of a real origin, asking forward-auth with `auth_request`
(deploy/gateway/nginx-forward-auth.conf.template, as shipped), with billing on against the
local Stripe server: the documented billing rule holds end to end. Each origin 2xx to a
granted request is billed once (nginx's UDP report); its 3xx/4xx/5xx are not; refusals reach
the crawler whole (a 402 offer's body, through nginx's error_page); browsers pass free."""

from __future__ import annotations

import asyncio
import signal
import socket
import uuid

import httpx

from tests.access.service_process import running_service
from tests.billing.stripe_setup import unique_catalogue, with_billing
from tests.gateway.nginx import running_nginx
from tests.gateway.processes import running_origin
from tests.gateway.site import ARTICLE, SCIENCE, SITE_URL, build_site
from tests.gateway.test_gateway import BROWSER, GPTBOT
from tests.gateway.test_gateway_billing import SCIENCE_RULE
from tests.usage.flusher_support import opened, period_counter, provision, settle, units_in_stripe


def free_udp_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


async def test_nginx_auth_request_bills_only_the_origins_2xx_once(settings, stripe_server, tmp_path):
    plans_file, _ = unique_catalogue(tmp_path, ("standard", "pay-per-crawl"))
    plans_file.write_text(plans_file.read_text() + SCIENCE_RULE)
    billed = with_billing(
        settings, stripe_server, plans_file, usage_flush_interval_seconds=0.1,
        redis_key_prefix=f"{settings.redis_key_prefix}nginx-{uuid.uuid4().hex[:8]}:",
    )
    reports = f"127.0.0.1:{free_udp_port()}"
    site = build_site(tmp_path / "site", big_file=False)
    async with opened(billed) as resources:
        item = await provision(resources, "standard")
        key = {"Authorization": f"Bearer {item.api_key_secret}"}
        async with running_origin(site) as origin, running_service(
            billed, STRIPE_API_KEY=stripe_server.api_key, STRIPE_API_BASE=stripe_server.url,
            USAGE_FLUSH_INTERVAL_SECONDS="0.1", FORWARD_AUTH_REPORT_ADDRESS=reports,
            GATEWAY_PUBLIC_URL=SITE_URL, SESSION_SECRET="s" * 40,
        ) as api:
            async with running_nginx(
                tmp_path / "nginx", "nginx-forward-auth.conf.template",
                LICENSING_API=api.base_url.removeprefix("http://"), SITE_ORIGIN=origin.base_url.removeprefix("http://"),
                LICENSING_REPORTS=reports,
            ) as nginx:
                async with httpx.AsyncClient(base_url=nginx.base_url, timeout=30) as http:
                    served = [await http.get(path, headers=key) for path in (ARTICLE, ARTICLE, SCIENCE)]
                    assert [r.status_code for r in served] == [200, 200, 200], nginx.log()[-2000:]
                    assert served[0].content == (site / ARTICLE.lstrip("/")).read_bytes()
                    # Quoted by the decision: its 3 units plus the reports counted so far (0 to 2).
                    assert 3 <= int(served[2].headers["x-usage-units"]) <= 5
                    assert served[2].headers["crawler-charged"] == "USD 0.00"
                    for path, status in (("/articles/missing.html", 404), ("/fail", 500), ("/moved", 301)):
                        assert (await http.get(path, headers=key)).status_code == status
                    echoed = (await http.get("/echo", headers=key)).json()  # 1 more unit
                    assert "authorization" not in dict(echoed["headers"])
                    offer = await http.get(ARTICLE, headers=GPTBOT)
                    assert offer.status_code == 402, nginx.log()[-2000:]
                    assert offer.headers["content-type"] == "application/problem+json"
                    assert offer.json()["type"].endswith("/license-required") and offer.json()["instance"] == ARTICLE
                    assert offer.headers["crawler-price"] == "USD 0.001"
                    priced = await http.get(ARTICLE, headers={**key, "crawler-exact-price": "USD 9.99"})
                    assert priced.status_code == 402 and priced.headers["crawler-error"] == "InvalidCrawlerExactPrice"
                    bad_key = await http.get(ARTICLE, headers={"Authorization": "Bearer lk_" + "y" * 40})
                    assert bad_key.status_code == 401 and bad_key.json()["type"].endswith("/invalid-api-key")
                    browser = await http.get(SCIENCE, headers=BROWSER)
                    assert browser.status_code == 200 and "x-usage-units" not in browser.headers
                    license_xml = await http.get("/license.xml")
                    assert f'<content url="{SITE_URL}/science/*"' in license_xml.text
                nginx.quit()  # every request logged, so reported, before nginx exits
            for _ in range(200):  # the service takes the datagrams, its tally moves them to Redis
                if await period_counter(resources, item) >= 6:
                    break
                await asyncio.sleep(0.05)
            assert await api.stop(signal.SIGTERM) in (0, -signal.SIGTERM)
        await settle(resources, item)
        assert units_in_stripe(stripe_server, item) == 6  # 1 + 1 + 3 + 1, nothing for 404/500/301/402
