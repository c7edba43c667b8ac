"""The RSL License Server (OLP): a key holder obtains a license token for its plan's license,
copied verbatim from license.xml; introspection says whether a token is active; everyone else
learns how to get one; client authentication is throttled per address."""

from __future__ import annotations

import asyncio
import base64
import re
from datetime import timedelta

import pytest

from licensing_api.db import session_scope, utcnow
from licensing_api.keys.models import ApiKey
from licensing_api.olp.tokens import issue_token
from tests.access.helpers import new_crawler

RESOURCE = "http://127.0.0.1:8000/v1/content/sourdough-chemistry"  # under the test PUBLIC_BASE_URL


def basic(secret: str, client_id: str = "crawler") -> dict[str, str]:
    return {"Authorization": "Basic " + base64.b64encode(f"{client_id}:{secret}".encode()).decode()}


async def plan_license(client, plan_id: str) -> str:
    """The `<license>` element license.xml offers for a plan, copied character for character
    (the RSL namespace stays behind on the document's root)."""
    document = (await client.get("/license.xml")).text
    for element in re.findall(r"<license>.*?</license>", document, re.DOTALL):
        if f"#plan-{plan_id}</custom>" in element:
            return element
    raise AssertionError(plan_id)


async def token_for(client, crawler, plan: str = "standard", resource: str = RESOURCE) -> dict:
    response = await client.post("/olp/token", headers=basic(crawler.secret), data={
        "grant_type": "rsl", "license": await plan_license(client, plan), "resource": resource})
    assert response.status_code == 200, response.text
    return response.json()


async def test_the_verbatim_license_from_license_xml_gets_a_license_token(client, resources, settings):
    crawler = await new_crawler(resources, plan="standard")
    body = await token_for(client, crawler)
    assert body["token_type"] == "License" and body["license"] == "standard"
    assert body["access_token"].startswith("lt_") and body["access_token"] != crawler.secret
    assert body["expires_in"] == settings.license_token_ttl_seconds
    assert body["resource"] == RESOURCE


async def test_a_license_element_with_its_own_namespace_is_accepted_too(client, resources):
    crawler = await new_crawler(resources, plan="standard")
    element = (await plan_license(client, "standard")).replace(
        "<license>", '<license xmlns="https://rslstandard.org/rsl">', 1)
    response = await client.post("/olp/token", headers=basic(crawler.secret),
                                 data={"grant_type": "rsl", "license": element, "resource": RESOURCE})
    assert response.status_code == 200, response.text


async def test_introspection_says_active_for_the_holders_token_and_inactive_otherwise(client, resources):
    crawler, stranger = await new_crawler(resources, plan="standard"), await new_crawler(resources, plan="standard")
    token = (await token_for(client, crawler))["access_token"]
    mine = await client.post("/olp/introspect", headers=basic(crawler.secret), data={"token": token})
    assert mine.status_code == 200
    body = mine.json()
    assert body["active"] is True and body["token_type"] == "License" and body["license"] == "standard"
    assert body["sub"] == str(crawler.customer_id) and body["exp"] - body["iat"] == 3600
    assert body["client_id"] == "crawler"
    theirs = await client.post("/olp/introspect", headers=basic(stranger.secret), data={"token": token})
    assert theirs.json() == {"active": False}
    unknown = await client.post("/olp/introspect", headers=basic(crawler.secret), data={"token": "lt_" + "x" * 43})
    assert unknown.json() == {"active": False}


async def test_a_revoked_key_takes_its_license_tokens_with_it(client, resources):
    crawler = await new_crawler(resources, plan="standard")
    token = (await token_for(client, crawler))["access_token"]
    other_key = (await client.post("/v1/keys", headers=crawler.headers, json={"name": "second"})).json()["secret"]
    assert (await client.delete(f"/v1/keys/{crawler.key_id}", headers={"Authorization": f"Bearer {other_key}"})).status_code == 200
    after = await client.post("/olp/introspect", headers=basic(other_key), data={"token": token})
    assert after.json() == {"active": False}


async def test_a_client_without_credentials_is_sent_to_signup(client, settings):
    response = await client.post(
        "/olp/token",
        data={"grant_type": "rsl", "license": await plan_license(client, "standard"), "resource": RESOURCE},
    )
    assert response.status_code == 401
    assert response.json()["error"] == "invalid_client"
    assert response.json()["signup_url"] == f"{settings.public_base_url}/v1/signup"
    assert response.headers["www-authenticate"].startswith("Basic")


async def test_unknown_client_secrets_are_throttled_per_address(client, settings):
    license_ = await plan_license(client, "standard")
    statuses = []
    for attempt in range(settings.failed_key_lookup_limit + 1):
        response = await client.post("/olp/token", headers=basic("lk_" + f"{attempt:043d}"),
                                     data={"grant_type": "rsl", "license": license_, "resource": RESOURCE})
        statuses.append(response.status_code)
    assert statuses[:-1] == [401] * settings.failed_key_lookup_limit
    assert statuses[-1] == 429
    assert response.json()["error"] == "too_many_requests" and int(response.headers["retry-after"]) >= 1


async def test_a_license_for_another_plan_is_not_granted(client, resources):
    crawler = await new_crawler(resources, plan="standard")
    response = await client.post(
        "/olp/token", headers=basic(crawler.secret),
        data={"grant_type": "rsl", "license": await plan_license(client, "premium"), "resource": RESOURCE},
    )
    assert response.status_code == 400
    assert response.json()["error"] == "invalid_grant"
    assert "standard" in response.json()["error_description"]


async def test_only_the_rsl_grant_type_is_supported(client, resources):
    crawler = await new_crawler(resources, plan="standard")
    response = await client.post("/olp/token", headers=basic(crawler.secret),
                                 data={"grant_type": "client_credentials"})
    assert response.status_code == 400
    assert response.json()["error"] == "unsupported_grant_type"


@pytest.mark.parametrize("resource", [
    "https://elsewhere.example/page",
    "http://127.0.0.1:8000/v1/contentEVIL",  # a prefix of the string, not of the path
    "http://127.0.0.1:8000/v1/content-archive/x",
])
async def test_a_resource_outside_the_licensed_content_is_refused(client, resources, resource):
    crawler = await new_crawler(resources, plan="standard")
    response = await client.post(
        "/olp/token", headers=basic(crawler.secret),
        data={"grant_type": "rsl", "license": await plan_license(client, "standard"), "resource": resource},
    )
    assert response.json()["error"] == "invalid_target"


@pytest.mark.parametrize("resource", ["http://127.0.0.1:8000/v1/content", "http://127.0.0.1:8000/v1/content?cursor=x"])
async def test_the_content_index_is_a_licensed_resource(client, resources, resource):
    crawler = await new_crawler(resources, plan="standard")
    await token_for(client, crawler, resource=resource)


async def test_a_malformed_license_element_is_an_invalid_request(client, resources):
    crawler = await new_crawler(resources, plan="standard")
    response = await client.post(
        "/olp/token", headers=basic(crawler.secret),
        data={"grant_type": "rsl", "license": "<license", "resource": RESOURCE},
    )
    assert response.status_code == 400
    assert response.json()["error"] == "invalid_request"


async def eventually(check, attempts: int = 50):
    """Invalidations travel over Redis pub/sub: retry for up to a second."""
    for _ in range(attempts):
        result = await check()
        if result:
            return result
        await asyncio.sleep(0.02)
    return await check()


async def test_the_olp_round_trip(client, resources, settings):
    """license.xml → the verbatim <license> → a token → content → introspection active →
    the key revoked → the token refused and introspection inactive."""
    crawler = await new_crawler(resources, plan="standard")
    token = (await token_for(client, crawler))["access_token"]
    as_token = {"Authorization": f"License {token}"}
    served = await client.get("/v1/content/sourdough-chemistry", headers=as_token)
    assert served.status_code == 200
    assert served.headers["link"] == f'<{settings.public_base_url}/license.xml>; rel="license"; type="application/rsl+xml"'
    assert served.headers["crawler-charged"] == "USD 0.00"
    again = await client.get("/v1/content/sourdough-chemistry", headers=as_token)  # from the cache now
    assert int(again.headers["x-usage-units"]) == 2  # counted on the key's subscription
    assert (await client.post("/olp/introspect", headers=basic(crawler.secret), data={"token": token})).json()["active"]

    second = (await client.post("/v1/keys", headers=crawler.headers, json={"name": "second"})).json()["secret"]
    assert (await client.delete(f"/v1/keys/{crawler.key_id}", headers={"Authorization": f"Bearer {second}"})).status_code == 200

    async def refused():
        response = await client.get("/v1/content/sourdough-chemistry", headers=as_token)
        return response if response.status_code == 401 else None

    response = await eventually(refused)
    assert response is not None, "the token still serves content after its key was revoked"
    assert 'License error="invalid_token"' in response.headers["www-authenticate"]
    inactive = await client.post("/olp/introspect", headers=basic(second), data={"token": token})
    assert inactive.json() == {"active": False}


async def test_an_expired_license_token_is_refused(client, resources):
    crawler = await new_crawler(resources, plan="standard")
    async with session_scope(resources.sessionmaker) as session:
        key = await session.get(ApiKey, crawler.key_id)
        issued = await issue_token(session, key, plan_id="standard", resource=RESOURCE, client_id=None,
                                   ttl_seconds=3600, now=utcnow() - timedelta(hours=2))
    response = await client.get("/v1/content/sourdough-chemistry", headers={"Authorization": f"License {issued.token}"})
    assert response.status_code == 401
    assert response.json()["detail"] == "unknown or expired license token"


async def test_a_license_token_cannot_manage_keys(client, resources):
    crawler = await new_crawler(resources, plan="standard")
    token = (await token_for(client, crawler))["access_token"]
    response = await client.get("/v1/keys", headers={"Authorization": f"License {token}"})
    assert response.status_code == 401
