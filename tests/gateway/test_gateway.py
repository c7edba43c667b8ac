"""The gateway in front of a real origin, as operators run it (both are processes): what a
licensed crawler, a browser and an unknown crawler get, what reaches the origin, and what is
counted. Counts are read from the gateway's own usage headers (one worker: its view is exact)."""

from __future__ import annotations

import hashlib

import httpx
import pytest

from tests.access.helpers import new_crawler
from tests.gateway.processes import rss_peak_kib
from tests.gateway.site import (
    ARTICLE, BIG_FILE, BIG_FILE_BYTES, FREE_ASSET, HOME, SCIENCE, SITE_URL, WARM_UP_FILE,
)
from tests.standards.test_pay_per_crawl import ARTICLE as CONTENT_ARTICLE
from tests.standards.test_pay_per_crawl import CASES
from tests.standards.test_pay_per_crawl import SCIENCE as CONTENT_SCIENCE

BROWSER = {"User-Agent": "Mozilla/5.0 (X11; Linux x86_64) Firefox/128.0", "Accept": "text/html,*/*;q=0.8"}
GPTBOT = {"User-Agent": "Mozilla/5.0 AppleWebKit/537.36 (KHTML, like Gecko; compatible; GPTBot/1.2)"}
# The memory a streamed file may add to the gateway's peak RSS: a tenth of the file's size.
STREAMING_MEMORY_KIB = BIG_FILE_BYTES // 1024 // 10
SITE_PATH = {CONTENT_ARTICLE: ARTICLE, CONTENT_SCIENCE: SCIENCE, "/v1/content": HOME}


async def units_so_far(http: httpx.AsyncClient, crawler) -> int:
    """The crawler's period units, this plain 1-unit request included."""
    response = await http.get(ARTICLE, headers=crawler.headers)
    assert response.status_code == 200, response.text
    return int(response.headers["x-usage-units"])


async def test_a_licensed_crawler_gets_the_origins_bytes_with_its_usage(through_gateway, gateway_resources, site_folder):
    crawler = await new_crawler(gateway_resources, plan="tiny")
    response = await through_gateway.get(ARTICLE, headers=crawler.headers)
    assert response.status_code == 200
    assert response.content == (site_folder / ARTICLE.lstrip("/")).read_bytes()
    assert response.headers["content-type"] == "text/html"
    assert response.headers["x-usage-units"] == "1"
    assert response.headers["crawler-charged"] == "USD 0.00"  # inside the tiny plan's allowance
    assert response.headers["link"] == f'<{SITE_URL}/license.xml>; rel="license"; type="application/rsl+xml"'
    assert response.headers["server"].startswith("SimpleHTTP")  # the origin's, and only one
    assert len(response.headers.get_list("date")) == 1


async def test_a_large_file_streams_through_with_flat_memory(through_gateway, gateway, gateway_resources, site_folder):
    crawler = await new_crawler(gateway_resources, plan="tiny")
    warm_up = await through_gateway.get(WARM_UP_FILE, headers=crawler.headers)
    assert warm_up.content == (site_folder / WARM_UP_FILE.lstrip("/")).read_bytes()
    peak_before = rss_peak_kib(gateway.process.pid)
    digest, size = hashlib.sha256(), 0
    async with through_gateway.stream("GET", BIG_FILE, headers=crawler.headers) as response:
        assert response.status_code == 200
        assert response.headers["content-length"] == str(BIG_FILE_BYTES)
        async for chunk in response.aiter_raw():
            digest.update(chunk)
            size += len(chunk)
    assert size == BIG_FILE_BYTES
    assert digest.hexdigest() == hashlib.sha256((site_folder / BIG_FILE.lstrip("/")).read_bytes()).hexdigest()
    growth = rss_peak_kib(gateway.process.pid) - peak_before
    assert growth < STREAMING_MEMORY_KIB, f"peak RSS grew {growth} KiB streaming {BIG_FILE_BYTES >> 20} MiB"
    assert await units_so_far(through_gateway, crawler) == 3  # warm-up, big file, this one


async def test_a_request_body_streams_to_the_origin(through_gateway, gateway, gateway_resources):
    crawler = await new_crawler(gateway_resources, plan="tiny")
    block = bytes(range(256)) * 4096  # 1 MiB
    sent = hashlib.sha256()

    async def upload():
        for index in range(96):
            chunk = index.to_bytes(4, "big") + block[4:]
            sent.update(chunk)
            yield chunk

    peak_before = rss_peak_kib(gateway.process.pid)
    response = await through_gateway.post("/echo", headers=crawler.headers, content=upload())
    assert response.status_code == 200
    echoed = response.json()
    assert (echoed["body_length"], echoed["body_sha256"]) == (96 * len(block), sent.hexdigest())
    assert rss_peak_kib(gateway.process.pid) - peak_before < STREAMING_MEMORY_KIB


@pytest.mark.parametrize(("path", "status", "body"), [
    ("/articles/missing.html", 404, None),
    ("/fail", 500, b"origin exploded\n"),
    ("/moved", 301, b""),
])
async def test_an_origin_refusal_or_failure_passes_through_unbilled(through_gateway, gateway_resources, path, status, body):
    crawler = await new_crawler(gateway_resources, plan="tiny")
    response = await through_gateway.get(path, headers=crawler.headers)
    assert response.status_code == status
    if body is not None:
        assert response.content == body
    assert "x-usage-units" not in response.headers and "crawler-charged" not in response.headers
    assert await units_so_far(through_gateway, crawler) == 1  # only this request counted


async def test_an_origin_body_that_breaks_off_is_not_passed_off_as_complete(through_gateway, gateway_resources):
    crawler = await new_crawler(gateway_resources, plan="tiny")
    with pytest.raises(httpx.RemoteProtocolError):  # the client sees the connection end early
        await through_gateway.get("/truncated", headers=crawler.headers)
    assert await units_so_far(through_gateway, crawler) == 2  # its 2xx status had arrived: billed


async def test_a_head_request_is_decided_but_not_billed(through_gateway, gateway_resources):
    crawler = await new_crawler(gateway_resources, plan="tiny")
    response = await through_gateway.head(ARTICLE, headers=crawler.headers)
    assert response.status_code == 200 and response.content == b""
    assert "x-usage-units" not in response.headers
    assert await units_so_far(through_gateway, crawler) == 1


async def test_a_browser_passes_free_and_untouched(through_gateway, site_folder):
    response = await through_gateway.get(SCIENCE, headers=BROWSER)
    assert response.status_code == 200
    assert response.content == (site_folder / SCIENCE.lstrip("/")).read_bytes()
    assert not {"x-usage-units", "crawler-charged", "link"} & set(response.headers)


async def test_an_unknown_crawler_without_a_key_gets_the_offer(through_gateway):
    response = await through_gateway.get(ARTICLE, headers=GPTBOT)
    assert response.status_code == 402
    assert response.headers["content-type"] == "application/problem+json"
    problem = response.json()
    assert problem["type"].endswith("/license-required") and problem["instance"] == ARTICLE
    assert response.headers["crawler-price"] == "USD 0.001"  # the per-crawl plan's price
    assert response.headers["www-authenticate"].startswith("Bearer")
    page = await through_gateway.get(ARTICLE, headers={**GPTBOT, "Accept": "text/html"})
    assert page.status_code == 402 and page.headers["content-type"].startswith("text/html")


async def test_a_known_crawler_with_an_unknown_key_is_refused_before_the_origin(through_gateway):
    response = await through_gateway.get("/echo", headers={**GPTBOT, "Authorization": "Bearer lk_" + "x" * 40})
    assert response.status_code == 401
    assert response.json()["type"].endswith("/invalid-api-key")


async def test_free_paths_pass_for_anyone(through_gateway, site_folder):
    response = await through_gateway.get(FREE_ASSET, headers=GPTBOT)
    assert response.status_code == 200 and response.content == (site_folder / FREE_ASSET.lstrip("/")).read_bytes()
    assert "x-usage-units" not in response.headers


@pytest.mark.parametrize("name", CASES, ids=list(CASES))
async def test_pay_per_crawl_headers_behave_as_on_content(through_gateway, gateway_resources, name):
    """The pay-per-crawl table of /v1/content (tests/standards/test_pay_per_crawl.py), on the
    site's own paths priced by the same rules."""
    case = CASES[name]
    crawler = await new_crawler(gateway_resources, plan="tiny")
    for _ in range(case.used):
        assert (await through_gateway.get(ARTICLE, headers=crawler.headers)).status_code == 200
    response = await through_gateway.get(SITE_PATH[case.path], headers={**crawler.headers, **case.headers})
    assert response.status_code == case.status, response.text
    assert response.headers.get("crawler-error") == case.error
    if case.status == 200:
        assert response.headers["crawler-charged"] == case.charged
        counted = int(response.headers["x-usage-units"])
        assert await units_so_far(through_gateway, crawler) == counted + 1
    else:
        assert "crawler-charged" not in response.headers
        assert response.headers["content-type"].startswith("application/problem+json")
        assert await units_so_far(through_gateway, crawler) == case.used + 1  # the refusal counted nothing
    if case.status == 402:
        assert response.headers["crawler-price"] == case.price


async def test_what_reaches_the_origin(through_gateway, gateway_resources, gateway):
    crawler = await new_crawler(gateway_resources, plan="tiny")
    response = await through_gateway.get("/echo?q=1", headers={
        **crawler.headers, "Connection": "keep-alive, x-hop", "X-Hop": "secret", "Keep-Alive": "timeout=5",
        "X-Forwarded-Host": "spoofed.example", "crawler-max-price": "USD 1.00",
    })
    assert response.status_code == 200
    echoed = response.json()
    received = dict(echoed["headers"])
    assert echoed["path"] == "/echo?q=1"
    assert "authorization" not in received  # our credential is not the site's business
    assert not {"x-hop", "keep-alive", "connection"} & set(received)  # hop-by-hop, and what Connection named
    assert received["crawler-max-price"] == "USD 1.00"  # end-to-end headers pass
    host = gateway.base_url.removeprefix("http://")
    assert received["host"] == host  # kept (ORIGIN_PRESERVE_HOST)
    assert (received["x-forwarded-host"], received["x-forwarded-proto"]) == (host, "http")
    assert received["x-forwarded-for"] == "127.0.0.1"
    site_auth = await through_gateway.get("/echo", headers={**BROWSER, "Authorization": "Basic dXNlcjpwdw=="})
    assert dict(site_auth.json()["headers"])["authorization"] == "Basic dXNlcjpwdw=="  # the site's own


async def test_robots_txt_is_the_origins_with_the_terms(through_gateway):
    response = await through_gateway.get("/robots.txt")
    assert response.status_code == 200
    lines = response.text.splitlines()
    assert lines[0] == f"License: {SITE_URL}/license.xml"
    assert "Disallow: /private/" in lines and f"Sitemap: {SITE_URL}/sitemap-extra.xml" in lines
    assert "Content-Signal: search=yes, ai-input=yes, ai-train=no" in lines
    assert not any("elsewhere.example" in line for line in lines)  # the origin's own License: replaced


async def test_license_xml_lists_the_sites_urls(through_gateway):
    response = await through_gateway.get("/license.xml")
    assert response.status_code == 200 and response.headers["content-type"] == "application/rsl+xml"
    assert f'<content url="{SITE_URL}/science/*"' in response.text
    assert f'<content url="{SITE_URL}/*"' in response.text
