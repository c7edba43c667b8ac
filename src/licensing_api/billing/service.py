"""Plans in the database: the catalogue mirrored into `plans` rows that keep Stripe ids."""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from licensing_api.billing.models import Plan
from licensing_api.billing.plans import PlanSpec


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
