"""A registered bot's signed request is its customer's licensed request, without an API key:
served with crawler-charged and counted in Stripe; an unregistered signer gets the 402 offer;
a replay, a bad signature or an uncovered payment header are refused; a rotated directory
key is picked up; a deleted bot is nobody again."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator

import httpx
import pytest
from asgi_lifespan import LifespanManager
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from httpx import ASGITransport, AsyncClient

from licensing_api.main import create_app
from tests.access.helpers import new_crawler
from tests.bots.conftest import BotsApp
from tests.bots.helpers import ITEM, register, signed_headers
from tests.standards.independent_signer import sign_request
from tests.standards.signing import public_jwk_of, thumbprint_of
from tests.usage.flusher_support import flush_settings_for, opened, provision, settle, units_in_stripe

async def test_a_registered_bot_is_served_without_a_key(bots_app: BotsApp, bot_key):
    crawler = await new_crawler(bots_app.resources, plan="standard")
    await register(bots_app.client, crawler, keys=[public_jwk_of(bot_key)])
    response = await bots_app.client.get(ITEM, headers=signed_headers(bot_key))
    assert response.status_code == 200, response.text
    assert response.headers["crawler-charged"] == "USD 0.00"
    assert response.headers["x-usage-units"] == "1"
    usage = (await bots_app.client.get("/v1/usage", headers=crawler.headers)).json()
    assert usage["units"] == 1  # the customer's usage, whichever credential was used


async def test_an_unregistered_signer_gets_the_offer(bots_app):
    response = await bots_app.client.get(ITEM, headers=signed_headers(Ed25519PrivateKey.generate()))
    assert response.status_code == 402
    assert response.headers["crawler-price"] == "USD 0.001"
    assert response.json()["type"].endswith("/license-required")


async def test_a_replayed_request_is_refused(bots_app, bot_key):
    crawler = await new_crawler(bots_app.resources, plan="standard")
    await register(bots_app.client, crawler, keys=[public_jwk_of(bot_key)])
    headers = signed_headers(bot_key)
    assert (await bots_app.client.get(ITEM, headers=headers)).status_code == 200
    replay = await bots_app.client.get(ITEM, headers=headers)
    assert replay.status_code == 400
    assert replay.headers["crawler-error"] == "InvalidSignature"
    assert replay.json()["type"].endswith("/invalid-signature")
    usage = (await bots_app.client.get("/v1/usage", headers=crawler.headers)).json()
    assert usage["units"] == 1


async def test_a_bots_price_limit_must_be_signed_and_is_honoured(bots_app, bot_key):
    crawler = await new_crawler(bots_app.resources, plan="standard")
    await register(bots_app.client, crawler, keys=[public_jwk_of(bot_key)])
    unsigned_limit = await bots_app.client.get(
        ITEM, headers=signed_headers(bot_key, extra={"crawler-max-price": "USD 1.00"}))
    assert unsigned_limit.status_code == 400 and unsigned_limit.headers["crawler-error"] == "InvalidSignature"
    exact = signed_headers(bot_key, headers={"crawler-exact-price": "USD 0.001"},
                           components=("@authority", "crawler-exact-price"))
    wrong = await bots_app.client.get(ITEM, headers=exact)
    assert wrong.status_code == 402 and wrong.headers["crawler-price"] == "USD 0.00"
    assert wrong.headers["crawler-error"] == "InvalidCrawlerExactPrice"


async def test_a_signature_for_another_site_is_refused(bots_app, bot_key):
    crawler = await new_crawler(bots_app.resources, plan="standard")
    await register(bots_app.client, crawler, keys=[public_jwk_of(bot_key)])
    now = int(time.time())
    request = httpx.Request("GET", "https://elsewhere.example" + ITEM)
    sign_request(request, bot_key, keyid=thumbprint_of(public_jwk_of(bot_key)), created=now, expires=now + 60)
    headers = {k: v for k, v in request.headers.items() if k != "host"}
    response = await bots_app.client.get(ITEM, headers={**headers, "Host": "elsewhere.example"})
    assert response.status_code == 400 and "does not verify" in response.json()["detail"]


async def test_a_rotated_directory_key_is_picked_up(bots_app, directory_server):
    crawler = await new_crawler(bots_app.resources, plan="standard")
    old_key, new_key = Ed25519PrivateKey.generate(), Ed25519PrivateKey.generate()
    directory_server.keys = [public_jwk_of(old_key)]
    await register(bots_app.client, crawler, directory_url=directory_server.base_url)
    agent = {"Signature-Agent": f'agent1="{directory_server.base_url}"'}
    components = ("@authority", '"signature-agent";key="agent1"')
    fetched = directory_server.requests
    for _ in range(3):
        response = await bots_app.client.get(ITEM, headers=signed_headers(old_key, headers=agent, components=components))
        assert response.status_code == 200, response.text
    assert directory_server.requests == fetched  # a known key is never fetched for
    directory_server.keys = [public_jwk_of(new_key)]
    rotated = await bots_app.client.get(ITEM, headers=signed_headers(new_key, headers=agent, components=components))
    assert rotated.status_code == 200, rotated.text
    assert directory_server.requests == fetched + 1


async def test_a_deleted_bot_is_nobody_again(bots_app, bot_key):
    crawler = await new_crawler(bots_app.resources, plan="standard")
    bot = await register(bots_app.client, crawler, keys=[public_jwk_of(bot_key)])
    assert (await bots_app.client.get(ITEM, headers=signed_headers(bot_key))).status_code == 200
    assert (await bots_app.client.delete(f"/v1/bots/{bot['id']}", headers=crawler.headers)).status_code == 204
    for _ in range(50):  # the invalidation arrives over Redis pub/sub
        response = await bots_app.client.get(ITEM, headers=signed_headers(bot_key))
        if response.status_code == 402:
            break
        await asyncio.sleep(0.02)
    assert response.status_code == 402


@pytest.fixture
async def billed_bots_app(settings, stripe_server, tmp_path) -> AsyncIterator[BotsApp]:
    """The app with billing on against the local Stripe server, the catalogue synced."""
    billed = flush_settings_for(settings, stripe_server, tmp_path)
    async with opened(billed):
        app = create_app(billed)
        async with LifespanManager(app) as manager:
            state = manager._state  # type: ignore[attr-defined]
            transport = ASGITransport(app=manager.app)  # type: ignore[arg-type]
            async with AsyncClient(transport=transport, base_url="http://testserver") as http:
                yield BotsApp(http, state["resources"], state["bots"], state)


async def test_a_keyless_bots_requests_are_counted_in_stripe(billed_bots_app, stripe_server, bot_key):
    app = billed_bots_app
    item = await provision(app.resources, "standard")
    registered = await app.client.post("/v1/bots", headers={"Authorization": f"Bearer {item.api_key_secret}"},
                                       json={"name": "examplebot", "keys": [public_jwk_of(bot_key)]})
    assert registered.status_code == 201, registered.text
    for _ in range(3):
        response = await app.client.get(ITEM, headers=signed_headers(bot_key))
        assert response.status_code == 200, response.text
        assert response.headers["crawler-charged"] == "USD 0.00"
    await app.state["hot_path"].tally.move_once()
    await settle(app.resources, item)
    assert units_in_stripe(stripe_server, item) == 3  # counted by the Stripe server itself
