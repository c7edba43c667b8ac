"""The dashboard over ASGI with billing on: Stripe trouble never breaks the page."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator

import pytest
from asgi_lifespan import LifespanManager
from httpx import ASGITransport, AsyncClient

from licensing_api.accounts.models import Customer
from licensing_api.billing.provisioning import provision_local_customer
from licensing_api.db import session_scope
from licensing_api.main import create_app
from licensing_api.settings import load_settings
from tests.dashboard.pages import hidden, signed_in_page


@pytest.fixture
async def billing_app(settings, stripe_server) -> AsyncIterator[tuple[AsyncClient, object]]:
    """The app with billing on (its own Redis prefix: its flusher must not take others' usage)."""
    values = settings.model_dump() | {
        "stripe_api_key": stripe_server.api_key,
        "stripe_api_base": stripe_server.url,
        "redis_key_prefix": settings.redis_key_prefix + "billing-pages:",
    }
    app = create_app(load_settings(**values, _env_file=None))
    async with LifespanManager(app) as manager:
        transport = ASGITransport(app=manager.app)  # type: ignore[arg-type]
        async with AsyncClient(transport=transport, base_url="http://testserver") as http:
            yield http, manager._state["resources"]  # type: ignore[attr-defined]


async def _customer(resources, stripe_customer_id: str | None):
    async with session_scope(resources.sessionmaker) as session:
        provisioned = await provision_local_customer(
            session, f"{uuid.uuid4().hex[:8]}@example.com", resources.catalogue.get("standard")
        )
        customer = await session.get(Customer, provisioned.customer.id)
        customer.stripe_customer_id = stripe_customer_id
    return provisioned


async def test_when_stripe_cannot_list_invoices_the_page_still_renders_and_says_so(billing_app, stripe_server):
    client, resources = billing_app
    stripe_customer = stripe_server.stripe_client().v1.customers.create({"email": "down@example.com"})
    provisioned = await _customer(resources, stripe_customer.id)
    stripe_server.inject_fault("GET", "/v1/invoices", "error", count=3)  # the SDK tries 3 times
    try:
        page = await signed_in_page(client, provisioned.first_key.secret)
    finally:
        stripe_server.clear_faults()
    assert "Invoices are unavailable right now" in page
    assert 'id="units-used"' in page and 'id="billing-portal"' in page


async def test_an_account_without_a_stripe_customer_cannot_open_the_portal(billing_app):
    client, resources = billing_app
    provisioned = await _customer(resources, None)
    page = await signed_in_page(client, provisioned.first_key.secret)
    assert 'id="billing-portal" disabled' in page
    response = await client.post("/dashboard/billing-portal", data={"csrf_token": hidden(page, "csrf_token")})
    assert response.status_code == 409 and "no Stripe customer" in response.text
