"""The standards on the licensed request path: the 402 offer for keyless requests,
`crawler-charged` on metered answers, Web Bot Auth for keys bound to a bot's public key,
and crawler counting even when refused."""

from __future__ import annotations

import asyncio
import time
from urllib.parse import urlsplit

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from licensing_api.db import session_scope
from licensing_api.standards.bot_keys import set_bot_key
from tests.access.helpers import new_crawler
from tests.standards.signing import public_jwk_of, sign_headers
from tests.standards.test_crawlers import GPTBOT, crawler_count

ITEM = "/v1/content/sourdough-chemistry"
BROWSER_ACCEPT = "text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8"


async def test_a_keyless_request_gets_the_402_license_offer(client, settings):
    response = await client.get(ITEM)
    assert response.status_code == 402
    assert response.headers["content-type"].startswith("application/problem+json")
    assert response.headers["crawler-price"] == "USD 0.001"  # the per-crawl plan's price
    body = response.json()
    assert body["status"] == 402 and body["type"].endswith("/license-required")
    assert body["instance"] == ITEM
    assert "issued by this site's operator" in body["detail"]  # billing off: no signup to point to
    assert {plan["id"] for plan in body["plans"]} >= {"standard", "premium", "starter"}
    assert f"<{settings.public_base_url}/license.xml>" in response.headers["link"]


async def test_a_browser_without_a_key_gets_a_human_page(client):
    response = await client.get(ITEM, headers={"Accept": BROWSER_ACCEPT})
    assert response.status_code == 402
    assert response.headers["content-type"].startswith("text/html")
    assert "<h1>License required</h1>" in response.text
    assert "<h2>Get a key</h2>" in response.text and "/v1/signup" not in response.text  # billing off


async def test_a_malformed_or_unknown_key_is_still_401(client):
    malformed = await client.get(ITEM, headers={"Authorization": "Bearer nope"})
    unknown = await client.get(ITEM, headers={"Authorization": "Bearer lk_" + "x" * 40})
    assert malformed.status_code == 401 and unknown.status_code == 401
    assert "crawler-price" not in unknown.headers


async def test_a_metered_answer_carries_crawler_charged(client, resources):
    crawler = await new_crawler(resources, plan="standard")
    response = await client.get(ITEM, headers=crawler.headers)
    assert response.status_code == 200
    assert response.headers["crawler-charged"] == "USD 0.00"  # inside the 1000 included


async def test_a_license_token_is_accepted_like_a_bearer_key(client, resources):
    crawler = await new_crawler(resources, plan="standard")
    response = await client.get(ITEM, headers={"Authorization": f"License {crawler.secret}"})
    assert response.status_code == 200


async def bind(resources, crawler, private_key) -> None:
    async with session_scope(resources.sessionmaker) as session:
        await set_bot_key(session, resources.redis, resources.settings.redis_key_prefix,
                          crawler.key_id, public_jwk_of(private_key))


def public_authority(resources) -> str:
    return urlsplit(resources.settings.public_base_url).netloc


async def test_a_bound_key_serves_a_request_signed_by_its_bot(client, resources):
    crawler = await new_crawler(resources)
    bot = Ed25519PrivateKey.generate()
    await bind(resources, crawler, bot)
    now = int(time.time())
    signed = sign_headers(bot, authority=public_authority(resources), created=now, expires=now + 60)
    response = await client.get(ITEM, headers={**crawler.headers, **signed})
    assert response.status_code == 200


async def test_a_signature_for_the_clients_host_header_is_not_this_sites(client, resources):
    """@authority is PUBLIC_BASE_URL's authority: a Host header the client chose proves nothing."""
    crawler = await new_crawler(resources)
    bot = Ed25519PrivateKey.generate()
    await bind(resources, crawler, bot)
    now = int(time.time())
    signed = sign_headers(bot, authority="attacker.example", created=now, expires=now + 60)
    response = await client.get(ITEM, headers={**crawler.headers, **signed, "Host": "attacker.example"})
    assert response.status_code == 403
    assert response.json()["type"].endswith("/bot-signature-invalid")


async def test_a_bound_key_refuses_a_request_signed_by_another_key(client, resources):
    crawler = await new_crawler(resources)
    await bind(resources, crawler, Ed25519PrivateKey.generate())
    now = int(time.time())
    signed = sign_headers(Ed25519PrivateKey.generate(), authority=public_authority(resources),
                          created=now, expires=now + 60)
    response = await client.get(ITEM, headers={**crawler.headers, **signed})
    assert response.status_code == 403
    assert response.json()["type"].endswith("/bot-signature-invalid")
    assert "accept-signature" in response.headers


async def test_a_bound_key_refuses_an_unsigned_request(client, resources):
    crawler = await new_crawler(resources)
    await bind(resources, crawler, Ed25519PrivateKey.generate())
    response = await client.get(ITEM, headers=crawler.headers)
    assert response.status_code == 403
    assert response.json()["type"].endswith("/bot-signature-required")


async def test_unbinding_lets_unsigned_requests_through_again(client, resources):
    crawler = await new_crawler(resources)
    await bind(resources, crawler, Ed25519PrivateKey.generate())
    assert (await client.get(ITEM, headers=crawler.headers)).status_code == 403
    async with session_scope(resources.sessionmaker) as session:
        await set_bot_key(session, resources.redis, resources.settings.redis_key_prefix, crawler.key_id, None)
    for _ in range(50):  # the invalidation arrives over Redis pub/sub
        response = await client.get(ITEM, headers=crawler.headers)
        if response.status_code == 200:
            break
        await asyncio.sleep(0.02)
    assert response.status_code == 200


async def test_a_refused_crawler_is_counted(client):
    before = await crawler_count(client, "GPTBot", "payment_required")
    await client.get(ITEM, headers={"User-Agent": GPTBOT})
    assert await crawler_count(client, "GPTBot", "payment_required") == before + 1


async def test_refusals_of_credentials_name_the_license_and_both_challenges(client, settings):
    link = f'<{settings.public_base_url}/license.xml>; rel="license"; type="application/rsl+xml"'
    unknown = await client.get(ITEM, headers={"Authorization": "License lt_" + "x" * 43})
    assert unknown.status_code == 401
    assert unknown.headers["link"] == link
    assert unknown.headers["www-authenticate"].startswith(
        'Bearer realm="licensing-api", error="invalid_token", License error="invalid_token"')
    offer = await client.get(ITEM)
    assert offer.headers.get_list("link") == [link]
