"""Self-service signup: Checkout URL, provisioning on completion, the key shown once."""

from __future__ import annotations

from datetime import timedelta
from urllib.parse import urlsplit

import pytest
from asgi_lifespan import LifespanManager
from httpx import ASGITransport, AsyncClient
from sqlalchemy import func, select

from licensing_api.accounts.models import AccountState, Customer
from licensing_api.billing.models import Subscription, SubscriptionItem
from licensing_api.db import session_scope, utcnow
from licensing_api.keys.models import ApiKey
from licensing_api.keys.service import digest_of, is_well_formed
from licensing_api.main import create_app
from licensing_api.signup.models import SignupSecret
from licensing_api.signup.service import (
    SECRET_TTL,
    NotASignupCheckout,
    SignupStatus,
    forget_expired_signup_secrets,
    provision_from_checkout,
    take_signup_secret,
)
from tests.billing.stripe_setup import unique_email

PROBLEM = "application/problem+json"


async def start(client, plan_id, email=None):  # type: ignore[no-untyped-def]
    return await client.post("/v1/signup", json={"email": email or unique_email(), "plan": plan_id})


async def provision(resources, checkout_session):  # type: ignore[no-untyped-def]
    async with session_scope(resources.sessionmaker) as session:
        return await provision_from_checkout(session, resources, checkout_session)


def success_path(redirect_url: str) -> str:
    parts = urlsplit(redirect_url)
    return f"{parts.path}?{parts.query}"


async def test_signup_returns_a_checkout_url_for_the_plans_prices(client, standard, stripe_client):
    email = unique_email()
    response = await start(client, standard.id, email)

    assert response.status_code == 201, response.text
    body = response.json()
    assert body["url"].startswith("http")
    checkout = stripe_client.v1.checkout.sessions.retrieve(body["checkout_session_id"])
    assert (checkout.mode, checkout.customer_email, checkout.status) == ("subscription", email, "open")
    assert checkout.client_reference_id
    assert checkout.success_url == "https://publisher.example/signup/success?session_id={CHECKOUT_SESSION_ID}"
    assert checkout.cancel_url == "https://publisher.example/signup/cancelled"
    assert checkout.metadata["licensing_plan"] == standard.id


async def test_signup_for_an_unknown_plan_is_a_404_problem(client, standard):
    response = await start(client, "gold")
    assert response.status_code == 404
    assert response.headers["content-type"] == PROBLEM
    assert standard.id in response.json()["detail"]


@pytest.mark.parametrize("email", ["not-an-email", "", "a@b"])
async def test_signup_with_a_bad_email_is_a_422_problem(client, standard, email):
    response = await client.post("/v1/signup", json={"email": email, "plan": standard.id})
    assert response.status_code == 422
    assert response.headers["content-type"] == PROBLEM


async def test_signup_before_plans_sync_is_a_503_problem(client, plan_ids):
    response = await start(client, plan_ids["standard"])
    assert response.status_code == 503
    assert "plans sync" in response.json()["detail"]


async def test_signup_with_billing_off_is_a_503_problem(settings):
    app = create_app(settings.model_copy(update={"stripe_api_key": None}))
    async with LifespanManager(app) as manager:
        transport = ASGITransport(app=manager.app)
        async with AsyncClient(transport=transport, base_url="http://testserver") as http:
            response = await http.post("/v1/signup", json={"email": unique_email(), "plan": "standard"})
    assert response.status_code == 503
    assert response.headers["content-type"] == PROBLEM
    assert response.json()["type"].endswith("/billing-disabled")


async def test_completed_checkout_provisions_the_customer_and_shows_the_key_once(
    client, resources, standard, stripe_server
):
    email = unique_email()
    started = (await start(client, standard.id, email)).json()
    completed = stripe_server.complete_checkout(started["checkout_session_id"])

    provisioned = await provision(resources, completed["session"])
    first = await client.get(success_path(completed["redirect_url"]))
    second = await client.get(success_path(completed["redirect_url"]))

    assert provisioned.customer.email == email
    assert provisioned.customer.state == AccountState.ACTIVE
    assert provisioned.customer.stripe_customer_id == completed["session"]["customer"]
    assert provisioned.subscription.stripe_subscription_id == completed["session"]["subscription"]
    secret = provisioned.first_key.secret
    assert first.status_code == 200 and secret in first.text
    assert first.headers["cache-control"] == "no-store"
    assert second.status_code == 200 and secret not in second.text
    assert "already shown" in second.text
    async with session_scope(resources.sessionmaker) as session:
        key = await session.scalar(select(ApiKey).where(ApiKey.digest == digest_of(secret)))
    assert key is not None and key.customer_id == provisioned.customer.id and is_well_formed(secret)


async def test_a_repeated_checkout_event_provisions_once(client, resources, standard, stripe_server):
    started = (await start(client, standard.id)).json()
    checkout = stripe_server.complete_checkout(started["checkout_session_id"])["session"]

    first = await provision(resources, checkout)
    again = await provision(resources, checkout)

    assert again.customer.id == first.customer.id and again.first_key is None
    async with session_scope(resources.sessionmaker) as session:
        customers = await session.scalar(select(func.count(Customer.id)).where(
            Customer.stripe_customer_id == checkout["customer"]))
        subscriptions = await session.scalar(select(func.count(Subscription.id)).where(
            Subscription.customer_id == first.customer.id))
        items = await session.scalar(select(func.count(SubscriptionItem.id)).where(
            SubscriptionItem.subscription_id == first.subscription.id))
        keys = await session.scalar(select(func.count(ApiKey.id)).where(ApiKey.customer_id == first.customer.id))
    assert (customers, subscriptions, items, keys) == (1, 1, 2, 1)


async def test_the_success_page_before_the_webhook_says_the_account_is_being_set_up(client, standard, stripe_server):
    started = (await start(client, standard.id)).json()
    completed = stripe_server.complete_checkout(started["checkout_session_id"])

    response = await client.get(success_path(completed["redirect_url"]))

    assert response.status_code == 200 and "Setting up" in response.text


async def test_the_success_page_for_an_unpaid_checkout_says_so(client, standard):
    started = (await start(client, standard.id)).json()
    response = await client.get("/signup/success", params={"session_id": started["checkout_session_id"]})
    assert response.status_code == 200 and "not completed" in response.text


async def test_the_success_page_for_an_unknown_session_is_a_404_problem(client, standard):
    response = await client.get("/signup/success", params={"session_id": "cs_test_nothing"})
    assert response.status_code == 404
    assert response.headers["content-type"] == PROBLEM


async def test_a_checkout_session_that_is_not_a_signup_is_refused(resources, standard):
    with pytest.raises(NotASignupCheckout):
        await provision(resources, {"id": "cs_test_x", "mode": "payment", "metadata": {}})


async def test_the_secret_is_kept_sealed_and_is_not_shown_after_an_hour(client, resources, standard, stripe_server):
    started = (await start(client, standard.id)).json()
    completed = stripe_server.complete_checkout(started["checkout_session_id"])
    provisioned = await provision(resources, completed["session"])
    async with session_scope(resources.sessionmaker) as session:
        kept = await session.get(SignupSecret, started["checkout_session_id"])
        assert kept.sealed_secret and provisioned.first_key.secret not in kept.sealed_secret
        assert provisioned.first_key.secret[3:12] not in kept.sealed_secret
    later = utcnow() + SECRET_TTL + timedelta(seconds=1)
    async with session_scope(resources.sessionmaker) as session:
        shown = await take_signup_secret(session, resources, started["checkout_session_id"], now=later)
    assert shown.status is SignupStatus.ALREADY_SHOWN and shown.secret is None
    async with session_scope(resources.sessionmaker) as session:
        assert (await session.get(SignupSecret, started["checkout_session_id"])).sealed_secret is None


async def test_expired_secrets_are_forgotten_by_the_periodic_sweep(client, resources, standard, stripe_server):
    started = (await start(client, standard.id)).json()
    completed = stripe_server.complete_checkout(started["checkout_session_id"])
    await provision(resources, completed["session"])
    async with session_scope(resources.sessionmaker) as session:
        assert await forget_expired_signup_secrets(session, utcnow() + SECRET_TTL) >= 1
    async with session_scope(resources.sessionmaker) as session:
        assert (await session.get(SignupSecret, started["checkout_session_id"])).sealed_secret is None
