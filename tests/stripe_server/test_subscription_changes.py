"""Subscription changes as Stripe makes them: items swapped mid-period with prorations by
the second, metered usage billed from when a price joined, credits carried to the next
invoice, schedules changing items at the period end, and what Stripe refuses."""

from __future__ import annotations

from decimal import ROUND_HALF_UP, Decimal

import pytest
import stripe

from tests.stripe_server.helpers import metered_plan
from tests.stripe_server.helpers import advance_clock

T0 = 1769817600  # 2026-01-31T00:00:00Z: a month end (the next period ends Feb 28)
FEB_28 = 1772236800
MAR_31 = 1774915200
DAY = 86400
FINALIZED = 3600 + 60  # past Stripe's default one-hour finalization grace of a cycle invoice


def _half_up(value: Decimal) -> int:
    return int(value.quantize(Decimal(1), ROUND_HALF_UP))


@pytest.fixture
def plans(stripe_client):
    return metered_plan(stripe_client, 10000), metered_plan(stripe_client, 50000)


@pytest.fixture
def subscribed(stripe_client, plans):
    standard, _ = plans
    clock = stripe_client.v1.test_helpers.test_clocks.create({"frozen_time": T0})
    cus = stripe_client.v1.customers.create({"test_clock": clock.id, "invoice_settings": {
        "default_payment_method": "pm_card_visa"}})
    sub = stripe_client.v1.subscriptions.create({"customer": cus.id, "items": [
        {"price": standard["base"].id}, {"price": standard["metered"].id}]})
    return clock, cus, sub


def _items(sub) -> dict[str, str]:  # type: ignore[no-untyped-def]
    return {item.price.id: item.id for item in sub["items"].data}


def _usage(client, plan, cus, value: int, at: int) -> None:  # type: ignore[no-untyped-def]
    client.v1.billing.meter_events.create({"event_name": plan["event_name"], "timestamp": at,
                                           "payload": {"stripe_customer_id": cus.id, "value": str(value)}})


def test_an_upgrade_now_invoices_prorations_by_the_second_at_the_proration_date(
    stripe_client, plans, subscribed
):
    standard, premium = plans
    clock, cus, sub = subscribed
    at = T0 + 10 * DAY + 12345
    advance_clock(stripe_client, clock.id, at + 60)
    items = _items(sub)
    updated = stripe_client.v1.subscriptions.update(sub.id, {
        "items": [{"id": items[standard["base"].id], "price": premium["base"].id},
                  {"price": premium["metered"].id}],
        "proration_behavior": "always_invoice", "proration_date": at})
    invoice = stripe_client.v1.invoices.retrieve(updated.latest_invoice)
    fraction = Decimal(FEB_28 - at) / Decimal(FEB_28 - T0)
    credit, charge = -_half_up(10000 * fraction), _half_up(50000 * fraction)
    assert invoice.billing_reason == "subscription_update"
    assert sorted(line.amount for line in invoice.lines.data) == sorted([credit, charge])
    assert all(line.period.start == at and line.period.end == FEB_28 for line in invoice.lines.data)
    assert invoice.amount_due == credit + charge and invoice.status == "paid"
    # The old metered price stays until the period end, the new one counts from the change.
    assert set(_items(updated)) == {premium["base"].id, standard["metered"].id, premium["metered"].id}


def test_usage_of_a_metered_price_added_mid_period_counts_from_the_change(stripe_client, plans, subscribed):
    standard, premium = plans
    clock, cus, sub = subscribed
    at = T0 + 10 * DAY
    advance_clock(stripe_client, clock.id, at)
    _usage(stripe_client, standard, cus, 3000, T0 + DAY)
    _usage(stripe_client, premium, cus, 500, T0 + 2 * DAY)  # before the premium price joined
    stripe_client.v1.subscriptions.update(sub.id, {"items": [{"price": premium["metered"].id}],
                                                   "proration_behavior": "none"})
    advance_clock(stripe_client, clock.id, at + 2 * DAY)
    _usage(stripe_client, premium, cus, 1200, at + DAY)
    advance_clock(stripe_client, clock.id, FEB_28 + 60)
    cycle = next(i for i in stripe_client.v1.invoices.list({"subscription": sub.id}).data
                 if i.billing_reason == "subscription_cycle")
    by_price = {line.pricing.price_details.price: line for line in cycle.lines.data}
    assert by_price[standard["metered"].id].amount == 200  # 2,000 over the allowance × 0.1
    assert by_price[premium["metered"].id].quantity == 1200
    assert by_price[premium["metered"].id].period.start == at
    assert by_price[premium["metered"].id].amount == 20


def test_create_prorations_waits_for_the_next_invoice(stripe_client, plans, subscribed):
    standard, premium = plans
    clock, cus, sub = subscribed
    at = T0 + 14 * DAY
    advance_clock(stripe_client, clock.id, at)
    stripe_client.v1.subscriptions.update(sub.id, {"items": [
        {"id": _items(sub)[standard["base"].id], "price": premium["base"].id}]})
    assert stripe_client.v1.invoices.list({"subscription": sub.id}).data[0].billing_reason == "subscription_create"
    advance_clock(stripe_client, clock.id, FEB_28 + 60)
    cycle = stripe_client.v1.invoices.list({"subscription": sub.id}).data[0]
    fraction = Decimal(FEB_28 - at) / Decimal(FEB_28 - T0)
    prorations = [line.amount for line in cycle.lines.data
                  if line.parent.subscription_item_details.proration]
    assert sorted(prorations) == sorted([-_half_up(10000 * fraction), _half_up(50000 * fraction)])
    assert cycle.amount_due == sum(prorations) + 50000


def test_a_downgrade_credit_is_carried_to_the_next_invoice(stripe_client, plans, stripe_server):
    standard, premium = plans
    clock = stripe_client.v1.test_helpers.test_clocks.create({"frozen_time": T0})
    cus = stripe_client.v1.customers.create({"test_clock": clock.id, "invoice_settings": {
        "default_payment_method": "pm_card_visa"}})
    sub = stripe_client.v1.subscriptions.create({"customer": cus.id, "items": [{"price": premium["base"].id}]})
    at = T0 + 7 * DAY
    advance_clock(stripe_client, clock.id, at)
    updated = stripe_client.v1.subscriptions.update(sub.id, {
        "items": [{"id": _items(sub)[premium["base"].id], "price": standard["base"].id}],
        "proration_behavior": "always_invoice"})
    credit_invoice = stripe_client.v1.invoices.retrieve(updated.latest_invoice)
    fraction = Decimal(FEB_28 - at) / Decimal(FEB_28 - T0)
    net = _half_up(10000 * fraction) - _half_up(50000 * fraction)
    assert (credit_invoice.total, credit_invoice.amount_due) == (net, 0)
    assert stripe_client.v1.customers.retrieve(cus.id).balance == net
    advance_clock(stripe_client, clock.id, FEB_28 + 60)
    draft = stripe_client.v1.invoices.list({"subscription": sub.id}).data[0]
    assert (draft.status, draft.starting_balance, draft.ending_balance) == ("draft", net, None)
    advance_clock(stripe_client, clock.id, FEB_28 + FINALIZED)  # the balance is applied now
    cycle = stripe_client.v1.invoices.retrieve(draft.id)
    assert (cycle.starting_balance, cycle.amount_due) == (net, max(0, 10000 + net))
    assert cycle.ending_balance == min(0, 10000 + net)


@pytest.mark.parametrize("change, param", [
    ({"proration_behavior": "sometimes"}, "proration_behavior"),
    ({"proration_date": T0 - 1}, "proration_date"),
    ({"proration_date": T0 + 40 * DAY}, "proration_date"),
    ({"metered_quantity": 5}, "items[0][quantity]"),
    ({"duplicate": True}, "items"),
])
def test_stripe_refuses_bad_item_changes_and_changes_nothing(stripe_client, plans, subscribed, change, param):
    standard, premium = plans
    _, _, sub = subscribed
    items: list[dict] = [{"id": _items(sub)[standard["base"].id], "price": premium["base"].id}]
    params: dict = {"items": items}
    if "metered_quantity" in change:
        items[0] = {"price": premium["metered"].id, "quantity": 5}
    elif "duplicate" in change:
        items[0] = {"price": standard["metered"].id}
    else:
        params.update(change)
    with pytest.raises(stripe.InvalidRequestError) as refused:
        stripe_client.v1.subscriptions.update(sub.id, params)
    assert refused.value.param == param
    assert set(_items(stripe_client.v1.subscriptions.retrieve(sub.id))) == {
        standard["base"].id, standard["metered"].id}


def test_a_schedule_changes_the_items_at_the_period_end_then_releases(stripe_client, plans, subscribed):
    standard, premium = plans
    clock, cus, sub = subscribed
    schedule = stripe_client.v1.subscription_schedules.create({"from_subscription": sub.id})
    phase = schedule.phases[0]
    assert (phase.start_date, phase.end_date) == (T0, FEB_28)
    stripe_client.v1.subscription_schedules.update(schedule.id, {"end_behavior": "release", "phases": [
        {"start_date": phase.start_date, "end_date": phase.end_date,
         "items": [{"price": standard["base"].id, "quantity": 1}, {"price": standard["metered"].id}]},
        {"items": [{"price": premium["base"].id, "quantity": 1}, {"price": premium["metered"].id}],
         "duration": {"interval": "month", "interval_count": 1}},
    ]})
    advance_clock(stripe_client, clock.id, T0 + 2 * DAY)
    _usage(stripe_client, standard, cus, 1500, T0 + DAY)
    advance_clock(stripe_client, clock.id, FEB_28 + 60)
    renewed = stripe_client.v1.subscriptions.retrieve(sub.id)
    assert set(_items(renewed)) == {premium["base"].id, premium["metered"].id}
    assert renewed.schedule == schedule.id
    cycle = stripe_client.v1.invoices.list({"subscription": sub.id}).data[0]
    by_price = {line.pricing.price_details.price: line.amount for line in cycle.lines.data}
    assert by_price == {standard["metered"].id: 50, premium["base"].id: 50000}
    advance_clock(stripe_client, clock.id, MAR_31 + 60)
    assert stripe_client.v1.subscription_schedules.retrieve(schedule.id).status == "released"
    after = stripe_client.v1.subscriptions.retrieve(sub.id)
    assert after.schedule is None and set(_items(after)) == {premium["base"].id, premium["metered"].id}


def test_stripe_refuses_bad_schedules(stripe_client, plans, subscribed):
    standard, premium = plans
    _, _, sub = subscribed
    with pytest.raises(stripe.InvalidRequestError, match="from_subscription"):
        stripe_client.v1.subscription_schedules.create({"from_subscription": sub.id, "end_behavior": "release"})
    schedule = stripe_client.v1.subscription_schedules.create({"from_subscription": sub.id})
    with pytest.raises(stripe.InvalidRequestError, match="already attached"):
        stripe_client.v1.subscription_schedules.create({"from_subscription": sub.id})
    items = [{"price": premium["base"].id, "quantity": 1}]
    for phases, param in [
        ([{"start_date": T0 + 1, "end_date": FEB_28, "items": items}], "phases[0][start_date]"),
        ([{"start_date": T0, "end_date": FEB_28, "items": items}, {"items": items, "iterations": 1}],
         "phases[1][iterations]"),
        ([{"start_date": T0, "items": items}, {"items": items}], "phases[0][end_date]"),
    ]:
        with pytest.raises(stripe.InvalidRequestError) as refused:
            stripe_client.v1.subscription_schedules.update(schedule.id, {"phases": phases})
        assert refused.value.param == param
    with pytest.raises(stripe.InvalidRequestError, match="managed by the subscription schedule"):
        stripe_client.v1.subscriptions.update(sub.id, {"cancel_at_period_end": True})
    released = stripe_client.v1.subscription_schedules.release(schedule.id)
    assert released.status == "released" and stripe_client.v1.subscriptions.retrieve(sub.id).schedule is None


def test_a_charge_is_traced_to_its_invoice_through_invoice_payments(stripe_client, subscribed):
    _, cus, sub = subscribed
    charge = stripe_client.v1.charges.list({"customer": cus.id}).data[0]
    payments = stripe_client.v1.invoice_payments.list(
        {"payment": {"type": "payment_intent", "payment_intent": charge.payment_intent}})
    [payment] = payments.data
    invoice = stripe_client.v1.invoices.retrieve(payment.invoice)
    assert invoice.parent.subscription_details.subscription == sub.id
    assert payment.status == "paid" and payment.amount_paid == invoice.amount_paid


def test_a_one_off_payment_intent_is_no_invoice_payment(stripe_client, subscribed):
    _, cus, _ = subscribed
    intent = stripe_client.v1.payment_intents.create({
        "customer": cus.id, "amount": 999, "currency": "usd", "payment_method": "pm_card_visa",
        "confirm": True})
    assert intent.status == "succeeded"
    assert stripe_client.v1.charges.retrieve(intent.latest_charge).payment_intent == intent.id
    assert stripe_client.v1.invoice_payments.list(
        {"payment": {"type": "payment_intent", "payment_intent": intent.id}}).data == []


@pytest.mark.parametrize("how, status", [("winning_evidence", "won"), ("losing_evidence", "lost"),
                                         ("accept", "lost")])
def test_a_dispute_closes_won_or_lost(stripe_client, stripe_server, subscribed, how, status):
    _, cus, _ = subscribed
    charge = stripe_client.v1.charges.list({"customer": cus.id}).data[0]
    dispute = stripe_server.open_dispute(charge.id)
    if how == "accept":
        closed = stripe_client.v1.disputes.close(dispute["id"])
    else:
        closed = stripe_client.v1.disputes.update(dispute["id"], {"evidence": {"uncategorized_text": how}})
    assert closed.status == status
    event = stripe_client.v1.events.list({"type": "charge.dispute.closed"}).data[0]
    assert event.data.object.id == dispute["id"] and event.data.object.status == status
    with pytest.raises(stripe.InvalidRequestError, match="already closed"):
        stripe_client.v1.disputes.close(dispute["id"])
