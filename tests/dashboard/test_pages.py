"""The dashboard over ASGI: sign-in, CSRF, the numbers shown, key actions, billing off."""

from __future__ import annotations

import asyncio
import json
import re
import uuid
from datetime import timedelta

import pytest
from sqlalchemy import select

from licensing_api.access.invalidation import channel_name
from licensing_api.accounts.models import AccountState, Customer
from licensing_api.billing.pricing import estimate_bill, format_amount
from licensing_api.billing.provisioning import provision_local_customer
from licensing_api.db import session_scope, utcnow
from licensing_api.keys.models import ApiKey, KeyStatus
from licensing_api.usage import redis_keys
from licensing_api.usage.models import KeyDailyUsage
from licensing_api.usage.service import current_usage
from tests.dashboard.pages import hidden, sign_in, signed_in_page, value_of


async def _customer(resources, plan: str = "standard"):
    async with session_scope(resources.sessionmaker) as session:
        return await provision_local_customer(
            session, f"{uuid.uuid4().hex[:8]}@example.com", resources.catalogue.get(plan)
        )


async def _key(resources, key_id):
    async with session_scope(resources.sessionmaker) as session:
        return await session.get(ApiKey, key_id)


async def test_signing_in_sets_an_httponly_samesite_cookie_without_the_key(client, resources):
    provisioned = await _customer(resources)
    response = await sign_in(client, provisioned.first_key.secret)
    assert response.status_code == 303 and response.headers["location"] == "/dashboard"
    cookie = next(c for c in response.headers.get_list("set-cookie") if c.startswith("licensing_dashboard="))
    assert "HttpOnly" in cookie and "SameSite=lax" in cookie and "Path=/dashboard" in cookie
    assert provisioned.first_key.secret not in cookie
    assert provisioned.first_key.secret[3:20] not in cookie


@pytest.mark.parametrize("revoked", [False, True], ids=["unknown", "revoked"])
async def test_an_unknown_or_revoked_key_cannot_sign_in(client, resources, revoked):
    provisioned = await _customer(resources)
    secret = provisioned.first_key.secret
    if revoked:
        async with session_scope(resources.sessionmaker) as session:
            (await session.get(ApiKey, provisioned.first_key.key.id)).status = KeyStatus.REVOKED
    else:
        secret = "lk_" + "A" * 43
    response = await sign_in(client, secret)
    assert response.status_code == 401
    assert "licensing_dashboard=" not in response.headers.get("set-cookie", "")
    assert 'id="api-key"' in response.text


async def test_sign_in_without_the_forms_nonce_is_refused(client, resources):
    provisioned = await _customer(resources)
    await client.get("/dashboard")
    response = await client.post("/dashboard/sign-in", data={"api_key": provisioned.first_key.secret})
    assert response.status_code == 403
    assert "licensing_dashboard=" not in response.headers.get("set-cookie", "")


@pytest.mark.parametrize("action", ["keys", "rotate", "revoke", "sign-out", "billing-portal"])
async def test_a_post_without_the_sessions_csrf_token_is_refused_and_changes_nothing(client, resources, action):
    provisioned = await _customer(resources)
    key = provisioned.first_key.key
    await signed_in_page(client, provisioned.first_key.secret)
    path = {
        "keys": "/dashboard/keys",
        "rotate": f"/dashboard/keys/{key.id}/rotate",
        "revoke": f"/dashboard/keys/{key.id}/revoke",
        "sign-out": "/dashboard/sign-out",
        "billing-portal": "/dashboard/billing-portal",
    }[action]
    for token in ("", "forged-token"):
        response = await client.post(path, data={"csrf_token": token})
        assert response.status_code == 403
        assert response.headers["content-type"].startswith("text/html")
        assert '<a href="/dashboard">Back to the dashboard</a>' in response.text
    async with session_scope(resources.sessionmaker) as session:
        keys = list(await session.scalars(select(ApiKey).where(ApiKey.customer_id == key.customer_id)))
    assert [(k.id, k.status) for k in keys] == [(key.id, KeyStatus.ACTIVE)]
    assert (await client.get("/dashboard")).text.count('id="units-used"') == 1


async def test_the_page_shows_the_numbers_of_the_usage_service(client, resources):
    provisioned = await _customer(resources)
    item = provisioned.usage_item
    await resources.redis.hset(
        resources.redis_key(redis_keys.period_totals(redis_keys.shard_of(item.id))),
        redis_keys.item_period_field(item.id, item.current_period_start),
        3505,
    )
    page = await signed_in_page(client, provisioned.first_key.secret)
    async with session_scope(resources.sessionmaker) as session:
        usage = await current_usage(
            session, resources.redis, resources.settings.redis_key_prefix, resources.catalogue,
            provisioned.customer.id,
        )
    expected = estimate_bill(resources.catalogue.get("standard"), 3505)
    assert value_of(page, "units-used") == usage.units == 3505
    assert value_of(page, "included-units") == usage.included_units == 1000
    assert value_of(page, "overage-units") == usage.overage_units == 2505
    assert value_of(page, "estimated-total") == usage.estimated_amount == expected.total_amount == 10251
    assert format_amount(10251, "usd") in page  # 2,505 × $0.001 = $2.505 → $2.51 (half up)


async def test_daily_usage_shows_redis_counters_ahead_of_the_flushed_days(client, resources):
    provisioned = await _customer(resources)
    key = provisioned.first_key.key
    today = utcnow().date()
    async with session_scope(resources.sessionmaker) as session:
        session.add(KeyDailyUsage(api_key_id=key.id, day=today, units=7))
    await resources.redis.hset(  # the day's counter: the 7 already flushed and 5 more
        resources.redis_key(redis_keys.key_days(redis_keys.shard_of(key.id))),
        redis_keys.key_day_field(key.id, today), 12,
    )
    page = await signed_in_page(client, provisioned.first_key.secret)
    assert f'data-day="{today.isoformat()}" data-units="12"' in page
    assert '<title id="chart-svg-title">Requests served per day this billing period</title>' in page
    assert re.search(r'class="num key-units"[^>]*data-value="12"', page)


async def test_a_past_due_account_shows_its_grace_deadline(client, resources):
    provisioned = await _customer(resources)
    grace_until = (utcnow() + timedelta(days=5)).replace(microsecond=0)
    async with session_scope(resources.sessionmaker) as session:
        customer = await session.get(Customer, provisioned.customer.id)
        customer.state, customer.grace_until = AccountState.PAST_DUE, grace_until
    page = await signed_in_page(client, provisioned.first_key.secret)
    assert 'id="grace-until"' in page
    assert grace_until.strftime("%Y-%m-%d %H:%M UTC") in page


async def test_a_new_keys_secret_is_shown_once(client, resources):
    provisioned = await _customer(resources)
    page = await signed_in_page(client, provisioned.first_key.secret)
    created = await client.post("/dashboard/keys", data={"csrf_token": hidden(page, "csrf_token"), "name": "eu"})
    assert created.status_code == 200 and created.headers["cache-control"] == "no-store"
    secret = hidden(created.text.replace('readonly value=', 'name="secret" value='), "secret")
    assert secret.startswith("lk_")
    again = await client.get("/dashboard")
    assert secret not in again.text and again.text.count('class="key-row') == 2


async def _next_message(pubsub, timeout: float = 2.0):
    deadline = asyncio.get_running_loop().time() + timeout
    while asyncio.get_running_loop().time() < deadline:
        message = await pubsub.get_message(ignore_subscribe_messages=True, timeout=0.1)
        if message is not None:
            return json.loads(message["data"])
    return None


async def test_revoking_on_the_page_tells_every_worker_and_revoking_the_session_key_signs_out(client, resources):
    provisioned = await _customer(resources)
    page = await signed_in_page(client, provisioned.first_key.secret)
    created = await client.post("/dashboard/keys", data={"csrf_token": hidden(page, "csrf_token")})
    other = next(k for k in await _keys_of(resources, provisioned.customer.id) if k.id != provisioned.first_key.key.id)
    pubsub = resources.redis.pubsub()
    await pubsub.subscribe(channel_name(resources.settings.redis_key_prefix))
    try:
        response = await client.post(
            f"/dashboard/keys/{other.id}/revoke", data={"csrf_token": hidden(created.text, "csrf_token")}
        )
        assert response.status_code == 303
        assert await _next_message(pubsub) == {"key_digest": other.digest}
    finally:
        await pubsub.aclose()
    page = (await client.get(response.headers["location"])).text
    assert "Key revoked" in page and 'id="units-used"' in page
    await client.post(
        f"/dashboard/keys/{provisioned.first_key.key.id}/revoke", data={"csrf_token": hidden(page, "csrf_token")}
    )
    assert 'id="api-key"' in (await client.get("/dashboard")).text  # the session's key is gone


async def _keys_of(resources, customer_id):
    async with session_scope(resources.sessionmaker) as session:
        return list(await session.scalars(select(ApiKey).where(ApiKey.customer_id == customer_id)))


async def test_rotating_the_session_key_keeps_the_session_on_its_replacement(client, resources):
    provisioned = await _customer(resources)
    old = provisioned.first_key.key
    page = await signed_in_page(client, provisioned.first_key.secret)
    rotated = await client.post(f"/dashboard/keys/{old.id}/rotate", data={"csrf_token": hidden(page, "csrf_token")})
    assert rotated.status_code == 200 and 'id="new-key-secret"' in rotated.text
    assert (await _key(resources, old.id)).status == KeyStatus.REVOKED
    page = (await client.get("/dashboard")).text
    assert 'id="units-used"' in page and "this session" in page


async def test_another_customers_key_cannot_be_touched(client, resources):
    mine, theirs = await _customer(resources), await _customer(resources)
    page = await signed_in_page(client, mine.first_key.secret)
    token = hidden(page, "csrf_token")
    for action in ("revoke", "rotate"):
        response = await client.post(f"/dashboard/keys/{theirs.first_key.key.id}/{action}", data={"csrf_token": token})
        assert response.status_code == 404
    assert (await _key(resources, theirs.first_key.key.id)).status == KeyStatus.ACTIVE


async def test_with_billing_off_there_is_no_portal_button_and_no_invoices(client, resources):
    provisioned = await _customer(resources)
    page = await signed_in_page(client, provisioned.first_key.secret)
    assert 'id="billing-portal"' not in page and 'id="invoices-table"' not in page
    response = await client.post("/dashboard/billing-portal", data={"csrf_token": hidden(page, "csrf_token")})
    assert response.status_code == 503 and "billing is off" in response.text


async def test_signing_out_clears_the_session(client, resources):
    provisioned = await _customer(resources)
    page = await signed_in_page(client, provisioned.first_key.secret)
    response = await client.post("/dashboard/sign-out", data={"csrf_token": hidden(page, "csrf_token")})
    assert response.status_code == 303
    assert 'licensing_dashboard=""' in response.headers["set-cookie"]
    assert 'id="api-key"' in (await client.get(response.headers["location"])).text


async def test_an_address_guessing_keys_is_stopped_before_the_database(client, resources):
    limit = resources.settings.failed_key_lookup_limit
    for _ in range(limit):
        assert (await sign_in(client, "lk_" + uuid.uuid4().hex * 2)).status_code == 401
    provisioned = await _customer(resources)
    refused = await sign_in(client, provisioned.first_key.secret)
    assert refused.status_code == 429 and "retry in" in refused.text


async def test_the_pages_policy_lets_the_payment_form_redirect_only_to_stripes_billing_portal(client):
    page = await client.get("/dashboard")
    policy = dict(
        part.strip().split(" ", 1) for part in page.headers["content-security-policy"].split(";")
    )
    assert policy["form-action"] == "'self' https://billing.stripe.com"
    assert page.headers["cache-control"] == "no-store"


async def test_a_customer_without_a_subscription_still_sees_and_manages_keys(client, resources):
    from licensing_api.keys.service import create_key

    async with session_scope(resources.sessionmaker) as session:
        customer = Customer(email="pending@example.com", state=AccountState.ACTIVE)
        session.add(customer)
        await session.flush()
        new_key = await create_key(session, customer.id)
    assert (await sign_in(client, new_key.secret)).status_code == 303
    page = (await client.get("/dashboard")).text
    assert "No subscription yet" in page and 'id="units-used"' not in page
    assert new_key.key.prefix in page and 'id="create-key"' in page
