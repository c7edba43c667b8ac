"""`/v1/keys`: a crawler lists, creates and revokes its own customer's keys."""

from __future__ import annotations

import asyncio

from tests.access.helpers import new_crawler

ITEM = "/v1/content/repairing-a-bicycle-chain"


async def test_listing_shows_prefixes_and_never_secrets(client, resources):
    crawler = await new_crawler(resources)
    response = await client.get("/v1/keys", headers=crawler.headers)
    assert response.status_code == 200
    [key] = response.json()["items"]
    assert key["id"] == str(crawler.key_id)
    assert crawler.secret.startswith(key["prefix"])
    assert crawler.secret not in response.text


async def test_a_created_key_is_shown_once_and_works_at_once(client, resources):
    crawler = await new_crawler(resources)
    created = await client.post("/v1/keys", json={"name": "eu-crawler"}, headers=crawler.headers)
    assert created.status_code == 201
    secret = created.json()["secret"]
    assert created.json()["name"] == "eu-crawler"
    assert (await client.get(ITEM, headers={"X-API-Key": secret})).status_code == 200
    listing = await client.get("/v1/keys", headers=crawler.headers)
    assert len(listing.json()["items"]) == 2
    assert secret not in listing.text


async def test_revoking_a_key_refuses_it_and_shows_it_revoked(client, resources):
    crawler = await new_crawler(resources)
    second = (await client.post("/v1/keys", headers=crawler.headers)).json()
    assert (await client.get(ITEM, headers={"X-API-Key": second["secret"]})).status_code == 200
    revoked = await client.delete(f"/v1/keys/{second['id']}", headers=crawler.headers)
    assert revoked.status_code == 200
    assert revoked.json()["status"] == "revoked"
    for _ in range(50):  # the invalidation message reaches this worker's subscriber (bounded)
        status = (await client.get(ITEM, headers={"X-API-Key": second["secret"]})).status_code
        if status == 403:
            break
        await asyncio.sleep(0.02)
    assert status == 403


async def test_another_customers_key_cannot_be_revoked(client, resources):
    mine, theirs = await new_crawler(resources), await new_crawler(resources)
    response = await client.delete(f"/v1/keys/{theirs.key_id}", headers=mine.headers)
    assert response.status_code == 404
    assert response.headers["content-type"] == "application/problem+json"
    assert (await client.get(ITEM, headers=theirs.headers)).status_code == 200


async def test_key_management_needs_a_valid_key(client):
    assert (await client.get("/v1/keys")).status_code == 402
    assert (await client.post("/v1/keys", headers={"X-API-Key": "nope"})).status_code == 401
