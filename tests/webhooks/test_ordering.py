"""Out-of-order delivery: every pair of relevant events, in both orders, ends in the state
that applying them in the order they happened gives."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

import pytest

from licensing_api.accounts.models import AccountState
from tests.webhooks.builders import (
    T0,
    LinkedCustomer,
    charge_for,
    customer_row,
    deliver,
    event,
    invoice_for,
    licensed_customer,
    linked_customer,
    stripe_object,
    subscription_for,
    subscription_row,
)

EventFactory = Callable[[LinkedCustomer, int], dict[str, Any]]


def failed(c: LinkedCustomer, t: int) -> dict[str, Any]:
    return event("invoice.payment_failed", invoice_for(c, "open", created=t), t)


def paid(c: LinkedCustomer, t: int) -> dict[str, Any]:
    return event("invoice.paid", invoice_for(c, "paid", created=t), t)


def sub_status(status: str, event_type: str = "customer.subscription.updated") -> EventFactory:
    def build(c: LinkedCustomer, t: int) -> dict[str, Any]:
        return event(event_type, subscription_for(c, status), t, previous={"status": "past_due"})

    build.__name__ = f"subscription_{status}"
    return build


def sub_deleted(c: LinkedCustomer, t: int) -> dict[str, Any]:
    return event("customer.subscription.deleted", subscription_for(c, "canceled"), t)


def refunded(c: LinkedCustomer, t: int) -> dict[str, Any]:
    return event("charge.refunded", charge_for(c), t)


def customer_deleted(c: LinkedCustomer, t: int) -> dict[str, Any]:
    return event("customer.deleted", stripe_object("customer", id=c.stripe_customer_id), t)


sub_active = sub_status("active")
sub_unpaid = sub_status("unpaid")
sub_paused = sub_status("paused", "customer.subscription.paused")

# (happened first, happened second, the account state that results)
PAIRS: list[tuple[EventFactory, EventFactory, AccountState]] = [
    (failed, paid, AccountState.ACTIVE),
    (paid, failed, AccountState.PAST_DUE),
    (failed, sub_active, AccountState.ACTIVE),
    (sub_active, failed, AccountState.PAST_DUE),
    (failed, sub_unpaid, AccountState.SUSPENDED),
    (sub_unpaid, paid, AccountState.ACTIVE),
    (sub_paused, sub_active, AccountState.ACTIVE),
    (sub_active, sub_paused, AccountState.SUSPENDED),
    (failed, sub_deleted, AccountState.REVOKED),
    (sub_deleted, paid, AccountState.REVOKED),
    (paid, refunded, AccountState.REVOKED),
    (refunded, paid, AccountState.REVOKED),
    (failed, customer_deleted, AccountState.REVOKED),
    (customer_deleted, paid, AccountState.REVOKED),
]


@pytest.mark.parametrize("delivery", ["in_order", "reversed"])
@pytest.mark.parametrize(
    "first, second, expected", PAIRS,
    ids=[f"{a.__name__}-then-{b.__name__}" for a, b, _ in PAIRS],
)
async def test_pair_of_events_ends_in_the_same_state_in_either_order(
    client, resources, stripe_client, first, second, expected, delivery
):
    if refunded in (first, second):  # a refund counts only for a real licensing charge
        customer = await licensed_customer(resources, stripe_client)
    else:
        customer = await linked_customer(resources)
    events = [first(customer, T0), second(customer, T0 + 10)]
    if delivery == "reversed":
        events.reverse()
    for evt in events:
        assert (await deliver(client, evt)).status_code == 200
    assert (await customer_row(resources, customer.id)).state == expected


@pytest.mark.parametrize("delivery", ["in_order", "reversed"])
async def test_subscription_keeps_the_period_of_the_newest_update(client, resources, delivery):
    customer = await linked_customer(resources)
    older_period, newer_period = (T0, T0 + 30 * 86400), (T0 + 30 * 86400, T0 + 61 * 86400)
    events = [
        event("customer.subscription.updated", subscription_for(customer, period=older_period), T0),
        event("customer.subscription.updated", subscription_for(customer, period=newer_period),
              T0 + 10),
    ]
    if delivery == "reversed":
        events.reverse()
    outcomes = [(await deliver(client, evt)).json()["outcome"] for evt in events]
    sub = await subscription_row(resources, customer.stripe_subscription_id)
    assert sub.current_period_end == datetime.fromtimestamp(newer_period[1], UTC)
    assert outcomes == (["applied", "applied"] if delivery == "in_order" else ["applied", "stale"])


def _stripe_customer_with_invoice(stripe_client, card: str) -> tuple[str, str]:
    """A Stripe customer whose subscription's first invoice was paid (or failed) with `card`."""
    product = stripe_client.v1.products.create({"name": "Ordering"})
    price = stripe_client.v1.prices.create({"currency": "usd", "unit_amount": 500,
                                            "product": product.id,
                                            "recurring": {"interval": "month"}})
    cus = stripe_client.v1.customers.create({"invoice_settings": {"default_payment_method": card}})
    sub = stripe_client.v1.subscriptions.create({"customer": cus.id, "items": [{"price": price.id}]})
    return cus.id, sub.latest_invoice


async def test_same_second_failure_of_an_invoice_stripe_says_is_paid_is_stale(
    client, resources, stripe_client
):
    stripe_customer_id, invoice_id = _stripe_customer_with_invoice(stripe_client, "pm_card_visa")
    customer = await linked_customer(resources, stripe_customer_id=stripe_customer_id)
    paid_event = event("invoice.paid", invoice_for(customer, "paid", id=invoice_id), T0)
    failed_event = event("invoice.payment_failed", invoice_for(customer, "open", id=invoice_id), T0)
    assert (await deliver(client, paid_event)).json()["outcome"] == "applied"
    assert (await deliver(client, failed_event)).json()["outcome"] == "stale"
    assert (await customer_row(resources, customer.id)).state == AccountState.ACTIVE


async def test_same_second_failure_of_an_invoice_stripe_says_is_open_applies(
    client, resources, stripe_client
):
    stripe_customer_id, invoice_id = _stripe_customer_with_invoice(
        stripe_client, "pm_card_chargeCustomerFail")
    customer = await linked_customer(resources, stripe_customer_id=stripe_customer_id)
    updated = event("customer.subscription.updated", subscription_for(customer), T0)
    failed_event = event("invoice.payment_failed", invoice_for(customer, "open", id=invoice_id), T0)
    await deliver(client, updated)
    assert (await deliver(client, failed_event)).json()["outcome"] == "applied"
    assert (await customer_row(resources, customer.id)).state == AccountState.PAST_DUE
