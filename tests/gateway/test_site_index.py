"""`GET /v1/content` in gateway mode (`ORIGIN_URL`): the site's URLs read from the origin's
sitemaps (a sitemap index, a gzipped sitemap, robots.txt's `Sitemap:` line), `updated` from
`<lastmod>`, cursor-paginated; still a licensed, metered route."""

from __future__ import annotations

import gzip
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from pathlib import Path

import pytest
from asgi_lifespan import LifespanManager
from httpx import ASGITransport, AsyncClient

from licensing_api.gateway.sitemap import MAX_SITEMAP_BYTES, SitemapError, SitemapParser, parse_lastmod
from licensing_api.main import create_app
from tests.access.helpers import new_crawler
from tests.gateway.site import SITE_URL, build_site

EXPECTED = [
    (f"{SITE_URL}/", None),
    (f"{SITE_URL}/articles/bees.html", "2025-10-01T06:30:00Z"),
    (f"{SITE_URL}/articles/sourdough.html", "2025-11-21T00:00:00Z"),
    (f"{SITE_URL}/extra/from-robots.html", "2023-12-31T00:00:00Z"),
    (f"{SITE_URL}/science/lichens.html?print=1", "2024-02-29T23:59:59Z"),
    (f"{SITE_URL}/science/tide-pools.html", "2026-02-01T00:00:00Z"),
]


@pytest.fixture(scope="module")
def site_folder(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return build_site(tmp_path_factory.mktemp("site-index"), big_file=False)


@pytest.fixture
async def api(gateway_settings, origin) -> AsyncIterator[tuple[AsyncClient, object]]:
    app = create_app(gateway_settings.model_copy(update={"origin_url": origin.base_url}))
    async with LifespanManager(app) as manager:
        transport = ASGITransport(app=manager.app)  # type: ignore[arg-type]
        async with AsyncClient(transport=transport, base_url="http://testserver") as http:
            yield http, manager._state["resources"]  # type: ignore[attr-defined]


async def pages(http: AsyncClient, headers: dict[str, str], **query: object) -> list[dict]:
    items, cursor = [], None
    while True:
        response = await http.get("/v1/content", headers=headers, params={**query, **({"cursor": cursor} if cursor else {})})
        assert response.status_code == 200, response.text
        body = response.json()
        items += body["items"]
        cursor = body["next_cursor"]
        if cursor is None:
            return items


async def test_the_index_lists_the_sites_urls_from_its_sitemaps(api):
    http, resources = api
    crawler = await new_crawler(resources, plan="tiny")
    listed = await pages(http, crawler.headers, limit=100)
    assert [(item["url"], item["updated"]) for item in listed] == EXPECTED  # not elsewhere.example's
    assert listed[4]["path"] == "/science/lichens.html"  # what price rules match: no query


async def test_pages_follow_the_cursor_and_are_priced_by_the_rules(api):
    http, resources = api
    crawler = await new_crawler(resources, plan="tiny")
    listed = await pages(http, crawler.headers, limit=2)
    assert [item["url"] for item in listed] == [url for url, _ in EXPECTED]
    response = await http.get("/v1/content", headers=crawler.headers, params={"limit": 2})
    # A licensed route as before: these plans price the index at 0 units (`/v1/content$`).
    assert (response.headers["x-usage-units"], response.headers["crawler-charged"]) == ("0", "USD 0.00")
    bad = await http.get("/v1/content", headers=crawler.headers, params={"cursor": "bm90LWEtdXJs"})
    assert bad.status_code == 400 and bad.json()["type"].endswith("/invalid-cursor")


async def test_updated_since_keeps_newer_urls_and_those_without_a_lastmod(api):
    http, resources = api
    crawler = await new_crawler(resources, plan="tiny")
    listed = await pages(http, crawler.headers, updated_since="2025-11-01T00:00:00Z")
    assert [item["url"] for item in listed] == [
        f"{SITE_URL}/", f"{SITE_URL}/articles/sourdough.html", f"{SITE_URL}/science/tide-pools.html",
    ]


async def test_the_index_is_licensed_and_items_live_on_the_site(api):
    http, resources = api
    assert (await http.get("/v1/content/articles/sourdough.html")).status_code == 402
    crawler = await new_crawler(resources, plan="tiny")
    response = await http.get("/v1/content/articles/sourdough.html", headers=crawler.headers)
    assert response.status_code == 404
    assert f"{SITE_URL}/articles/sourdough.html" in response.json()["detail"]


@pytest.mark.parametrize(("value", "expected"), [
    ("2024-02-29", datetime(2024, 2, 29, tzinfo=UTC)),
    ("2025-12-31T23:59:59-05:00", datetime(2026, 1, 1, 4, 59, 59, tzinfo=UTC)),
    ("2026-02-28T23:30Z", datetime(2026, 2, 28, 23, 30, tzinfo=UTC)),
    ("2026-12", datetime(2026, 12, 1, tzinfo=UTC)),
    ("2026", datetime(2026, 1, 1, tzinfo=UTC)),
    ("  2025-01-02T03:04:05.678+01:00 ", datetime(2025, 1, 2, 2, 4, 5, 678000, tzinfo=UTC)),
    ("yesterday", None),
    ("2025-02-29", None),
    ("", None),
])
def test_lastmod_is_read_as_w3c_datetime_in_utc(value, expected):
    assert parse_lastmod(value) == expected


def test_a_sitemap_is_parsed_as_it_streams():
    document = f'<urlset xmlns="http://www.sitemaps.org/schemas/sitemap/0.9"><url><loc> {SITE_URL}/a </loc>' \
               f'<lastmod>2026-01-01</lastmod></url><url><loc>{SITE_URL}/b</loc></url></urlset>'.encode()
    parser = SitemapParser()
    found = []
    for start in range(0, len(document), 7):
        found += parser.feed(document[start:start + 7])
    found += parser.close()
    assert parser.kind == "urlset"
    assert found == [(f"{SITE_URL}/a", "2026-01-01"), (f"{SITE_URL}/b", None)]


@pytest.mark.parametrize(("document", "reason"), [
    (b'<?xml version="1.0"?><!DOCTYPE x [<!ENTITY a "b">]><urlset/>', "document type"),
    (b"<rss><channel/></rss>", "neither"),
    (b"<urlset><url><loc>x</url></urlset>", "well-formed"),
])
def test_an_unreadable_sitemap_is_refused(document, reason):
    parser = SitemapParser()
    with pytest.raises(SitemapError, match=reason):
        parser.feed(document)
        parser.close()


def test_a_gzipped_sitemap_may_not_inflate_past_the_protocols_limit():
    bomb = gzip.compress(b"<urlset>" + b" " * (MAX_SITEMAP_BYTES + 1))
    parser = SitemapParser()
    with pytest.raises(SitemapError, match="larger than"):
        for start in range(0, len(bomb), 65536):
            parser.feed(bomb[start:start + 65536])
