"""`GET /v1/authorize` (forward-auth) in-process: the decision for the request an edge names,
billed at once (Traefik, Caddy) or, with `billing=report`, when the edge's UDP report says
the origin answered 2xx (each grant once)."""

from __future__ import annotations

import asyncio
import base64
import socket
from collections.abc import AsyncIterator
from dataclasses import dataclass

import pytest
from asgi_lifespan import LifespanManager
from httpx import ASGITransport, AsyncClient

from licensing_api.gateway.grants import GrantSigner
from licensing_api.gateway.reports import EdgeReports
from licensing_api.main import create_app
from licensing_api.resources import Resources
from licensing_api.usage.tally import UsageTally
from tests.access.helpers import new_crawler
from tests.gateway.site import ARTICLE, FREE_ASSET, HOME, SCIENCE
from tests.gateway.test_gateway import BROWSER, GPTBOT


@dataclass
class Api:
    http: AsyncClient
    resources: Resources
    reports: EdgeReports
    report_port: int
    tally: UsageTally


def free_udp_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


@pytest.fixture
async def api(gateway_settings) -> AsyncIterator[Api]:
    port = free_udp_port()
    app = create_app(gateway_settings.model_copy(update={"forward_auth_report_address": f"127.0.0.1:{port}"}))
    async with LifespanManager(app) as manager:
        state = manager._state  # type: ignore[attr-defined]
        transport = ASGITransport(app=manager.app)  # type: ignore[arg-type]
        async with AsyncClient(transport=transport, base_url="http://testserver") as http:
            yield Api(http, state["resources"], state["edge_reports"], port, state["hot_path"].tally)


async def authorize(api: Api, uri: str, headers: dict[str, str] | None = None, method: str = "GET", **params: str):
    edge = {"X-Original-URI": uri, "X-Original-Method": method, "X-Forwarded-Host": "site.test",
            "X-Forwarded-Proto": "https"}
    return await api.http.get("/v1/authorize", headers={**edge, **(headers or {})}, params=params)


def report(api: Api, *lines: bytes) -> None:
    """What nginx's `access_log syslog:` sends: one datagram per line, syslog framing around it."""
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sender:
        for line in lines:
            sender.sendto(b"<190>Dec 31 23:59:59 edge licensing: " + line, ("127.0.0.1", api.report_port))


async def until(condition, rounds: int = 250) -> None:
    for _ in range(rounds):
        if condition():
            return
        await asyncio.sleep(0.02)
    raise AssertionError("the reports were not processed")


async def test_the_edge_must_name_the_original_request(api):
    response = await api.http.get("/v1/authorize", headers=GPTBOT)
    assert response.status_code == 400
    assert response.json()["type"].endswith("/invalid-forward-auth-request")
    unknown = await authorize(api, ARTICLE, GPTBOT, billing="later")
    assert unknown.status_code == 400


async def test_browsers_and_free_paths_pass_without_a_decision(api):
    for uri, headers in ((ARTICLE, BROWSER), (FREE_ASSET, GPTBOT)):
        response = await authorize(api, uri, headers)
        assert response.status_code == 200
        assert "x-usage-units" not in response.headers and "link" not in response.headers


async def test_a_keyless_crawler_gets_the_offer_for_the_original_path(api):
    response = await authorize(api, SCIENCE + "?page=2", GPTBOT)
    assert response.status_code == 402
    assert response.json()["instance"] == SCIENCE
    assert response.headers["crawler-price"] == "USD 0.003"  # the /science/* rule: 3 units per crawl
    home = await authorize(api, HOME, GPTBOT)
    assert home.status_code == 200  # a 0-unit rule is served to anyone


async def test_without_a_report_an_allowed_request_is_counted_at_once(api):
    crawler = await new_crawler(api.resources, plan="tiny")
    first = await authorize(api, ARTICLE, crawler.headers)
    assert first.status_code == 200 and first.headers["x-usage-units"] == "1"
    traefik = await api.http.get("/v1/authorize", headers={
        **crawler.headers, "X-Forwarded-Method": "GET", "X-Forwarded-Uri": SCIENCE, "X-Forwarded-Host": "site.test",
    })
    assert traefik.status_code == 200 and traefik.headers["x-usage-units"] == "4"
    assert traefik.headers["crawler-charged"] == "USD 0.002"  # 1 unit of 3 inside the allowance of 2
    head = await authorize(api, ARTICLE, crawler.headers, method="HEAD")
    assert head.status_code == 200 and "x-usage-units" not in head.headers
    assert (await authorize(api, ARTICLE, crawler.headers)).headers["x-usage-units"] == "5"


async def test_with_reports_only_a_reported_2xx_counts_and_only_once(api):
    crawler = await new_crawler(api.resources, plan="tiny")
    granted = [await authorize(api, ARTICLE, crawler.headers, billing="report") for _ in range(3)]
    assert [g.status_code for g in granted] == [200, 200, 200]
    assert [g.headers["x-usage-units"] for g in granted] == ["1", "1", "1"]  # what it would be: nothing counted yet
    grants = [g.headers["licensing-grant"].encode() for g in granted]
    forged = grants[0][:-4] + (b"AAAA" if not grants[0].endswith(b"AAAA") else b"BBBB")
    report(api,
           b"licensing-report " + grants[0] + b" 200",
           b"licensing-report " + grants[0] + b" 200",  # the same grant again
           b"licensing-report " + grants[1] + b" 404",
           b"licensing-report " + forged + b" 200",
           b"licensing-report " + grants[2] + b" 206")
    counts = api.reports.counts
    await until(lambda: counts.counted + counts.replayed == 3)
    assert (counts.counted, counts.replayed, counts.not_2xx, counts.rejected) == (2, 1, 1, 1)
    assert (await authorize(api, ARTICLE, crawler.headers)).headers["x-usage-units"] == "3"  # 2 reported + this


async def test_the_units_of_each_path_are_counted_for_the_content_page_in_both_billing_modes(api):
    crawler = await new_crawler(api.resources, plan="tiny")
    assert (await authorize(api, ARTICLE, crawler.headers)).status_code == 200  # counted at once
    granted = await authorize(api, SCIENCE + "?page=2", crawler.headers, billing="report")
    assert api.tally.unmoved_content_of(SCIENCE) == 0  # nothing counted before the report
    report(api, b"licensing-report " + granted.headers["licensing-grant"].encode() + b" 200")
    await until(lambda: api.reports.counts.counted == 1)
    assert api.tally.unmoved_content_of(ARTICLE) == 1
    assert api.tally.unmoved_content_of(SCIENCE) == 3  # the /science/* rule: 3 units; no query string


def test_a_grant_issued_before_grants_named_their_path_still_counts_without_one():
    signer = GrantSigner("grant-secret-0123456789abcdef0123456789")
    payload = base64.urlsafe_b64encode(b"id-1 item:100 key-1 2 2000000000").rstrip(b"=")
    use = signer.read(signer._signer.sign(payload), 1_900_000_000)
    assert use is not None and (use.units, use.path) == (2, None)


async def test_render_refusal_renders_it_and_never_counts(api):
    crawler = await new_crawler(api.resources, plan="tiny")
    refused = await authorize(api, ARTICLE, GPTBOT, render="refusal")
    assert refused.status_code == 402 and refused.json()["type"].endswith("/license-required")
    allowed = await authorize(api, ARTICLE + "?x=1", crawler.headers, render="refusal")
    assert allowed.status_code == 307 and allowed.headers["location"] == ARTICLE + "?x=1"
    assert (await authorize(api, ARTICLE, crawler.headers)).headers["x-usage-units"] == "1"
