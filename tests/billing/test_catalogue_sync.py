"""`plans sync` against the local Stripe server, driven by the service's async SDK client."""

from __future__ import annotations

from decimal import Decimal

import stripe
from sqlalchemy import select

from licensing_api.billing.catalogue_sync import (
    SyncOutcome,
    base_lookup_key,
    metered_lookup_key,
    product_id_for,
    sync_catalogue,
)
from licensing_api.billing.models import Plan
from licensing_api.billing.plans import load_catalogue
from licensing_api.db import session_scope
from licensing_api.resources import open_resources


def stripe_object_counts(client: stripe.StripeClient) -> dict[str, int]:
    return {
        "products": sum(1 for _ in client.v1.products.list({"limit": 100}).auto_paging_iter()),
        "prices": sum(1 for _ in client.v1.prices.list({"limit": 100}).auto_paging_iter()),
        "meters": sum(1 for _ in client.v1.billing.meters.list({"limit": 100}).auto_paging_iter()),
    }


async def plan_rows(resources) -> dict[str, Plan]:  # type: ignore[no-untyped-def]
    async with session_scope(resources.sessionmaker) as session:
        return {p.id: p for p in await session.scalars(select(Plan))}


async def test_sync_creates_a_product_meter_and_prices_per_plan(billing_resources, catalogue, plan_ids, stripe_client):
    steps = await sync_catalogue(billing_resources, billing_resources.stripe)

    assert {s.outcome for s in steps} == {SyncOutcome.CREATED}
    kinds = {(s.plan_id, s.kind) for s in steps}
    standard, starter, eur = (catalogue.get(plan_ids[p]) for p in ("standard", "starter", "pay-per-crawl-eur"))
    assert {k for p, k in kinds if p == standard.id} == {"product", "meter", "base price", "metered price"}
    assert {k for p, k in kinds if p == starter.id} == {"product", "base price"}
    assert {k for p, k in kinds if p == eur.id} == {"product", "meter", "metered price"}
    rows = await plan_rows(billing_resources)
    assert rows[starter.id].stripe_metered_price_id is None and rows[starter.id].stripe_meter_id is None
    assert rows[eur.id].stripe_base_price_id is None
    assert rows[standard.id].stripe_product_id == product_id_for(standard)


async def test_hybrid_plan_gets_a_licensed_base_and_a_graduated_metered_price(billing_resources, catalogue, plan_ids, stripe_client):
    await sync_catalogue(billing_resources, billing_resources.stripe)
    standard = catalogue.get(plan_ids["standard"])
    row = (await plan_rows(billing_resources))[standard.id]

    base = stripe_client.v1.prices.retrieve(row.stripe_base_price_id)
    assert (base.unit_amount, base.currency, base.lookup_key) == (10000, "usd", base_lookup_key(standard))
    assert (base.recurring.interval, base.recurring.usage_type) == ("month", "licensed")
    metered = stripe_client.v1.prices.retrieve(row.stripe_metered_price_id, {"expand": ["tiers"]})
    assert (metered.billing_scheme, metered.tiers_mode) == ("tiered", "graduated")
    assert metered.recurring.usage_type == "metered" and metered.recurring.meter == row.stripe_meter_id
    assert metered.lookup_key == metered_lookup_key(standard)
    assert [(t.up_to, Decimal(t.unit_amount_decimal)) for t in metered.tiers] == [
        (1000, Decimal(0)), (None, Decimal("0.1"))]
    meter = stripe_client.v1.billing.meters.retrieve(row.stripe_meter_id)
    assert meter.event_name == standard.meter_event_name == row.meter_event_name
    assert meter.default_aggregation.formula == "sum"
    assert meter.customer_mapping.event_payload_key == "stripe_customer_id"


async def test_annual_and_euro_plans_keep_their_interval_and_currency(billing_resources, catalogue, plan_ids, stripe_client):
    await sync_catalogue(billing_resources, billing_resources.stripe)
    rows = await plan_rows(billing_resources)

    annual = stripe_client.v1.prices.retrieve(rows[plan_ids["standard-annual"]].stripe_base_price_id)
    assert (annual.recurring.interval, annual.unit_amount) == ("year", 100000)
    eur = stripe_client.v1.prices.retrieve(rows[plan_ids["pay-per-crawl-eur"]].stripe_metered_price_id,
                                           {"expand": ["tiers"]})
    assert eur.currency == "eur"
    assert [(t.up_to, Decimal(t.unit_amount_decimal)) for t in eur.tiers] == [(None, Decimal("0.2"))]


async def test_second_sync_creates_nothing(billing_resources, stripe_client):
    first = await sync_catalogue(billing_resources, billing_resources.stripe)
    before = stripe_object_counts(stripe_client)
    rows_before = {k: (r.stripe_product_id, r.stripe_meter_id, r.stripe_base_price_id, r.stripe_metered_price_id)
                   for k, r in (await plan_rows(billing_resources)).items()}

    second = await sync_catalogue(billing_resources, billing_resources.stripe)

    assert {s.outcome for s in second} == {SyncOutcome.KEPT}
    assert [s.stripe_id for s in second] == [s.stripe_id for s in first]
    assert stripe_object_counts(stripe_client) == before
    rows_after = {k: (r.stripe_product_id, r.stripe_meter_id, r.stripe_base_price_id, r.stripe_metered_price_id)
                  for k, r in (await plan_rows(billing_resources)).items()}
    assert rows_after == rows_before


async def test_changed_amount_creates_a_new_price_that_takes_over_the_lookup_key(
    billing_resources, billing_settings, plan_ids, stripe_client
):
    await sync_catalogue(billing_resources, billing_resources.stripe)
    standard_id = plan_ids["standard"]
    old_price_id = (await plan_rows(billing_resources))[standard_id].stripe_base_price_id
    plans_file = billing_settings.plans_file
    plans_file.write_text(plans_file.read_text().replace("base_amount = 10000 ", "base_amount = 12000 "))

    async with open_resources(billing_settings, load_catalogue(plans_file)) as changed:
        steps = await sync_catalogue(changed, changed.stripe)

    replaced = [s for s in steps if s.outcome is SyncOutcome.REPLACED]
    assert [(s.plan_id, s.kind) for s in replaced] == [(standard_id, "base price")]
    new_price_id = (await plan_rows(billing_resources))[standard_id].stripe_base_price_id
    assert new_price_id == replaced[0].stripe_id != old_price_id
    new_price = stripe_client.v1.prices.retrieve(new_price_id)
    assert (new_price.unit_amount, new_price.lookup_key) == (12000, f"{standard_id}.base")
    old_price = stripe_client.v1.prices.retrieve(old_price_id)
    assert (old_price.active, old_price.lookup_key) == (False, None)


async def test_renamed_plan_updates_its_product_in_place(billing_resources, billing_settings, plan_ids, stripe_client):
    await sync_catalogue(billing_resources, billing_resources.stripe)
    plans_file = billing_settings.plans_file
    plans_file.write_text(plans_file.read_text().replace('name = "Premium"', 'name = "Premium plus"'))

    async with open_resources(billing_settings, load_catalogue(plans_file)) as changed:
        steps = await sync_catalogue(changed, changed.stripe)

    changed_steps = [(s.plan_id, s.kind, s.outcome) for s in steps if s.outcome is not SyncOutcome.KEPT]
    premium = plan_ids["premium"]
    assert changed_steps == [(premium, "product", SyncOutcome.UPDATED), (premium, "meter", SyncOutcome.UPDATED)]
    assert stripe_client.v1.products.retrieve(f"licensing-{premium}").name == "Premium plus"
