"""Usage of the current period: what `/v1/usage` and the dashboard show.

Units = the period total in Redis (every worker's moved tallies) + this worker's tally not
moved yet. Other workers' unmoved tallies (under `TALLY_FLUSH_INTERVAL_MS` each) show up
on the next read.
"""

from __future__ import annotations

import uuid

from redis.asyncio import Redis
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from licensing_api.billing.models import Subscription, SubscriptionItem
from licensing_api.billing.plans import PlanCatalogue, PlanSpec
from licensing_api.billing.pricing import estimate_bill, format_amount
from licensing_api.billing.provisioning import usage_item_of
from licensing_api.budgets.models import Budget
from licensing_api.budgets.schemas import BudgetStatus
from licensing_api.errors import NotFound
from licensing_api.usage.redis_keys import item_period_field, period_totals_of
from licensing_api.usage.schemas import ScheduledChange, UsageSummary
from licensing_api.usage.tally import UsageTally


class NoSubscriptionUsage(NotFound):
    slug, title = "no-subscription", "No subscription"


async def current_usage(
    session: AsyncSession,
    redis: Redis,
    redis_key_prefix: str,
    catalogue: PlanCatalogue,
    customer_id: uuid.UUID,
    tally: UsageTally | None = None,
) -> UsageSummary:
    """The customer's current period: units, allowance, overage and the estimated bill."""
    subscription = await session.scalar(
        select(Subscription)
        .where(Subscription.customer_id == customer_id)
        .order_by(Subscription.created_at.desc(), Subscription.id.desc())
        .limit(1)
    )
    plan = catalogue.get(subscription.plan_id) if subscription is not None else None
    items = []
    if subscription is not None:
        items = list(
            await session.scalars(
                select(SubscriptionItem).where(SubscriptionItem.subscription_id == subscription.id)
            )
        )
    if subscription is None or plan is None or not items:
        raise NoSubscriptionUsage(f"customer {customer_id} has no subscription with usage")
    item = usage_item_of(items)
    period_field = item_period_field(item.id, item.current_period_start)
    stored = await redis.hget(redis_key_prefix + period_totals_of(period_field), period_field)
    units = int(stored or 0) + (tally.unmoved_units(period_field) if tally is not None else 0)
    bill = estimate_bill(plan, units)
    earlier = await _earlier_usage_amount(redis, redis_key_prefix, catalogue, subscription, items, item)
    scheduled = _scheduled_change(catalogue, subscription)
    budget = await session.get(Budget, customer_id)
    return UsageSummary(
        budget=BudgetStatus.of(budget, plan, bill.total_amount) if budget is not None else None,
        earlier_usage_amount=earlier,
        next_invoice_amount=bill.usage_amount + earlier + _next_base_fee(catalogue, subscription, plan),
        scheduled_change=scheduled,
        ends_at=subscription.cancel_at,
        customer_id=customer_id,
        plan_id=plan.id,
        plan_name=plan.name,
        currency=plan.currency,
        period_start=item.current_period_start,
        period_end=item.current_period_end,
        units=units,
        included_units=bill.included_units,
        overage_units=bill.overage_units,
        cap_units=plan.cap_units,
        base_amount=bill.base_amount,
        usage_amount=bill.usage_amount,
        estimated_amount=bill.total_amount,
        estimated_amount_display=format_amount(bill.total_amount, plan.currency),
    )


async def _earlier_usage_amount(
    redis: Redis, redis_key_prefix: str, catalogue: PlanCatalogue, subscription: Subscription,
    items: list[SubscriptionItem], current: SubscriptionItem,
) -> int:
    """Usage this period on metered items a `now` plan change ended (billed at the period
    end with their own plan's tiers)."""
    plans_by_meter = {spec.meter_event_name: spec for spec in catalogue if spec.meter_event_name}
    ended = [i for i in items if i is not current and i.ended_at is not None
             and i.meter_event_name in plans_by_meter
             and i.current_period_start >= subscription.current_period_start]
    if not ended:
        return 0
    fields = [item_period_field(i.id, i.current_period_start) for i in ended]
    totals = [await redis.hget(redis_key_prefix + period_totals_of(field), field) for field in fields]
    return sum(estimate_bill(plans_by_meter[str(i.meter_event_name)], int(total or 0)).usage_amount
               for i, total in zip(ended, totals, strict=True))


def _scheduled_change(catalogue: PlanCatalogue, subscription: Subscription) -> ScheduledChange | None:
    spec = catalogue.get(subscription.scheduled_plan_id) if subscription.scheduled_plan_id else None
    if spec is None or subscription.scheduled_change_at is None:
        return None
    return ScheduledChange(plan_id=spec.id, plan_name=spec.name, effective_at=subscription.scheduled_change_at)


def _next_base_fee(catalogue: PlanCatalogue, subscription: Subscription, plan: PlanSpec) -> int:
    """The base fee the period-end invoice charges for the next period (none if it ends)."""
    if subscription.cancel_at is not None and subscription.cancel_at <= subscription.current_period_end:
        return 0
    scheduled = _scheduled_change(catalogue, subscription)
    if scheduled is not None and scheduled.effective_at <= subscription.current_period_end:
        return catalogue.get(scheduled.plan_id).base_amount  # type: ignore[union-attr]
    return plan.base_amount
