"""`licensing-api reconcile`: local state repaired from the subscriptions Stripe holds."""

from __future__ import annotations

import os
import subprocess
import sys
from datetime import timedelta

import pytest
from sqlalchemy import select

from licensing_api.accounts.models import AccountState, Customer
from licensing_api.accounts.reconcile import reconcile
from licensing_api.accounts.service import change_state
from licensing_api.billing.models import Plan, SubscriptionItem
from licensing_api.db import session_scope, utcnow
from tests.webhooks.builders import (
    customer_row,
    deliver,
    event,
    linked_customer,
    set_state,
    stripe_object,
    subscription_row,
    unique,
)
from tests.webhooks.served import provision
from tests.stripe_server.helpers import advance_clock

pytestmark = pytest.mark.usefixtures("clean_database")


def changes_of(report, stripe_subscription_id: str) -> list[str]:  # type: ignore[no-untyped-def]
    return [c.change for c in report.changes if c.stripe_subscription_id == stripe_subscription_id]


async def test_canceled_in_stripe_revokes_the_account(synced, stripe_client):
    customer, subscription_id, _ = await provision(synced, stripe_client)
    stripe_client.v1.subscriptions.cancel(subscription_id)
    report = await reconcile(synced)
    assert changes_of(report, subscription_id) == ["status active → canceled",
                                                    "account active → revoked"]
    assert (await customer_row(synced, customer.id)).state == AccountState.REVOKED


async def test_missed_payment_failure_sets_past_due_and_the_new_period(synced, stripe_client):
    clock = stripe_client.v1.test_helpers.test_clocks.create({"frozen_time": 1_767_225_600})
    customer, subscription_id, _ = await provision(synced, stripe_client, clock=clock.id)
    stripe_client.v1.customers.update(customer.stripe_customer_id, {
        "invoice_settings": {"default_payment_method": "pm_card_chargeCustomerFail"}})
    period_end = (await subscription_row(synced, subscription_id)).current_period_end
    # Past the cycle invoice's finalization grace (1 h), when its payment is attempted.
    advance_clock(stripe_client, clock.id, int(period_end.timestamp()) + 3600 + 60)
    report = await reconcile(synced)
    assert changes_of(report, subscription_id) == [
        "status active → past_due", "period", "account active → past_due"]
    row = await customer_row(synced, customer.id)
    assert row.state == AccountState.PAST_DUE
    assert row.grace_until > utcnow() + timedelta(days=synced.settings.grace_period_days - 1)
    assert (await subscription_row(synced, subscription_id)).current_period_start == period_end


async def test_active_subscription_lifts_a_payment_suspension(synced, stripe_client):
    customer, subscription_id, _ = await provision(synced, stripe_client)
    await set_state(synced, customer.id, AccountState.SUSPENDED)
    report = await reconcile(synced)
    assert changes_of(report, subscription_id) == ["account suspended → active"]


async def test_suspension_for_a_refund_is_kept(synced, stripe_client):
    customer, _, _ = await provision(synced, stripe_client)
    async with session_scope(synced.sessionmaker) as session:
        row = await session.get(Customer, customer.id)
        await change_state(session, synced, row, AccountState.SUSPENDED,
                           reason="charge_refunded", source="test")
    await reconcile(synced)
    assert (await customer_row(synced, customer.id)).state == AccountState.SUSPENDED


async def test_matching_state_reports_no_change(synced, stripe_client):
    _, subscription_id, _ = await provision(synced, stripe_client)
    report = await reconcile(synced)
    assert report.checked == 1
    assert changes_of(report, subscription_id) == []


async def test_subscription_unknown_to_stripe_is_treated_as_canceled(synced):
    customer = await linked_customer(synced)
    report = await reconcile(synced)
    assert report.missing_in_stripe == [customer.stripe_subscription_id]
    assert (await customer_row(synced, customer.id)).state == AccountState.REVOKED


async def test_reconcile_command_prints_a_summary_of_changes(synced, stripe_client, stripe_server):
    customer, subscription_id, _ = await provision(synced, stripe_client)
    stripe_client.v1.subscriptions.cancel(subscription_id)
    settings = synced.settings
    env = {
        "PATH": os.environ["PATH"], "DATABASE_URL": settings.database_url,
        "REDIS_URL": settings.redis_url, "REDIS_KEY_PREFIX": settings.redis_key_prefix,
        "STRIPE_API_KEY": stripe_server.api_key, "STRIPE_API_BASE": stripe_server.url,
        "COLUMNS": "200",
    }
    result = subprocess.run([sys.executable, "-m", "licensing_api.cli", "reconcile"], env=env,
                            capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr
    assert "account active → revoked" in result.stdout
    assert result.stdout.strip().splitlines()[-1] == "checked 1 subscriptions, 2 changes"


def test_reconcile_command_without_billing_fails_with_one_line(settings):
    env = {"PATH": os.environ["PATH"], "DATABASE_URL": settings.database_url}
    result = subprocess.run([sys.executable, "-m", "licensing_api.cli", "reconcile"], env=env,
                            capture_output=True, text=True, timeout=60)
    assert result.returncode == 2
    assert result.stderr.startswith("error: billing is off")


async def test_a_missed_event_retried_after_reconcile_still_applies(synced, client, stripe_client):
    """The outage case: an emailed invoice's payment fails while the webhook endpoint is down
    (the subscription stays active in Stripe), reconcile runs, then Stripe retries the event."""
    a_day_ago = int(utcnow().timestamp()) - 86400
    clock = stripe_client.v1.test_helpers.test_clocks.create({"frozen_time": a_day_ago})
    customer, _, _ = await provision(synced, stripe_client, clock=clock.id)
    missed_at = a_day_ago + 60  # after everything the subscription records, before reconcile
    await reconcile(synced)
    invoice = stripe_object("invoice", id=unique("in"), customer=customer.stripe_customer_id,
                            status="open", created=missed_at, collection_method="send_invoice")
    response = await deliver(client, event("invoice.payment_failed", invoice, missed_at))
    assert response.json()["outcome"] == "applied"
    assert (await customer_row(synced, customer.id)).state == AccountState.PAST_DUE


async def test_reconcile_repairs_a_plan_change_made_in_stripe(synced, stripe_client):
    """The webhook of a Dashboard plan change was missed: reconcile mirrors plan and items."""
    customer, subscription_id, _ = await provision(synced, stripe_client)
    async with session_scope(synced.sessionmaker) as session:
        standard, premium = await session.get(Plan, "standard"), await session.get(Plan, "premium")
    items = stripe_client.v1.subscriptions.retrieve(subscription_id)["items"].data
    by_price = {item.price.id: item.id for item in items}
    stripe_client.v1.subscriptions.update(subscription_id, {"items": [
        {"id": by_price[standard.stripe_base_price_id], "price": premium.stripe_base_price_id},
        {"id": by_price[standard.stripe_metered_price_id], "price": premium.stripe_metered_price_id},
    ], "proration_behavior": "none"})
    report = await reconcile(synced)
    assert "plan" in changes_of(report, subscription_id)
    row = await subscription_row(synced, subscription_id)
    assert row.plan_id == "premium"
    async with session_scope(synced.sessionmaker) as session:
        live = list(await session.scalars(select(SubscriptionItem.meter_event_name).where(
            SubscriptionItem.subscription_id == row.id, SubscriptionItem.ended_at.is_(None),
            SubscriptionItem.kind == "metered")))
    assert live == ["licensed_requests.premium"]
    assert changes_of(await reconcile(synced), subscription_id) == []  # once
