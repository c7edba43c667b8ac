"""The meters `plans sync` creates reject what Stripe rejects (service's async SDK client):
at once what Stripe checks at once, later (in a meter error report) the rest."""

from __future__ import annotations

import time
import uuid

import pytest

from licensing_api.billing.errors import StripeRejected, translate_stripe_errors
from tests.billing.stripe_setup import unique_email


@pytest.fixture
async def stripe_customer_id(billing_resources) -> str:
    customer = await billing_resources.stripe.v1.customers.create_async({"email": unique_email()})
    return customer.id


async def send(resources, plan, customer_id, value, **extra):  # type: ignore[no-untyped-def]
    with translate_stripe_errors("billing.meter_events.create"):
        return await resources.stripe.v1.billing.meter_events.create_async({
            "event_name": plan.meter_event_name,
            "payload": {"stripe_customer_id": customer_id, "value": str(value)}, **extra})


async def test_a_meter_event_for_an_unknown_customer_is_accepted_then_rejected(
    billing_resources, standard, stripe_server
):
    accepted = await send(billing_resources, standard, "cus_doesnotexist", 1, identifier=f"ghost-{uuid.uuid4()}")
    stripe_server.validate_meter_events()
    [dropped] = [e for e in stripe_server.meter_errors() if e["event"].get("identifier") == accepted.identifier]
    assert dropped["code"] == "meter_event_customer_not_found"


async def test_a_duplicate_identifier_is_rejected_and_counted_once(
    billing_resources, standard, stripe_customer_id, stripe_server
):
    identifier = f"report-{uuid.uuid4()}"
    await send(billing_resources, standard, stripe_customer_id, 40, identifier=identifier)
    with pytest.raises(StripeRejected, match=f"already exists with identifier {identifier}"):
        await send(billing_resources, standard, stripe_customer_id, 40, identifier=identifier)
    assert stripe_server.meter_event_total(standard.meter_event_name, stripe_customer_id) == 40


async def test_a_timestamp_older_than_35_days_is_rejected(billing_resources, standard, stripe_customer_id):
    with pytest.raises(StripeRejected) as raised:
        await send(billing_resources, standard, stripe_customer_id, 1,
                   timestamp=int(time.time()) - 36 * 86400)
    assert raised.value.stripe_code == "timestamp_too_far_in_past"


async def test_values_are_summed_per_customer(billing_resources, standard, stripe_customer_id, stripe_server):
    for value in (3, 4):
        await send(billing_resources, standard, stripe_customer_id, value)
    assert stripe_server.meter_event_total(standard.meter_event_name, stripe_customer_id) == 7
