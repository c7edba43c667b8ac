"""Security headers on every response and on HTML pages; CORS off unless configured."""

from __future__ import annotations

import pytest
from asgi_lifespan import LifespanManager
from fastapi.responses import HTMLResponse
from httpx import ASGITransport, AsyncClient

from licensing_api.main import create_app


@pytest.fixture
async def html_client(settings):
    app = create_app(settings)

    @app.get("/page", response_class=HTMLResponse)  # stands for the dashboard's pages
    async def page() -> str:
        return "<html><body>hello</body></html>"

    @app.get("/private-page", response_class=HTMLResponse)
    async def private_page() -> HTMLResponse:
        return HTMLResponse("<p>secret</p>", headers={"Referrer-Policy": "no-referrer"})

    async with LifespanManager(app) as manager:
        async with AsyncClient(transport=ASGITransport(app=manager.app), base_url="http://t") as http:
            yield http


async def test_every_response_forbids_content_sniffing(client):
    response = await client.get("/healthz")
    assert response.headers["x-content-type-options"] == "nosniff"
    assert response.headers["referrer-policy"] == "same-origin"
    assert "content-security-policy" not in response.headers


async def test_html_pages_get_a_strict_csp_and_cannot_be_framed(html_client):
    response = await html_client.get("/page")
    csp = response.headers["content-security-policy"]
    assert "frame-ancestors 'none'" in csp
    assert "default-src 'self'" in csp
    assert "script-src 'self'" in csp and "unsafe-inline" not in csp.split("script-src")[1].split(";")[0]
    assert response.headers["x-frame-options"] == "DENY"
    assert response.headers["x-content-type-options"] == "nosniff"


async def test_api_docs_cannot_be_framed_but_still_load_their_assets(client):
    response = await client.get("/docs")
    assert response.status_code == 200
    assert response.headers["x-frame-options"] == "DENY"
    assert "frame-ancestors 'none'" in response.headers["content-security-policy"]
    assert "default-src" not in response.headers["content-security-policy"]


async def test_cors_is_off_by_default(client):
    response = await client.options(
        "/healthz",
        headers={"Origin": "https://evil.example", "Access-Control-Request-Method": "GET"},
    )
    assert "access-control-allow-origin" not in response.headers
    simple = await client.get("/healthz", headers={"Origin": "https://evil.example"})
    assert "access-control-allow-origin" not in simple.headers


async def test_cors_origins_setting_allows_only_the_listed_origins(settings):
    app = create_app(settings.model_copy(update={"cors_origins": "https://app.example.com"}))
    async with LifespanManager(app) as manager:
        async with AsyncClient(transport=ASGITransport(app=manager.app), base_url="http://t") as http:
            allowed = await http.get("/healthz", headers={"Origin": "https://app.example.com"})
            refused = await http.get("/healthz", headers={"Origin": "https://evil.example"})
    assert allowed.headers["access-control-allow-origin"] == "https://app.example.com"
    assert "access-control-allow-origin" not in refused.headers


async def test_the_dashboard_sign_in_page_gets_the_strict_csp(client):
    response = await client.get("/dashboard")
    assert response.headers["content-type"].startswith("text/html")
    assert "frame-ancestors 'none'" in response.headers["content-security-policy"]
    assert response.headers["x-frame-options"] == "DENY"


async def test_a_routes_own_security_header_is_kept_not_doubled(html_client):
    response = await html_client.get("/private-page")
    assert response.headers.get_list("referrer-policy") == ["no-referrer"]
    assert "frame-ancestors 'none'" in response.headers["content-security-policy"]
