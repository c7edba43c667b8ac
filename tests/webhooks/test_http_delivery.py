"""Stripe's own deliveries over HTTP: the local Stripe server signs each event, posts it to
the app served by uvicorn and retries non-2xx answers, as Stripe does."""

from __future__ import annotations

import pytest
from sqlalchemy import func, select

from licensing_api.accounts.models import AccountState, AuditLogEntry, Customer
from licensing_api.db import session_scope
from licensing_api.signup.service import start_signup, take_signup_secret
from tests.webhooks.builders import count_events, customer_row, fail_first_audit_insert, unique
from tests.webhooks.served import PLAN, provision, wait_for_deliveries


async def test_checkout_completion_provisions_the_customer_and_first_key(
    served, synced, stripe_server, stripe_client
):
    async with session_scope(synced.sessionmaker) as session:
        started = await start_signup(session, synced, f"{unique('buyer')}@example.com", PLAN)
    stripe_server.complete_checkout(started.checkout_session_id)
    deliveries = wait_for_deliveries(stripe_server, served)
    completed = [d for d in deliveries if d["event_type"] == "checkout.session.completed"]
    assert completed and completed[-1]["status"] == 200
    checkout = stripe_client.v1.checkout.sessions.retrieve(started.checkout_session_id)
    async with session_scope(synced.sessionmaker) as session:
        customer = await session.scalar(
            select(Customer).where(Customer.stripe_customer_id == checkout.customer))
    assert customer is not None and customer.state == AccountState.ACTIVE
    async with session_scope(synced.sessionmaker) as session:
        secret = await take_signup_secret(session, synced, started.checkout_session_id)
    assert secret.secret is not None and secret.secret.startswith("lk_")


@pytest.mark.parametrize("ending", ["subscription_canceled", "refund", "dispute", "customer_deleted"])
async def test_ending_events_from_stripe_revoke_the_account(
    served, synced, stripe_server, stripe_client, ending
):
    customer, subscription_id, _ = await provision(synced, stripe_client)
    if ending == "subscription_canceled":
        stripe_client.v1.subscriptions.cancel(subscription_id)
    elif ending == "customer_deleted":
        stripe_client.v1.customers.delete(customer.stripe_customer_id)
    else:
        charge = stripe_client.v1.charges.list({"customer": customer.stripe_customer_id}).data[0]
        if ending == "refund":
            stripe_client.v1.refunds.create({"charge": charge.id})
        else:
            stripe_server.open_dispute(charge.id)
    deliveries = wait_for_deliveries(stripe_server, served)
    assert all(d["status"] == 200 for d in deliveries[-5:])
    assert (await customer_row(synced, customer.id)).state == AccountState.REVOKED


async def test_database_failure_mid_handler_is_retried_by_stripe_and_applied_once(
    served, synced, stripe_server, stripe_client, database_url
):
    customer, _, _ = await provision(synced, stripe_client)
    wait_for_deliveries(stripe_server, served)
    charge = stripe_client.v1.charges.list({"customer": customer.stripe_customer_id}).data[0]
    async with fail_first_audit_insert(database_url):
        stripe_client.v1.refunds.create({"charge": charge.id})
        deliveries = wait_for_deliveries(stripe_server, served)
    refunded = next(e for e in stripe_client.v1.events.list({"type": "charge.refunded"}).data
                    if e.data.object.id == charge.id)
    assert [d["status"] for d in deliveries if d["event_id"] == refunded.id] == [500, 200]
    assert await count_events(synced, refunded.id) == 1
    async with session_scope(synced.sessionmaker) as session:
        revocations = await session.scalar(select(func.count()).select_from(AuditLogEntry).where(
            AuditLogEntry.customer_id == customer.id, AuditLogEntry.to_state == "revoked"))
    assert revocations == 1
    assert (await customer_row(synced, customer.id)).state == AccountState.REVOKED
