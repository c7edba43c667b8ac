"""Plans in the database (the catalogue mirrored into `plans` rows that keep Stripe ids), and
whose subscription items are whose."""

from __future__ import annotations

import uuid

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from licensing_api.accounts.models import Customer
from licensing_api.billing.models import Plan, Subscription, SubscriptionItem
from licensing_api.billing.plans import PlanCatalogue, PlanSpec
from licensing_api.errors import NotFound, ServiceUnavailable


async def upsert_plan(session: AsyncSession, spec: PlanSpec) -> Plan:
    """Create or update the plan row from the catalogue, keeping its Stripe ids."""
    plan = await session.scalar(select(Plan).where(Plan.id == spec.id).with_for_update())
    if plan is None:
        plan = Plan(id=spec.id)
        session.add(plan)
    plan.name = spec.name
    plan.kind = spec.kind
    plan.currency = spec.currency
    plan.interval = spec.interval
    plan.base_amount = spec.base_amount
    plan.tiers = spec.tiers_as_json()
    plan.cap_units = spec.cap_units
    plan.rate_limit_per_second = spec.rate_limit_per_second
    plan.meter_event_name = spec.meter_event_name
    await session.flush()
    return plan


class PlanNotSynced(ServiceUnavailable):
    slug, title = "plan-not-synced", "Plan not set up in Stripe"


async def synced_plan(session: AsyncSession, spec: PlanSpec) -> Plan:
    """The plan row with its Stripe price ids; `PlanNotSynced` until `plans sync` has run."""
    plan = await session.get(Plan, spec.id)
    missing = plan is None or plan.stripe_product_id is None
    if plan is not None and spec.has_base_fee and plan.stripe_base_price_id is None:
        missing = True
    if plan is not None and spec.is_metered and plan.stripe_metered_price_id is None:
        missing = True
    if missing or plan is None:
        raise PlanNotSynced(
            f"plan {spec.id!r} has no Stripe prices yet; run `licensing-api plans sync`"
        )
    return plan


def subscription_items(plan: Plan) -> list[dict[str, object]]:
    """Stripe `items` / `line_items` for the plan: base fee (quantity 1), then metered usage.

    A metered price takes no quantity: Stripe bills it from the meter.
    """
    items: list[dict[str, object]] = []
    if plan.stripe_base_price_id:
        items.append({"price": plan.stripe_base_price_id, "quantity": 1})
    if plan.stripe_metered_price_id:
        items.append({"price": plan.stripe_metered_price_id})
    return items


class PlanNotFound(NotFound):
    slug, title = "plan-not-found", "No such plan"


def plan_spec(catalogue: PlanCatalogue, plan_id: str) -> PlanSpec:
    """The catalogue's plan, or `PlanNotFound` (404) naming the plans there are."""
    spec = catalogue.get(plan_id)
    if spec is None:
        choices = ", ".join(p.id for p in catalogue)
        raise PlanNotFound(f"no plan {plan_id!r}; choose one of: {choices}")
    return spec


async def item_owners(session: AsyncSession, item_ids: list[uuid.UUID]) -> dict[uuid.UUID, str]:
    """The email of the customer each subscription item belongs to (for operators' tables)."""
    if not item_ids:
        return {}
    rows = await session.execute(
        select(SubscriptionItem.id, Customer.email)
        .join(Subscription, Subscription.id == SubscriptionItem.subscription_id)
        .join(Customer, Customer.id == Subscription.customer_id)
        .where(SubscriptionItem.id.in_(item_ids))
    )
    return {item_id: email for item_id, email in rows}
