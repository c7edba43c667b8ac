"""Each handler, driven by signed events built from Stripe's example objects."""

from __future__ import annotations

import asyncio
import json
from datetime import UTC, datetime, timedelta

import pytest
from asgi_lifespan import LifespanManager
from httpx import ASGITransport, AsyncClient
from redis.asyncio import Redis

from licensing_api.access.invalidation import channel_name
from licensing_api.accounts.models import AccountState
from licensing_api.main import create_app
from licensing_api.settings import Settings
from tests.webhooks.builders import (
    T0,
    audit_states,
    charge_for,
    customer_row,
    deliver,
    event,
    invoice_for,
    licensed_customer,
    linked_customer,
    recorded_event,
    set_state,
    stripe_object,
    subscription_for,
    subscription_row,
    unique,
)

DAY = 86400


async def test_payment_failed_sets_past_due_with_grace_from_the_failure_not_the_finalization(
    client, resources, caplog
):
    """An emailed invoice finalized 10 days ago whose payment fails now keeps a whole grace
    period, and the notice names a deadline in the future."""
    customer = await linked_customer(resources)
    finalized = T0 - 10 * DAY
    failed_at = T0 + 100
    invoice = invoice_for(customer, created=finalized, collection_method="send_invoice")
    with caplog.at_level("INFO", logger="licensing_api.accounts.notifier"):
        response = await deliver(client, event("invoice.payment_failed", invoice, failed_at))
        await asyncio.sleep(0)
    assert response.json()["outcome"] == "applied"
    row = await customer_row(resources, customer.id)
    assert row.state == AccountState.PAST_DUE
    grace_days = resources.settings.grace_period_days
    assert row.grace_until == datetime.fromtimestamp(failed_at, UTC) + timedelta(days=grace_days)
    assert (await audit_states(resources, customer.id))[-1] == ("active", "past_due")
    [notice] = [r for r in caplog.records if r.getMessage() == "account_notice"]
    assert datetime.fromisoformat(notice.grace_until) > datetime.now(UTC)


async def test_repeated_payment_failure_keeps_the_first_grace_deadline(client, resources):
    customer = await linked_customer(resources)
    await deliver(client, event("invoice.payment_failed", invoice_for(customer, created=T0), T0))
    first = (await customer_row(resources, customer.id)).grace_until
    await deliver(client, event("invoice.payment_failed",
                                invoice_for(customer, created=T0 + 3 * DAY), T0 + 3 * DAY))
    assert (await customer_row(resources, customer.id)).grace_until == first


@pytest.mark.parametrize("event_type", ["invoice.paid", "invoice.payment_succeeded"])
async def test_paid_invoice_reactivates_a_past_due_account_and_clears_grace(client, resources, event_type):
    customer = await linked_customer(resources)
    await deliver(client, event("invoice.payment_failed", invoice_for(customer), T0))
    response = await deliver(client, event(event_type, invoice_for(customer, "paid"), T0 + 60))
    assert response.json()["outcome"] == "applied"
    row = await customer_row(resources, customer.id)
    assert (row.state, row.grace_until) == (AccountState.ACTIVE, None)
    assert (await audit_states(resources, customer.id))[-1] == ("past_due", "active")


async def test_paid_invoice_reactivates_a_suspended_account(client, resources):
    customer = await linked_customer(resources)
    await set_state(resources, customer.id, AccountState.SUSPENDED)
    await deliver(client, event("invoice.paid", invoice_for(customer, "paid"), T0))
    assert (await customer_row(resources, customer.id)).state == AccountState.ACTIVE


async def test_paid_invoice_does_not_reinstate_a_revoked_account(client, resources):
    customer = await linked_customer(resources)
    await set_state(resources, customer.id, AccountState.REVOKED)
    await deliver(client, event("invoice.paid", invoice_for(customer, "paid"), T0))
    assert (await customer_row(resources, customer.id)).state == AccountState.REVOKED


async def test_subscription_updated_mirrors_status_and_item_periods(client, resources):
    customer = await linked_customer(resources)
    period = (T0 + 30 * DAY, T0 + 61 * DAY)
    obj = subscription_for(customer, "past_due", period)
    response = await deliver(client, event("customer.subscription.updated", obj, T0,
                                           previous={"status": "active"}))
    assert response.json()["outcome"] == "applied"
    sub = await subscription_row(resources, customer.stripe_subscription_id)
    assert sub.status == "past_due"
    assert sub.current_period_start == datetime.fromtimestamp(period[0], UTC)
    assert sub.current_period_end == datetime.fromtimestamp(period[1], UTC)
    assert sub.stripe_event_at == datetime.fromtimestamp(T0, UTC)
    # past_due alone leaves the account to invoice.payment_failed, which knows the grace start
    assert (await customer_row(resources, customer.id)).state == AccountState.ACTIVE


async def test_subscription_updated_adds_new_items_with_their_prices(client, resources):
    customer = await linked_customer(resources)
    obj = subscription_for(customer)
    extra = json.loads(json.dumps(obj["items"]["data"][0]))
    extra.update(id=unique("si"))
    extra["price"]["id"] = "price_extra"
    obj["items"]["data"].append(extra)
    await deliver(client, event("customer.subscription.updated", obj, T0))
    from sqlalchemy import select

    from licensing_api.billing.models import SubscriptionItem
    from licensing_api.db import session_scope

    async with session_scope(resources.sessionmaker) as session:
        item = await session.scalar(select(SubscriptionItem).where(
            SubscriptionItem.stripe_subscription_item_id == extra["id"]))
    assert item is not None and item.stripe_price_id == "price_extra"


async def test_subscription_deleted_revokes_the_account(client, resources):
    customer = await linked_customer(resources)
    await deliver(client, event("customer.subscription.deleted",
                                subscription_for(customer, "canceled"), T0))
    assert (await customer_row(resources, customer.id)).state == AccountState.REVOKED
    assert (await subscription_row(resources, customer.stripe_subscription_id)).status == "canceled"


async def test_subscription_paused_suspends_and_resumed_reactivates(client, resources):
    customer = await linked_customer(resources)
    await deliver(client, event("customer.subscription.paused",
                                subscription_for(customer, "paused"), T0))
    assert (await customer_row(resources, customer.id)).state == AccountState.SUSPENDED
    await deliver(client, event("customer.subscription.resumed",
                                subscription_for(customer, "active"), T0 + 60))
    assert (await customer_row(resources, customer.id)).state == AccountState.ACTIVE


async def test_routine_subscription_update_does_not_lift_a_suspension(client, resources):
    customer = await linked_customer(resources)
    await set_state(resources, customer.id, AccountState.SUSPENDED)
    await deliver(client, event("customer.subscription.updated", subscription_for(customer), T0,
                                previous={"metadata": {}}))
    assert (await customer_row(resources, customer.id)).state == AccountState.SUSPENDED


async def test_subscription_created_for_an_unknown_customer_is_ignored(client):
    obj = stripe_object("subscription", id=unique("sub"), customer=unique("cus"))
    response = await deliver(client, event("customer.subscription.created", obj, T0))
    assert response.json()["outcome"] == "ignored"


async def test_full_refund_revokes_by_default(client, resources, stripe_client):
    customer = await licensed_customer(resources, stripe_client)
    response = await deliver(client, event("charge.refunded", charge_for(customer), T0))
    assert response.json()["outcome"] == "applied"
    assert (await customer_row(resources, customer.id)).state == AccountState.REVOKED


async def test_partial_refund_is_ignored(client, resources, stripe_client):
    customer = await licensed_customer(resources, stripe_client)
    response = await deliver(client, event("charge.refunded", charge_for(customer, refunded=False), T0))
    assert response.json()["outcome"] == "ignored"
    assert (await customer_row(resources, customer.id)).state == AccountState.ACTIVE


async def test_refund_suspends_when_refund_action_is_suspend(settings: Settings, stripe_client):
    app = create_app(settings.model_copy(update={"refund_action": "suspend"}))
    async with LifespanManager(app) as manager:
        resources = manager._state["resources"]
        transport = ASGITransport(app=manager.app)
        async with AsyncClient(transport=transport, base_url="http://testserver") as http:
            customer = await licensed_customer(resources, stripe_client)
            await deliver(http, event("charge.refunded", charge_for(customer), T0))
            assert (await customer_row(resources, customer.id)).state == AccountState.SUSPENDED


async def test_dispute_revokes_the_customer_of_the_disputed_charge(client, resources, stripe_client):
    customer = await licensed_customer(resources, stripe_client)
    dispute = stripe_object("dispute", id=unique("dp"), charge=customer.paid_charge_id)
    response = await deliver(client, event("charge.dispute.created", dispute, T0))
    assert response.json()["outcome"] == "applied"
    assert (await customer_row(resources, customer.id)).state == AccountState.REVOKED


async def test_customer_deleted_revokes(client, resources):
    customer = await linked_customer(resources)
    deleted = stripe_object("customer", id=customer.stripe_customer_id, deleted=True)
    await deliver(client, event("customer.deleted", deleted, T0))
    assert (await customer_row(resources, customer.id)).state == AccountState.REVOKED


async def test_event_for_an_unknown_customer_is_recorded_as_ignored(client, resources):
    invoice = stripe_object("invoice", id=unique("in"), customer=unique("cus"))
    evt = event("invoice.payment_failed", invoice, T0)
    assert (await deliver(client, evt)).json()["outcome"] == "ignored"
    assert (await recorded_event(resources, evt["id"])).outcome == "ignored"


async def test_non_signup_checkout_is_ignored(client):
    checkout = stripe_object("checkout.session", id=unique("cs_test"), mode="payment", metadata={})
    response = await deliver(client, event("checkout.session.completed", checkout, T0))
    assert response.json()["outcome"] == "ignored"


async def test_state_change_publishes_a_cache_invalidation_after_commit(client, resources):
    customer = await linked_customer(resources)
    redis = Redis.from_url(str(resources.settings.redis_url))
    pubsub = redis.pubsub()
    await pubsub.subscribe(channel_name(resources.settings.redis_key_prefix))
    await pubsub.get_message(timeout=1)  # the subscribe confirmation
    await deliver(client, event("invoice.payment_failed", invoice_for(customer), T0))
    message = None
    for _ in range(50):
        message = await pubsub.get_message(ignore_subscribe_messages=True, timeout=0.1)
        if message and json.loads(message["data"]) == {"customer_id": str(customer.id)}:
            break
    await pubsub.aclose()
    await redis.aclose()
    assert message is not None
    assert json.loads(message["data"]) == {"customer_id": str(customer.id)}


async def test_state_change_sends_the_customer_a_notice(client, resources, caplog):
    customer = await linked_customer(resources)
    with caplog.at_level("INFO", logger="licensing_api.accounts.notifier"):
        await deliver(client, event("invoice.payment_failed", invoice_for(customer), T0))
        await asyncio.sleep(0)
    notices = [r for r in caplog.records if r.getMessage() == "account_notice"]
    assert [(r.notice, r.customer_id) for r in notices] == [("payment_failed", str(customer.id))]
