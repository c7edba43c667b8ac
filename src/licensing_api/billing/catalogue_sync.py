"""`plans sync`: make Stripe's products, meters and prices match `plans.toml`, idempotently.

Each plan owns, in Stripe:
- a product with the fixed id `licensing-<plan>` (Stripe lets us choose product ids);
- a Billing Meter with `event_name` = `PlanSpec.meter_event_name` (metered plans), summing
  the payload's `value` per `stripe_customer_id`;
- a licensed base price, lookup key `<plan>.base` (hybrid, fixed), and a graduated metered
  price, lookup key `<plan>.metered` (hybrid, metered; the first tier is the free allowance).

Objects are found by those keys, never remembered, so a second run changes nothing. Prices
are immutable in Stripe: a changed amount creates a new price that takes over the lookup key
(`transfer_lookup_key`) and archives the old one. The ids end up in the `plans` table.
"""

from __future__ import annotations

import enum
import logging
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

import stripe

from licensing_api.billing.errors import translate, translate_stripe_errors
from licensing_api.billing.models import Plan
from licensing_api.billing.plans import PlanSpec
from licensing_api.billing.stripe_client import field, idempotency_key
from licensing_api.billing.service import upsert_plan
from licensing_api.db import session_scope
from licensing_api.resources import Resources

logger = logging.getLogger(__name__)

METER_CUSTOMER_KEY = "stripe_customer_id"  # meter event payload: whose usage
METER_VALUE_KEY = "value"  # meter event payload: how many units
PLAN_METADATA_KEY = "licensing_plan"


class SyncOutcome(enum.StrEnum):
    CREATED = "created"
    UPDATED = "updated"  # changed in place (name, active flag)
    REPLACED = "replaced"  # a new price took over the lookup key; the old one is archived
    KEPT = "kept"


@dataclass(frozen=True, slots=True)
class SyncStep:
    plan_id: str
    kind: str  # product | meter | base price | metered price
    stripe_id: str
    outcome: SyncOutcome


StepReporter = Callable[[SyncStep], None]


def product_id_for(plan: PlanSpec) -> str:
    return f"licensing-{plan.id}"


def base_lookup_key(plan: PlanSpec) -> str:
    return f"{plan.id}.base"


def metered_lookup_key(plan: PlanSpec) -> str:
    return f"{plan.id}.metered"


async def sync_catalogue(
    resources: Resources,
    client: stripe.StripeClient,
    report: StepReporter | None = None,
    plans: Iterable[PlanSpec] | None = None,
) -> list[SyncStep]:
    """Sync every plan (or just `plans`), each in its own transaction so finished plans
    stay recorded if a later one fails."""
    steps: list[SyncStep] = []
    meters = await _meters_by_event_name(client)
    for plan in resources.catalogue if plans is None else plans:
        async with session_scope(resources.sessionmaker) as session:
            row = await upsert_plan(session, plan)
            steps += await _sync_plan(client, plan, row, meters, _logged(report))
    return steps


def _logged(report: StepReporter | None) -> StepReporter:
    def record(step: SyncStep) -> None:
        logger.info("stripe_catalogue_step", extra={
            "plan": step.plan_id, "kind": step.kind, "stripe_id": step.stripe_id,
            "outcome": step.outcome.value,
        })
        if report is not None:
            report(step)

    return record


async def _sync_plan(
    client: stripe.StripeClient,
    plan: PlanSpec,
    row: Plan,
    meters: dict[str, list[stripe.billing.Meter]],
    report: StepReporter,
) -> list[SyncStep]:
    steps: list[SyncStep] = []

    def done(step: SyncStep) -> str:
        steps.append(step)
        report(step)
        return step.stripe_id

    row.stripe_product_id = done(await _sync_product(client, plan))
    # A plan whose kind changed loses the objects it no longer uses.
    row.stripe_meter_id = row.stripe_base_price_id = row.stripe_metered_price_id = None
    if plan.is_metered:
        row.stripe_meter_id = done(await _sync_meter(client, plan, meters))
    existing = await _prices_by_lookup_key(client, plan)
    if plan.has_base_fee:
        row.stripe_base_price_id = done(await _sync_price(
            client, plan, "base price", existing.get(base_lookup_key(plan)),
            _base_price_params(plan, row.stripe_product_id)))
    if plan.is_metered and row.stripe_meter_id is not None:
        row.stripe_metered_price_id = done(await _sync_price(
            client, plan, "metered price", existing.get(metered_lookup_key(plan)),
            _metered_price_params(plan, row.stripe_product_id, row.stripe_meter_id)))
    return steps


async def _sync_product(client: stripe.StripeClient, plan: PlanSpec) -> SyncStep:
    product_id = product_id_for(plan)
    product = await _retrieve_product(client, product_id)
    if product is None:
        params = {"id": product_id, "name": plan.name, "metadata": {PLAN_METADATA_KEY: plan.id}}
        with translate_stripe_errors("products.create"):
            product = await client.v1.products.create_async(
                params, {"idempotency_key": idempotency_key("product", params)})  # type: ignore[arg-type]
        return SyncStep(plan.id, "product", product.id, SyncOutcome.CREATED)
    if product.name == plan.name and product.active:
        return SyncStep(plan.id, "product", product.id, SyncOutcome.KEPT)
    with translate_stripe_errors("products.update"):
        await client.v1.products.update_async(product_id, {"name": plan.name, "active": True})
    return SyncStep(plan.id, "product", product_id, SyncOutcome.UPDATED)


async def _retrieve_product(client: stripe.StripeClient, product_id: str) -> stripe.Product | None:
    try:
        return await client.v1.products.retrieve_async(product_id)
    except stripe.InvalidRequestError as exc:
        if exc.http_status == 404:  # not created yet
            return None
        raise translate(exc, "products.retrieve") from exc
    except stripe.StripeError as exc:
        raise translate(exc, "products.retrieve") from exc


async def _meters_by_event_name(client: stripe.StripeClient) -> dict[str, list[stripe.billing.Meter]]:
    """Every meter of the account, by event name (meters have no lookup key)."""
    found: dict[str, list[stripe.billing.Meter]] = {}
    with translate_stripe_errors("billing.meters.list"):
        page = await client.v1.billing.meters.list_async({"limit": 100})
        async for meter in page.auto_paging_iter():
            found.setdefault(meter.event_name, []).append(meter)
    return found


async def _sync_meter(
    client: stripe.StripeClient, plan: PlanSpec, meters_by_event_name: dict[str, list[stripe.billing.Meter]]
) -> SyncStep:
    event_name = plan.meter_event_name
    assert event_name is not None
    display_name = f"{plan.name}: licensed requests"
    meters = meters_by_event_name.get(event_name, [])
    active = [m for m in meters if m.status == "active"]
    if not meters:
        params = {
            "display_name": display_name,
            "event_name": event_name,
            "default_aggregation": {"formula": "sum"},
            "customer_mapping": {"type": "by_id", "event_payload_key": METER_CUSTOMER_KEY},
            "value_settings": {"event_payload_key": METER_VALUE_KEY},
        }
        with translate_stripe_errors("billing.meters.create"):
            meter = await client.v1.billing.meters.create_async(
                params, {"idempotency_key": idempotency_key("meter", params)})  # type: ignore[arg-type]
        return SyncStep(plan.id, "meter", meter.id, SyncOutcome.CREATED)
    meter = active[0] if active else meters[0]
    outcome = SyncOutcome.KEPT
    if meter.status != "active":
        with translate_stripe_errors("billing.meters.reactivate"):
            await client.v1.billing.meters.reactivate_async(meter.id)
        outcome = SyncOutcome.UPDATED
    if meter.display_name != display_name:
        with translate_stripe_errors("billing.meters.update"):
            await client.v1.billing.meters.update_async(meter.id, {"display_name": display_name})
        outcome = SyncOutcome.UPDATED
    return SyncStep(plan.id, "meter", meter.id, outcome)


async def _prices_by_lookup_key(client: stripe.StripeClient, plan: PlanSpec) -> dict[str, stripe.Price]:
    keys = [base_lookup_key(plan), metered_lookup_key(plan)]
    with translate_stripe_errors("prices.list"):
        page = await client.v1.prices.list_async(
            {"lookup_keys": keys, "expand": ["data.tiers"], "limit": 10})
    return {price.lookup_key: price for price in page.data if price.lookup_key}


def _base_price_params(plan: PlanSpec, product_id: str) -> dict[str, Any]:
    return {
        "currency": plan.currency,
        "product": product_id,
        "unit_amount": plan.base_amount,
        "recurring": {"interval": plan.interval, "usage_type": "licensed"},
        "lookup_key": base_lookup_key(plan),
        "metadata": {PLAN_METADATA_KEY: plan.id},
    }


def _metered_price_params(plan: PlanSpec, product_id: str, meter_id: str) -> dict[str, Any]:
    tiers = []
    for tier in plan.tiers:
        entry: dict[str, Any] = {
            "up_to": "inf" if tier.up_to is None else tier.up_to,
            "unit_amount_decimal": str(tier.unit_amount_decimal),
        }
        if tier.flat_amount:
            entry["flat_amount"] = tier.flat_amount
        tiers.append(entry)
    return {
        "currency": plan.currency,
        "product": product_id,
        "billing_scheme": "tiered",
        "tiers_mode": "graduated",
        "tiers": tiers,
        "recurring": {"interval": plan.interval, "usage_type": "metered", "meter": meter_id},
        "lookup_key": metered_lookup_key(plan),
        "metadata": {PLAN_METADATA_KEY: plan.id},
    }


async def _sync_price(
    client: stripe.StripeClient,
    plan: PlanSpec,
    kind: str,
    existing: stripe.Price | None,
    params: dict[str, Any],
) -> SyncStep:
    if existing is not None and _price_matches(existing, params):
        if existing.active:
            return SyncStep(plan.id, kind, existing.id, SyncOutcome.KEPT)
        with translate_stripe_errors("prices.update"):
            await client.v1.prices.update_async(existing.id, {"active": True})
        return SyncStep(plan.id, kind, existing.id, SyncOutcome.UPDATED)
    create = dict(params, transfer_lookup_key=existing is not None)
    key = idempotency_key("price", dict(create, replaces=existing.id if existing else None))
    with translate_stripe_errors("prices.create"):
        price = await client.v1.prices.create_async(create, {"idempotency_key": key})  # type: ignore[arg-type]
    if existing is None:
        return SyncStep(plan.id, kind, price.id, SyncOutcome.CREATED)
    with translate_stripe_errors("prices.update"):
        await client.v1.prices.update_async(existing.id, {"active": False})
    return SyncStep(plan.id, kind, price.id, SyncOutcome.REPLACED)


def _price_matches(price: stripe.Price, params: dict[str, Any]) -> bool:
    """Whether an existing price already charges what `params` describe."""
    recurring = price.recurring
    wanted = params["recurring"]
    if (
        price.currency != params["currency"]
        or price.product != params["product"]
        or recurring is None
        or recurring.interval != wanted["interval"]
        or (recurring.interval_count or 1) != 1
        or recurring.usage_type != wanted["usage_type"]
        or field(recurring, "meter") != wanted.get("meter")
        or price.billing_scheme != params.get("billing_scheme", "per_unit")
    ):
        return False
    if price.billing_scheme == "per_unit":
        return _amount(price.unit_amount_decimal, price.unit_amount) == Decimal(params["unit_amount"])
    if price.tiers_mode != params["tiers_mode"]:
        return False
    have = [
        (
            field(t, "up_to"),
            _amount(field(t, "unit_amount_decimal"), field(t, "unit_amount")),
            _amount(field(t, "flat_amount_decimal"), field(t, "flat_amount")),
        )
        for t in field(price, "tiers", [])
    ]
    want = [
        (
            None if t["up_to"] == "inf" else t["up_to"],
            Decimal(t["unit_amount_decimal"]),
            Decimal(t.get("flat_amount", 0)),
        )
        for t in params["tiers"]
    ]
    return have == want


def _amount(decimal_text: str | None, integer: int | None) -> Decimal:
    if decimal_text not in (None, ""):
        return Decimal(str(decimal_text))
    return Decimal(integer or 0)
