"""Debian's Caddy in front of a real origin with `forward_auth` to /v1/authorize
(deploy/gateway/Caddyfile, as shipped): the one-phase billing rule (a request is counted when
it is allowed), refusals answered whole, browsers free, our credentials kept from the site."""

from __future__ import annotations

import asyncio
import shutil
import subprocess
from pathlib import Path

import httpx

from tests.access.helpers import new_crawler
from tests.access.service_process import free_port, running_service
from tests.gateway.processes import running_origin
from tests.gateway.site import ARTICLE, SCIENCE, SITE_URL, build_site
from tests.gateway.test_gateway import BROWSER, GPTBOT

CADDYFILE = Path(__file__).resolve().parents[2] / "deploy" / "gateway" / "Caddyfile"


async def test_caddy_forward_auth_counts_each_allowed_request_once(gateway_settings, gateway_resources, tmp_path):
    caddy = shutil.which("caddy")
    assert caddy, "caddy is not installed: scripts/test installs Debian's caddy package"
    site = build_site(tmp_path / "site", big_file=False)
    crawler = await new_crawler(gateway_resources, plan="tiny")
    port = free_port()
    async with running_origin(site) as origin, running_service(gateway_settings, GATEWAY_PUBLIC_URL=SITE_URL) as api:
        env = {"PATH": "/usr/bin:/bin", "HOME": str(tmp_path), "XDG_DATA_HOME": str(tmp_path), "XDG_CONFIG_HOME": str(tmp_path),
               "SITE_ADDRESS": f"http://127.0.0.1:{port}", "LICENSING_API": api.base_url.removeprefix("http://"),
               "SITE_ORIGIN": origin.base_url.removeprefix("http://")}
        log = (tmp_path / "caddy.log").open("wb")
        process = subprocess.Popen([caddy, "run", "--config", str(CADDYFILE), "--adapter", "caddyfile"],
                                   env=env, stdout=log, stderr=subprocess.STDOUT, cwd=tmp_path)
        try:
            async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{port}", timeout=30) as http:
                for _ in range(100):
                    assert process.poll() is None, (tmp_path / "caddy.log").read_text()[-3000:]
                    try:
                        await http.get("/license.xml")
                        break
                    except httpx.TransportError:
                        await asyncio.sleep(0.1)
                page = await http.get(ARTICLE, headers=crawler.headers)
                assert page.status_code == 200 and page.content == (site / ARTICLE.lstrip("/")).read_bytes()
                assert page.headers["x-usage-units"] == "1"
                assert page.headers["crawler-charged"] == "USD 0.00"
                missing = await http.get("/articles/missing.html", headers=crawler.headers)
                assert missing.status_code == 404  # passed through, and counted: the one-phase bound
                echoed = (await http.get("/echo", headers=crawler.headers)).json()
                assert "authorization" not in dict(echoed["headers"])
                assert echoed["headers"] and "x-usage-units" not in dict(echoed["headers"])
                assert (await http.get(SCIENCE, headers=crawler.headers)).headers["x-usage-units"] == "6"
                offer = await http.get(ARTICLE, headers=GPTBOT)
                assert offer.status_code == 402 and offer.json()["type"].endswith("/license-required")
                assert offer.headers["crawler-price"] == "USD 0.001"
                browser = await http.get(ARTICLE, headers=BROWSER)
                assert browser.status_code == 200 and not browser.headers.get("x-usage-units")
                robots = await http.get("/robots.txt")
                assert robots.text.startswith("License: ")
        finally:
            process.terminate()
            process.wait(20)
            log.close()
