"""Tier math, test-clock renewals, payment failure and recovery, checkout, refunds."""

from __future__ import annotations

from decimal import Decimal

import pytest
import stripe

from tests.stripe_server.helpers import advance_clock, metered_plan
from tests.stripe_server.tiers import line_amount

T0 = 1767225600  # 2026-01-01T00:00:00Z

GRADUATED = {"billing_scheme": "tiered", "tiers_mode": "graduated"}
TIERS = [{"up_to": 1000, "unit_amount_decimal": "0"}, {"up_to": None, "unit_amount_decimal": "0.1"}]


@pytest.mark.parametrize("units, cents", [(0, 0), (1000, 0), (1001, 0), (1005, 1), (1004, 0),
                                          (3500, 250), (1_000_000, 99900)])
def test_graduated_tier_math_rounds_half_up(units, cents):
    assert line_amount(GRADUATED, TIERS, units) == cents


def test_flat_amounts_count_once_per_reached_tier():
    tiers = [{"up_to": 10, "unit_amount_decimal": "5", "flat_amount_decimal": "100"},
             {"up_to": None, "unit_amount_decimal": "1.25", "flat_amount_decimal": "7"}]
    assert line_amount(GRADUATED, tiers, 10) == 150
    assert line_amount(GRADUATED, tiers, 12) == 150 + 7 + 3 - 0  # 2 × 1.25 = 2.5 → half up
    assert line_amount({"billing_scheme": "per_unit", "unit_amount_decimal": "0.5"}, [], Decimal(3)) == 2


def _clocked_customer(client, pm="pm_card_visa"):
    clock = client.v1.test_helpers.test_clocks.create({"frozen_time": T0})
    cus = client.v1.customers.create({"email": "clock@example.com", "test_clock": clock.id,
                                      "invoice_settings": {"default_payment_method": pm}})
    return clock, cus


def test_clock_advance_invoices_metered_usage_with_tier_math(stripe_client):
    plan = metered_plan(stripe_client)
    clock, cus = _clocked_customer(stripe_client)
    sub = stripe_client.v1.subscriptions.create({
        "customer": cus.id, "items": [{"price": plan["base"].id}, {"price": plan["metered"].id}],
        "expand": ["latest_invoice"]})
    assert sub.latest_invoice.billing_reason == "subscription_create"
    assert sub.latest_invoice.amount_paid == 10000
    period_end = sub["items"].data[0].current_period_end
    advance_clock(stripe_client, clock.id, T0 + 7200)
    for value in (1500, 2000):
        stripe_client.v1.billing.meter_events.create({
            "event_name": plan["event_name"], "timestamp": T0 + 3600,
            "payload": {"stripe_customer_id": cus.id, "value": str(value)}})
    advance_clock(stripe_client, clock.id, period_end + 3600)
    invoices = stripe_client.v1.invoices.list({"subscription": sub.id}).data
    cycle = invoices[0]
    assert cycle.billing_reason == "subscription_cycle"
    assert (cycle.period_start, cycle.period_end) == (T0, period_end)
    assert cycle.amount_due == 250 + 10000 and cycle.status == "paid"
    assert cycle.parent.subscription_details.subscription == sub.id
    assert cycle.hosted_invoice_url
    amounts = sorted(line.amount for line in cycle.lines.data)
    assert amounts == [250, 10000]
    item = stripe_client.v1.subscriptions.retrieve(sub.id)["items"].data[0]
    assert item.current_period_start == period_end


def test_failed_payment_sets_past_due_then_paying_recovers(stripe_client):
    plan = metered_plan(stripe_client)
    clock, cus = _clocked_customer(stripe_client)
    sub = stripe_client.v1.subscriptions.create({
        "customer": cus.id, "items": [{"price": plan["base"].id}]})
    stripe_client.v1.customers.update(
        cus.id, {"invoice_settings": {"default_payment_method": "pm_card_chargeCustomerFail"}})
    end = sub["items"].data[0].current_period_end
    advance_clock(stripe_client, clock.id, end + 3600 + 60)  # past the finalization grace
    assert stripe_client.v1.subscriptions.retrieve(sub.id).status == "past_due"
    failed = stripe_client.v1.events.list({"type": "invoice.payment_failed"}).data
    invoice_id = next(e.data.object.id for e in failed if e.data.object.customer == cus.id)
    with pytest.raises(stripe.CardError):
        stripe_client.v1.invoices.pay(invoice_id)
    pm = stripe_client.v1.payment_methods.attach("pm_card_visa", {"customer": cus.id})
    paid = stripe_client.v1.invoices.pay(invoice_id, {"payment_method": pm.id})
    assert paid.status == "paid" and paid.amount_paid == 10000
    assert stripe_client.v1.subscriptions.retrieve(sub.id).status == "active"
    types = [e.type for e in stripe_client.v1.events.list({"limit": 100}).data
             if getattr(e.data.object, "id", None) in (invoice_id, sub.id)]
    assert "invoice.paid" in types and "invoice.payment_failed" in types


def test_subscription_without_payment_method_is_incomplete(stripe_client):
    plan = metered_plan(stripe_client)
    cus = stripe_client.v1.customers.create({})
    sub = stripe_client.v1.subscriptions.create({
        "customer": cus.id, "items": [{"price": plan["base"].id}],
        "payment_behavior": "default_incomplete"})
    assert sub.status == "incomplete"
    with pytest.raises(stripe.CardError):
        stripe_client.v1.subscriptions.create({
            "customer": cus.id, "items": [{"price": plan["base"].id}],
            "payment_behavior": "error_if_incomplete"})


def test_checkout_completion_creates_customer_and_subscription(stripe_server, stripe_client):
    plan = metered_plan(stripe_client)
    session = stripe_client.v1.checkout.sessions.create({
        "mode": "subscription", "customer_email": "buyer@example.com",
        "line_items": [{"price": plan["base"].id, "quantity": 1}, {"price": plan["metered"].id}],
        "success_url": "https://pub.example/welcome?session={CHECKOUT_SESSION_ID}",
        "client_reference_id": "ref-1", "metadata": {"plan": "pro"}})
    assert session.url and session.status == "open"
    done = stripe_server.complete_checkout(session.id)
    assert done["redirect_url"] == f"https://pub.example/welcome?session={session.id}"
    session = stripe_client.v1.checkout.sessions.retrieve(session.id, {"expand": ["subscription"]})
    assert session.status == "complete" and session.subscription.status == "active"
    assert stripe_client.v1.customers.retrieve(session.customer).email == "buyer@example.com"
    completed = stripe_client.v1.events.list({"type": "checkout.session.completed"}).data
    assert any(e.data.object.id == session.id and e.data.object.client_reference_id == "ref-1"
               for e in completed)
    portal = stripe_client.v1.billing_portal.sessions.create({"customer": session.customer,
                                                              "return_url": "https://x"})
    assert portal.url.startswith(stripe_server.url)


def test_refund_and_dispute_emit_events(stripe_server, stripe_client):
    plan = metered_plan(stripe_client)
    cus = stripe_client.v1.customers.create(
        {"invoice_settings": {"default_payment_method": "pm_card_visa"}})
    stripe_client.v1.subscriptions.create({"customer": cus.id, "items": [{"price": plan["base"].id}]})
    charge = stripe_client.v1.charges.list({"customer": cus.id}).data[0]
    refund = stripe_client.v1.refunds.create({"charge": charge.id})
    assert refund.amount == 10000
    assert stripe_client.v1.charges.retrieve(charge.id).refunded
    dispute = stripe_server.open_dispute(charge.id)
    assert dispute["charge"] == charge.id
    types = {e.type for e in stripe_client.v1.events.list({"limit": 50}).data
             if getattr(e.data.object, "id", None) in (charge.id, dispute["id"])}
    assert {"charge.refunded", "charge.dispute.created"} <= types


def test_hosted_checkout_page_pays_and_redirects(stripe_client):
    import httpx

    plan = metered_plan(stripe_client)
    session = stripe_client.v1.checkout.sessions.create({
        "mode": "subscription", "customer_email": "page@example.com",
        "line_items": [{"price": plan["base"].id, "quantity": 1}],
        "success_url": "https://pub.example/ok?cs={CHECKOUT_SESSION_ID}"})
    assert httpx.get(session.url).status_code == 200
    resp = httpx.post(session.url, data={"payment_method": "pm_card_visa"})
    assert resp.status_code == 303
    assert resp.headers["location"] == f"https://pub.example/ok?cs={session.id}"


def test_send_invoice_subscription_starts_active_with_an_open_invoice(stripe_client):
    product = stripe_client.v1.products.create({"name": "Emailed"})
    price = stripe_client.v1.prices.create({
        "product": product.id, "currency": "usd", "unit_amount": 5000,
        "recurring": {"interval": "month"}})
    customer = stripe_client.v1.customers.create({"email": "invoice@example.com"})
    sub = stripe_client.v1.subscriptions.create({
        "customer": customer.id, "items": [{"price": price.id}],
        "collection_method": "send_invoice", "days_until_due": 30})
    assert sub.status == "active"
    invoice = stripe_client.v1.invoices.retrieve(sub.latest_invoice)
    assert invoice.status == "open"
    assert invoice.due_date == invoice.created + 30 * 86400
    failed = stripe_client.v1.events.list({"type": "invoice.payment_failed"}).data
    assert all(e.data.object.id != invoice.id for e in failed)
