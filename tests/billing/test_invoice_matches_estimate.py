"""What Stripe invoices for a period equals the service's own `estimate_bill`, to the cent.

Plans synced by the service, usage sent as meter events for a customer on a test clock,
the clock advanced past the period end, the invoice read back (sync SDK client).
"""

from __future__ import annotations

import pytest

from licensing_api.billing.catalogue_sync import sync_catalogue
from licensing_api.billing.models import Plan
from licensing_api.billing.plans import load_catalogue
from licensing_api.billing.pricing import estimate_bill
from licensing_api.billing.service import subscription_items
from licensing_api.db import session_scope
from licensing_api.resources import open_resources
from tests.billing.stripe_setup import unique_catalogue, unique_email, with_billing
from tests.stripe_server.helpers import advance_clock

T0 = 1767225600  # 2026-01-01T00:00:00Z: the test clock's start


@pytest.mark.parametrize(
    ("bundled_plan", "units"),
    [
        ("standard", 1005),  # half a cent of overage rounds up
        ("standard", 3500),
        ("premium", 100_009),  # 0.45 cent rounds down
        ("standard-annual", 15_007),
        ("pay-per-crawl-eur", 1234),  # every request billed, EUR
        ("starter", 4000),  # fixed fee: usage is not billed
    ],
)
async def test_period_invoice_equals_the_estimate(settings, stripe_server, stripe_client, tmp_path, bundled_plan, units):
    plans_file, renamed = unique_catalogue(tmp_path, (bundled_plan,))
    catalogue = load_catalogue(plans_file)
    spec = catalogue.get(renamed[bundled_plan])
    async with open_resources(with_billing(settings, stripe_server, plans_file), catalogue) as resources:
        await sync_catalogue(resources, resources.stripe)
        async with session_scope(resources.sessionmaker) as session:
            plan = await session.get(Plan, spec.id)
    clock = stripe_client.v1.test_helpers.test_clocks.create({"frozen_time": T0})
    customer = stripe_client.v1.customers.create({
        "email": unique_email(), "test_clock": clock.id,
        "invoice_settings": {"default_payment_method": "pm_card_visa"}})
    subscription = stripe_client.v1.subscriptions.create(
        {"customer": customer.id, "items": subscription_items(plan)})
    period_end = subscription["items"].data[0].current_period_end
    advance_clock(stripe_client, clock.id, T0 + 7200)
    if spec.meter_event_name:
        for part in (units // 3, units - units // 3):
            stripe_client.v1.billing.meter_events.create({
                "event_name": spec.meter_event_name, "timestamp": T0 + 3600,
                "payload": {"stripe_customer_id": customer.id, "value": str(part)}})

    advance_clock(stripe_client, clock.id, period_end + 3600)  # the draft finalizes

    invoice = next(i for i in stripe_client.v1.invoices.list({"subscription": subscription.id}).data
                   if i.billing_reason == "subscription_cycle")
    estimate = estimate_bill(spec, units)
    assert (invoice.currency, invoice.period_end) == (spec.currency, period_end)
    assert invoice.amount_due == estimate.total_amount
    usage_lines = [line.amount for line in invoice.lines.data
                   if line.pricing.price_details.price == plan.stripe_metered_price_id]
    assert sum(usage_lines) == estimate.usage_amount
