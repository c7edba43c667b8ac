"""`GET /v1/content` and `GET /v1/content/{path}` as a crawler uses them."""

from __future__ import annotations

import pytest

from tests.access.helpers import new_crawler


@pytest.fixture
async def crawler(resources):
    return await new_crawler(resources)


async def test_an_item_has_text_title_metadata_and_license_terms(client, crawler):
    response = await client.get("/v1/content/science/tide-pools", headers=crawler.headers)
    assert response.status_code == 200
    body = response.json()
    assert body["path"] == "science/tide-pools"
    assert body["title"] and body["author"] and body["summary"]
    assert body["tags"] and body["published"] and body["updated"]
    assert len(body["text"]) > 500 and not body["text"].startswith("---")
    assert body["license"]["terms_url"].endswith("/license.xml")
    assert body["title"] in body["license"]["attribution"]


async def test_pagination_walks_every_item_once_in_path_order(client, crawler):
    paths: list[str] = []
    cursor = None
    for _ in range(10):
        params = {"limit": 5} | ({"cursor": cursor} if cursor else {})
        page = (await client.get("/v1/content", params=params, headers=crawler.headers)).json()
        paths += [item["path"] for item in page["items"]]
        assert len(page["items"]) <= 5
        cursor = page["next_cursor"]
        if cursor is None:
            break
    assert len(paths) == 12
    assert paths == sorted(set(paths))
    assert "science/tide-pools" in paths


async def test_index_entries_carry_path_title_updated_and_size(client, crawler):
    page = (await client.get("/v1/content", headers=crawler.headers)).json()
    entry = page["items"][0]
    assert set(entry) == {"path", "title", "updated", "size"}
    assert entry["size"] > 0


async def test_updated_since_keeps_only_items_updated_at_or_after_it(client, crawler):
    everything = (await client.get("/v1/content?limit=100", headers=crawler.headers)).json()["items"]
    moments = sorted(item["updated"] for item in everything)
    middle = moments[len(moments) // 2]
    recent = (
        await client.get("/v1/content", params={"limit": 100, "updated_since": middle}, headers=crawler.headers)
    ).json()["items"]
    assert recent and len(recent) < len(everything)
    assert all(item["updated"] >= middle for item in recent)
    assert {i["path"] for i in recent} == {i["path"] for i in everything if i["updated"] >= middle}


async def test_a_date_without_time_is_accepted_as_updated_since(client, crawler):
    response = await client.get("/v1/content?updated_since=2026-01-01", headers=crawler.headers)
    assert response.status_code == 200


@pytest.mark.parametrize(
    "query",
    ["cursor=not-base64!!", "cursor=Li4vZXRjL3Bhc3N3ZA", "limit=0", "limit=101", "updated_since=yesterday"],
)
async def test_bad_index_parameters_are_problem_json_4xx(client, crawler, query):
    response = await client.get(f"/v1/content?{query}", headers=crawler.headers)
    assert response.status_code in (400, 422)
    assert response.headers["content-type"] == "application/problem+json"


@pytest.mark.parametrize(
    "raw_path",
    [
        "/v1/content/%2e%2e/%2e%2e/etc/passwd",
        "/v1/content/science/%2e%2e/%2e%2e/settings.py",
        "/v1/content/..%2f..%2fsettings",
        "/v1/content/%2fetc%2fpasswd",
        "/v1/content/a%5c..%5cb",
        "/v1/content/.env",
        "/v1/content/science/.hidden",
        "/v1/content/a%00b",
        "/v1/content/" + "a" * 2000,
        "/v1/content/" + "a/" * 40 + "b",
    ],
)
async def test_path_traversal_and_absurd_paths_are_400_problem_json(client, crawler, raw_path):
    response = await client.get(raw_path, headers=crawler.headers)
    assert response.status_code == 400, response.text
    assert response.headers["content-type"] == "application/problem+json"
    assert response.json()["type"].endswith("/invalid-content-path")


async def test_an_unknown_item_is_404_problem_json(client, crawler):
    response = await client.get("/v1/content/no-such-article", headers=crawler.headers)
    assert response.status_code == 404
    assert response.json()["type"].endswith("/content-not-found")


async def test_the_index_and_items_are_each_one_unit(client, crawler):
    await client.get("/v1/content", headers=crawler.headers)
    response = await client.get("/v1/content/urban-beekeeping", headers=crawler.headers)
    assert response.headers["X-Usage-Units"] == "2"
