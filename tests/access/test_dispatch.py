"""The licensed routes answer the same whether the request edge or FastAPI runs them.

The edge answers `GET /v1/content…` itself (access/dispatch.py); FastAPI's declarations of the
same routes run when the edge hands a request over (CORS on and an `Origin` header). Both
must give the same status, body and headers, refusals included.
"""

from __future__ import annotations

import pytest
from asgi_lifespan import LifespanManager
from httpx import ASGITransport, AsyncClient

from licensing_api.main import create_app
from tests.access.helpers import new_crawler

ORIGIN = "https://app.example.com"
VARYING = {"x-request-id", "x-usage-units", "access-control-allow-origin", "access-control-expose-headers", "vary"}


@pytest.fixture
async def cors_api(settings):
    app = create_app(settings.model_copy(update={"cors_origins": ORIGIN}))
    async with LifespanManager(app) as manager:
        async with AsyncClient(transport=ASGITransport(app=manager.app), base_url="http://testserver") as http:
            yield http, manager._state["resources"]  # type: ignore[attr-defined]


def comparable(response):
    headers = sorted((k, v) for k, v in response.headers.items() if k not in VARYING)
    return response.status_code, headers, response.content


@pytest.mark.parametrize(
    ("path", "key"),
    [
        ("/v1/content/sourdough-chemistry", "good"),
        ("/v1/content?limit=2", "good"),
        ("/v1/content/sourdough-chemistry", None),
        ("/v1/content/sourdough-chemistry", "lk_" + "z" * 43),
        ("/v1/content/sourdough-chemistry", "nope"),
        ("/v1/content/no-such-article", "good"),
        ("/v1/content/.env", "good"),
        ("/v1/content/", "good"),
        ("/v1/content?limit=0", "good"),
        ("/v1/content?limit=0", None),
        ("/v1/content?cursor=%%%", "good"),
        ("/v1/content?updated_since=yesterday", "good"),
    ],
)
async def test_the_edge_and_fastapi_give_the_same_answer(cors_api, path, key):
    http, resources = cors_api
    crawler = await new_crawler(resources)
    headers = {} if key is None else {"Authorization": f"Bearer {crawler.secret if key == 'good' else key}"}
    by_edge = await http.get(path, headers=headers)
    by_fastapi = await http.get(path, headers={**headers, "Origin": ORIGIN})
    assert by_fastapi.headers["access-control-allow-origin"] == ORIGIN  # FastAPI's stack ran it
    assert comparable(by_edge) == comparable(by_fastapi)
    if by_edge.status_code == 200:
        assert int(by_fastapi.headers["x-usage-units"]) == int(by_edge.headers["x-usage-units"]) + 1


async def test_other_methods_get_fastapis_405(client):
    response = await client.post("/v1/content/sourdough-chemistry")
    assert response.status_code == 405
    assert response.headers["content-type"] == "application/problem+json"
    assert response.headers["x-request-id"]


async def test_a_licensed_answer_carries_the_request_id_and_security_headers(client, resources):
    crawler = await new_crawler(resources)
    response = await client.get(
        "/v1/content/sourdough-chemistry", headers={**crawler.headers, "X-Request-ID": "crawl-42"}
    )
    assert response.status_code == 200
    assert response.headers["x-request-id"] == "crawl-42"
    assert response.headers["x-content-type-options"] == "nosniff"
    assert response.headers["referrer-policy"] == "same-origin"
    assert response.headers["content-type"] == "application/json"


async def test_the_browser_offer_page_gets_the_html_security_headers(client):
    response = await client.get("/v1/content/sourdough-chemistry", headers={"Accept": "text/html"})
    assert response.status_code == 402
    assert response.headers["content-type"].startswith("text/html")
    assert response.headers["x-frame-options"] == "DENY"
    assert "frame-ancestors 'none'" in response.headers["content-security-policy"]
