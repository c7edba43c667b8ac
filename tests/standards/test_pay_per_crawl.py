"""Pay per crawl over HTTP, table-driven: the crawler's declared limit against the price of
this request under its plan (an allowance of 2 units, then USD 0.001 per unit; science
articles count 3 units), and what the caller is charged and counted."""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from asgi_lifespan import LifespanManager
from httpx import ASGITransport, AsyncClient

from licensing_api.access.runtime import HotPath
from licensing_api.main import create_app
from licensing_api.resources import Resources
from licensing_api.settings import BUNDLED_PLANS_FILE, Settings
from tests.access.helpers import new_crawler, period_total

PLANS = BUNDLED_PLANS_FILE.read_text() + """
[plans.tiny]
name = "Tiny"
kind = "hybrid"
currency = "usd"
base_amount = 100
included_units = 2
unit_amount_decimal = "0.1"

[[price_rules]]
path = "/v1/content/science/*"
units = 3

[[price_rules]]
path = "/v1/content$"
units = 0
"""
ARTICLE = "/v1/content/sourdough-chemistry"
SCIENCE = "/v1/content/science/tide-pools"


@dataclass
class Case:
    used: int  # units served before the request (plain requests of ARTICLE)
    path: str
    headers: dict[str, str]
    status: int
    charged: str | None = None  # crawler-charged of a 200
    price: str | None = None  # crawler-price of a 402
    error: str | None = None  # crawler-error of a refusal


CASES = {
    "no limit, inside the allowance": Case(0, ARTICLE, {}, 200, charged="USD 0.00"),
    "no limit, past the allowance": Case(2, ARTICLE, {}, 200, charged="USD 0.001"),
    "max above": Case(2, ARTICLE, {"crawler-max-price": "USD 0.01"}, 200, charged="USD 0.001"),
    "max below": Case(2, ARTICLE, {"crawler-max-price": "USD 0.0001"}, 402, price="USD 0.001",
                      error="InvalidCrawlerMaxPrice"),
    "exact equal": Case(2, ARTICLE, {"crawler-exact-price": "USD 0.001"}, 200, charged="USD 0.001"),
    "exact different": Case(2, ARTICLE, {"crawler-exact-price": "USD 0.002"}, 402, price="USD 0.001",
                            error="InvalidCrawlerExactPrice"),
    "exact, inside the allowance": Case(0, ARTICLE, {"crawler-exact-price": "USD 0.00"}, 200, charged="USD 0.00"),
    "max, inside the allowance": Case(1, ARTICLE, {"crawler-max-price": "USD 0.00"}, 200, charged="USD 0.00"),
    "both headers": Case(2, ARTICLE, {"crawler-max-price": "USD 1.00", "crawler-exact-price": "USD 0.001"}, 400,
                         error="ConflictingPriceHeaders"),
    "malformed": Case(2, ARTICLE, {"crawler-max-price": "one dollar"}, 400, error="InvalidCrawlerPriceValue"),
    "per-path rule, past the allowance": Case(2, SCIENCE, {"crawler-max-price": "USD 0.003"}, 200,
                                              charged="USD 0.003"),
    "per-path rule, max below its price": Case(2, SCIENCE, {"crawler-max-price": "USD 0.002"}, 402,
                                               price="USD 0.003", error="InvalidCrawlerMaxPrice"),
    "per-path rule, straddling the allowance": Case(1, SCIENCE, {}, 200, charged="USD 0.002"),
    "a free path": Case(2, "/v1/content", {"crawler-exact-price": "USD 0.00"}, 200, charged="USD 0.00"),
}


@dataclass
class Api:
    client: AsyncClient
    resources: Resources
    hot_path: HotPath


@pytest.fixture(scope="module")
def plans_file(tmp_path_factory) -> Path:
    path = Path(tmp_path_factory.mktemp("plans")) / "plans.toml"
    path.write_text(PLANS)
    return path


@pytest.fixture
async def api(settings: Settings, plans_file: Path) -> AsyncIterator[Api]:
    app = create_app(settings.model_copy(update={"plans_file": plans_file}))
    async with LifespanManager(app) as manager:
        transport = ASGITransport(app=manager.app)  # type: ignore[arg-type]
        async with AsyncClient(transport=transport, base_url="http://testserver") as http:
            state = manager._state  # type: ignore[attr-defined]
            yield Api(http, state["resources"], state["hot_path"])


@pytest.mark.parametrize("name", CASES, ids=list(CASES))
async def test_pay_per_crawl(api, name):
    case = CASES[name]
    crawler = await new_crawler(api.resources, plan="tiny")
    for _ in range(case.used):
        assert (await api.client.get(ARTICLE, headers=crawler.headers)).status_code == 200
    response = await api.client.get(case.path, headers={**crawler.headers, **case.headers})
    assert response.status_code == case.status, response.text
    assert response.headers.get("crawler-error") == case.error
    units = int((await api.client.get("/v1/usage", headers=crawler.headers)).json()["units"])
    if case.status == 200:
        assert response.headers["crawler-charged"] == case.charged
        assert int(response.headers["x-usage-units"]) == units  # this request's units included
        assert response.headers["link"].endswith('/license.xml>; rel="license"; type="application/rsl+xml"')
    else:
        assert "crawler-charged" not in response.headers
        assert units == case.used  # a refused request is never counted
        assert response.headers["content-type"].startswith("application/problem+json")
    if case.status == 402:
        assert response.headers["crawler-price"] == case.price
        assert response.json()["crawler_price"] == case.price


async def test_served_units_follow_the_rules(api):
    crawler = await new_crawler(api.resources, plan="tiny")
    for path in (ARTICLE, SCIENCE, "/v1/content"):
        assert (await api.client.get(path, headers=crawler.headers)).status_code == 200
    usage = (await api.client.get("/v1/usage", headers=crawler.headers)).json()
    assert usage["units"] == 1 + 3 + 0
    assert usage["overage_units"] == 2 and usage["estimated_amount"] == 100  # 0.2 cents rounds to 0
    await api.hot_path.tally.move_once()
    assert await period_total(api.resources, crawler) == 4  # the units as Redis, the flusher and Stripe see them


@pytest.mark.parametrize(
    ("path", "headers", "status", "price"),
    [
        (ARTICLE, {}, 402, "USD 0.001"),
        (SCIENCE, {}, 402, "USD 0.003"),
        (SCIENCE, {"crawler-max-price": "EUR 1.00"}, 402, "EUR 0.006"),
        ("/v1/content", {}, 200, None),  # a free path needs no credentials
        (ARTICLE, {"crawler-max-price": "USD 1", "crawler-exact-price": "USD 1"}, 400, None),
    ],
)
async def test_a_caller_nobody_identifies_is_offered_the_per_crawl_price(api, path, headers, status, price):
    response = await api.client.get(path, headers=headers)
    assert response.status_code == status
    assert response.headers.get("crawler-price") == price
    if status == 200:
        assert "crawler-charged" not in response.headers and "link" in response.headers
