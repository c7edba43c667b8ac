"""Refunds and disputes, with the local Stripe server's own objects and events (signed with
the real scheme): only this customer's licensing charges count; revoking cancels the Stripe
subscription; a won dispute lifts a dispute suspension and no paid invoice lifts either."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from typing import Any

import pytest
from asgi_lifespan import LifespanManager
from httpx import ASGITransport, AsyncClient

from licensing_api.accounts.models import AccountState
from licensing_api.main import create_app
from tests.webhooks.builders import (
    T0,
    audit_states,
    customer_row,
    deliver,
    event,
    invoice_for,
    licensed_customer,
    subscription_for,
)


def stripe_event(stripe_client, event_type: str, object_id: str) -> dict[str, Any]:  # type: ignore[no-untyped-def]
    """The newest event of `event_type` the local Stripe server emitted about `object_id`
    (as JSON again: the SDK reads decimal strings as `Decimal`)."""
    found = next(e for e in stripe_client.v1.events.list({"type": event_type, "limit": 100}).data
                 if e.data.object.id == object_id)
    return json.loads(json.dumps(found.to_dict(), default=str))


@pytest.fixture
async def suspending_app(settings) -> AsyncIterator[tuple[AsyncClient, Any]]:  # type: ignore[no-untyped-def]
    """The app with REFUND_ACTION=suspend and DISPUTE_ACTION=suspend."""
    app = create_app(settings.model_copy(update={"refund_action": "suspend", "dispute_action": "suspend"}))
    async with LifespanManager(app) as manager:
        transport = ASGITransport(app=manager.app)
        async with AsyncClient(transport=transport, base_url="http://testserver") as http:
            yield http, manager._state["resources"]


async def test_a_refund_of_an_unrelated_charge_changes_nothing(client, resources, stripe_client):
    customer = await licensed_customer(resources, stripe_client)
    one_off = stripe_client.v1.payment_intents.create({
        "customer": customer.stripe_customer_id, "amount": 4200, "currency": "usd",
        "payment_method": "pm_card_visa", "confirm": True, "description": "printed book"})
    stripe_client.v1.refunds.create({"payment_intent": one_off.id})
    refunded = stripe_event(stripe_client, "charge.refunded", one_off.latest_charge)
    assert refunded["data"]["object"]["refunded"] is True
    response = await deliver(client, refunded)
    assert response.json()["outcome"] == "ignored"
    assert (await customer_row(resources, customer.id)).state == AccountState.ACTIVE
    assert stripe_client.v1.subscriptions.retrieve(customer.stripe_subscription_id).status == "active"


async def test_a_refund_of_a_licensing_invoice_revokes_and_cancels_the_stripe_subscription(
    client, resources, stripe_client
):
    customer = await licensed_customer(resources, stripe_client)
    stripe_client.v1.refunds.create({"charge": customer.paid_charge_id})
    response = await deliver(client, stripe_event(stripe_client, "charge.refunded", customer.paid_charge_id))
    assert response.json()["outcome"] == "applied"
    assert (await customer_row(resources, customer.id)).state == AccountState.REVOKED
    assert stripe_client.v1.subscriptions.retrieve(customer.stripe_subscription_id).status == "canceled"
    deleted = stripe_event(stripe_client, "customer.subscription.deleted", customer.stripe_subscription_id)
    assert (await deliver(client, deleted)).status_code == 200
    assert (await audit_states(resources, customer.id))[-1] == ("active", "revoked")  # audited once


async def test_a_dispute_revokes_and_cancels_the_stripe_subscription(
    client, resources, stripe_client, stripe_server
):
    customer = await licensed_customer(resources, stripe_client)
    dispute = stripe_server.open_dispute(customer.paid_charge_id)
    response = await deliver(client, stripe_event(stripe_client, "charge.dispute.created", dispute["id"]))
    assert response.json()["outcome"] == "applied"
    assert (await customer_row(resources, customer.id)).state == AccountState.REVOKED
    assert stripe_client.v1.subscriptions.retrieve(customer.stripe_subscription_id).status == "canceled"


async def test_a_dispute_suspension_survives_a_paid_invoice_and_is_lifted_when_the_dispute_is_won(
    suspending_app, stripe_client, stripe_server
):
    http, resources = suspending_app
    customer = await licensed_customer(resources, stripe_client)
    dispute = stripe_server.open_dispute(customer.paid_charge_id)
    await deliver(http, stripe_event(stripe_client, "charge.dispute.created", dispute["id"]))
    assert (await customer_row(resources, customer.id)).state == AccountState.SUSPENDED
    paid = await deliver(http, event("invoice.paid", invoice_for(customer, "paid"), T0 + 86400 * 2))
    assert paid.status_code == 200
    assert (await customer_row(resources, customer.id)).state == AccountState.SUSPENDED
    stripe_client.v1.disputes.update(dispute["id"], {"evidence": {"uncategorized_text": "winning_evidence"}})
    response = await deliver(http, stripe_event(stripe_client, "charge.dispute.closed", dispute["id"]))
    assert response.json()["outcome"] == "applied"
    assert (await customer_row(resources, customer.id)).state == AccountState.ACTIVE


async def test_a_lost_dispute_keeps_the_suspension(suspending_app, stripe_client, stripe_server):
    http, resources = suspending_app
    customer = await licensed_customer(resources, stripe_client)
    dispute = stripe_server.open_dispute(customer.paid_charge_id)
    await deliver(http, stripe_event(stripe_client, "charge.dispute.created", dispute["id"]))
    stripe_client.v1.disputes.close(dispute["id"])
    response = await deliver(http, stripe_event(stripe_client, "charge.dispute.closed", dispute["id"]))
    assert response.json()["outcome"] == "ignored"
    assert (await customer_row(resources, customer.id)).state == AccountState.SUSPENDED


async def test_a_refund_suspension_survives_a_paid_invoice(suspending_app, stripe_client):
    http, resources = suspending_app
    customer = await licensed_customer(resources, stripe_client)
    stripe_client.v1.refunds.create({"charge": customer.paid_charge_id})
    await deliver(http, stripe_event(stripe_client, "charge.refunded", customer.paid_charge_id))
    assert (await customer_row(resources, customer.id)).state == AccountState.SUSPENDED
    await deliver(http, event("invoice.paid", invoice_for(customer, "paid"), T0 + 86400 * 2))
    assert (await customer_row(resources, customer.id)).state == AccountState.SUSPENDED
    # Nor does the subscription becoming active again.
    reactivated = event("customer.subscription.updated", subscription_for(customer, "active"),
                        T0 + 86400 * 3, previous={"status": "past_due"})
    assert (await deliver(http, reactivated)).json()["outcome"] == "applied"
    assert (await customer_row(resources, customer.id)).state == AccountState.SUSPENDED
