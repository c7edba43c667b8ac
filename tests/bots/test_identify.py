"""The identify step for keyless signed requests: a registered bot's signature names its
customer; an unregistered signer is nobody; replays, bad signatures and uncovered payment
headers are refused; a rotated directory key is picked up."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator

import httpx
import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from licensing_api.access.cache import AccessCache
from licensing_api.bots.identify import BotIdentifier, KeylessSignatureInvalid, signature_agent_directories
from licensing_api.bots.service import register_bot
from licensing_api.db import session_scope
from licensing_api.security.failed_lookups import FailedKeyLookupLimiter, TooManyFailedKeyLookups
from tests.access.helpers import new_crawler
from tests.standards.independent_signer import new_nonce, sign_request
from tests.standards.signing import public_jwk_of, sign_headers, thumbprint_of

ITEM = "http://127.0.0.1:8000/v1/content/sourdough-chemistry"  # the test settings' PUBLIC_BASE_URL


def scope_of(request: httpx.Request) -> dict:
    return {"type": "http", "method": request.method, "path": request.url.path,
            "raw_path": request.url.raw_path, "query_string": b"",
            "headers": [(k.lower(), v) for k, v in request.headers.raw]}


def signed(private_key, *, nonce: str | None = None, headers: dict | None = None,
           components=("@authority",), keyid: str | None = None) -> dict:
    now = int(time.time())
    request = httpx.Request("GET", ITEM, headers=headers or {})
    sign_request(request, private_key, keyid=keyid or thumbprint_of(public_jwk_of(private_key)),
                 created=now, expires=now + 60, nonce=nonce or new_nonce(), components=components)
    return scope_of(request)


@pytest.fixture
async def identifier(bots_app, fetcher) -> AsyncIterator[BotIdentifier]:
    resources = bots_app.resources
    yield BotIdentifier(resources, AccessCache(30), FailedKeyLookupLimiter(3, 60), bots_app.bots.nonces, fetcher)


async def register(resources, fetcher, customer_id, **registration):
    async with session_scope(resources.sessionmaker) as session:
        return await register_bot(session, resources.redis, resources.settings.redis_key_prefix, fetcher,
                                  customer_id, name="examplebot", **registration)


async def test_a_registered_bots_signature_is_its_customers_request(bots_app, identifier, fetcher, bot_key):
    crawler = await new_crawler(bots_app.resources)
    await register(bots_app.resources, fetcher, crawler.customer_id, jwks=[public_jwk_of(bot_key)])
    record = await identifier.identify(signed(bot_key), "192.0.2.1")
    assert record is not None and record.customer_id == crawler.customer_id
    assert record.target is not None and record.target.item_id == crawler.usage_item_id


async def test_an_unregistered_signer_is_nobody(identifier):
    assert await identifier.identify(signed(Ed25519PrivateKey.generate()), "192.0.2.2") is None


async def test_an_unsigned_request_is_nobody(identifier):
    assert await identifier.identify(scope_of(httpx.Request("GET", ITEM)), "192.0.2.3") is None


async def test_a_replayed_nonce_is_refused(bots_app, identifier, fetcher, bot_key):
    crawler = await new_crawler(bots_app.resources)
    await register(bots_app.resources, fetcher, crawler.customer_id, jwks=[public_jwk_of(bot_key)])
    request = signed(bot_key)
    assert await identifier.identify(request, "192.0.2.4") is not None
    with pytest.raises(KeylessSignatureInvalid, match="already used") as replay:
        await identifier.identify(request, "192.0.2.4")
    assert replay.value.status == 400 and replay.value.headers["crawler-error"] == "InvalidSignature"


async def test_concurrent_nonce_checks_share_one_round_trip(bots_app, identifier, fetcher, bot_key):
    crawler = await new_crawler(bots_app.resources)
    await register(bots_app.resources, fetcher, crawler.customer_id, jwks=[public_jwk_of(bot_key)])
    await identifier.identify(signed(bot_key), "192.0.2.5")  # the key is now cached
    before = identifier.nonces.round_trips
    records = await asyncio.gather(*(identifier.identify(signed(bot_key), "192.0.2.5") for _ in range(20)))
    assert all(records)
    assert identifier.nonces.round_trips == before + 1


async def test_a_signature_without_a_nonce_is_refused(bots_app, identifier, fetcher, bot_key):
    crawler = await new_crawler(bots_app.resources)
    await register(bots_app.resources, fetcher, crawler.customer_id, jwks=[public_jwk_of(bot_key)])
    now = int(time.time())  # the RFC-written signer of tests/standards/signing.py sends no nonce
    request = httpx.Request("GET", ITEM, headers=sign_headers(
        bot_key, authority="127.0.0.1:8000", created=now, expires=now + 60))
    with pytest.raises(KeylessSignatureInvalid, match="needs a nonce"):
        await identifier.identify(scope_of(request), "192.0.2.6")


async def test_a_forged_signature_for_a_registered_keyid_is_refused(bots_app, identifier, fetcher, bot_key):
    crawler = await new_crawler(bots_app.resources)
    await register(bots_app.resources, fetcher, crawler.customer_id, jwks=[public_jwk_of(bot_key)])
    forged = signed(Ed25519PrivateKey.generate(), keyid=thumbprint_of(public_jwk_of(bot_key)))
    with pytest.raises(KeylessSignatureInvalid, match="does not verify"):
        await identifier.identify(forged, "192.0.2.7")


async def test_payment_headers_must_be_covered_by_the_signature(bots_app, identifier, fetcher, bot_key):
    crawler = await new_crawler(bots_app.resources)
    await register(bots_app.resources, fetcher, crawler.customer_id, jwks=[public_jwk_of(bot_key)])
    uncovered = signed(bot_key, headers={"crawler-max-price": "USD 1.00"})
    with pytest.raises(KeylessSignatureInvalid, match="must cover crawler-max-price"):
        await identifier.identify(uncovered, "192.0.2.8")
    covered = signed(bot_key, headers={"crawler-max-price": "USD 1.00"},
                     components=("@authority", "crawler-max-price"))
    assert await identifier.identify(covered, "192.0.2.8") is not None


async def test_unknown_keyids_are_throttled_per_address(identifier):
    for _ in range(3):
        assert await identifier.identify(signed(Ed25519PrivateKey.generate()), "192.0.2.9") is None
    with pytest.raises(TooManyFailedKeyLookups):
        await identifier.identify(signed(Ed25519PrivateKey.generate()), "192.0.2.9")


async def test_a_rotated_directory_key_is_picked_up_and_a_known_key_never_fetches(
    bots_app, identifier, fetcher, directory_server
):
    crawler = await new_crawler(bots_app.resources)
    old_key, new_key = Ed25519PrivateKey.generate(), Ed25519PrivateKey.generate()
    directory_server.keys = [public_jwk_of(old_key)]
    await register(bots_app.resources, fetcher, crawler.customer_id, directory_url=directory_server.base_url)
    agent = {"Signature-Agent": f'agent1="{directory_server.base_url}"'}
    components = ("@authority", '"signature-agent";key="agent1"')
    fetched = directory_server.requests
    for _ in range(3):
        assert await identifier.identify(signed(old_key, headers=agent, components=components), "192.0.2.10")
    assert directory_server.requests == fetched  # a known key: no directory fetch

    directory_server.keys = [public_jwk_of(new_key)]  # the bot rotates its key
    record = await identifier.identify(signed(new_key, headers=agent, components=components), "192.0.2.10")
    assert record is not None and record.customer_id == crawler.customer_id
    assert directory_server.requests == fetched + 1


@pytest.mark.parametrize(
    ("header", "urls"),
    [
        ('agent1="https://bot.example"', ["https://bot.example/.well-known/http-message-signatures-directory"]),
        ('"https://bot.example/dir"', ["https://bot.example/dir"]),
        ('a="http://insecure.example", b="https://ok.example"',
         ["https://ok.example/.well-known/http-message-signatures-directory"]),
        (None, []),
    ],
)
def test_signature_agent_names_key_directories(header, urls):
    assert signature_agent_directories(header) == urls
