"""A Stripe subscription object mirrored into local rows (webhooks and reconcile).

In this API version the billing period lives on each subscription ITEM
(`items.data[].current_period_start/end`), not on the subscription.

Plan changes from any source (the Dashboard, the API, the billing portal, a schedule's next
phase, this service) arrive as items whose prices changed. The local plan follows the prices
(`plans.stripe_base_price_id` / `stripe_metered_price_id`), and so do the items:

- an item Stripe no longer lists, or whose price was swapped in place, ENDS at the moment of
  the change (`ended_at`; its period is cut there): units served before it stay on it;
- a new item (or the swapped-in price) gets a new row that counts from that moment, with the
  meter of its own price's plan: units served after the change go to it;
- a row this service ended (a metered item kept in Stripe until the period end, so that late
  usage of the old plan is still billed) stays ended although Stripe lists it.

Rows are never deleted: the usage ledger refers to them.
"""

from __future__ import annotations

import logging
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import or_, select
from sqlalchemy.ext.asyncio import AsyncSession

from licensing_api.billing.models import Plan, Subscription, SubscriptionItem, SubscriptionItemKind
from licensing_api.db import utcnow

logger = logging.getLogger(__name__)

StripeObject = dict[str, Any]


def from_timestamp(value: int | float) -> datetime:
    return datetime.fromtimestamp(int(value), UTC)


def stripe_items(obj: StripeObject) -> list[StripeObject]:
    items = obj.get("items") or {}
    return list(items.get("data") or []) if isinstance(items, dict) else []


def price_of(item: StripeObject) -> StripeObject:
    price = item.get("price") or {}
    return price if isinstance(price, dict) else {"id": price}


def period_bounds(obj: StripeObject) -> tuple[datetime, datetime] | None:
    items = [i for i in stripe_items(obj) if i.get("current_period_start") and i.get("current_period_end")]
    if not items:
        return None
    return (
        from_timestamp(min(i["current_period_start"] for i in items)),
        from_timestamp(min(i["current_period_end"] for i in items)),
    )


async def plans_by_price(session: AsyncSession, price_ids: set[str]) -> dict[str, Plan]:
    if not price_ids:
        return {}
    plans = await session.scalars(select(Plan).where(or_(
        Plan.stripe_base_price_id.in_(price_ids), Plan.stripe_metered_price_id.in_(price_ids))))
    found = {}
    for plan in plans:
        for price_id in (plan.stripe_base_price_id, plan.stripe_metered_price_id):
            if price_id in price_ids:
                found[price_id] = plan
    return found


def end_item(item: SubscriptionItem, at: datetime) -> None:
    """The item counts no usage from `at` on; its current period is cut there."""
    item.ended_at = at
    item.current_period_end = max(item.current_period_start, min(item.current_period_end, at))


async def mirror_subscription(
    session: AsyncSession, subscription: Subscription, obj: StripeObject,
    changed_at: datetime | None = None,
) -> list[str]:
    """Copy status, periods, `cancel_at`, the schedule, the items and the plan they imply
    from Stripe; returns the names of what changed ("status", "period", "items", "plan", …).

    `changed_at`: when an item change happened, if the caller knows (a plan change it made);
    else the new items' own `created`, else now.
    """
    changed = []
    if subscription.status != obj.get("status"):
        subscription.status = str(obj.get("status"))
        changed.append("status")
    bounds = period_bounds(obj)
    if bounds and (subscription.current_period_start, subscription.current_period_end) != bounds:
        subscription.current_period_start, subscription.current_period_end = bounds
        changed.append("period")
    cancel_at = from_timestamp(obj["cancel_at"]) if obj.get("cancel_at") else None
    if subscription.cancel_at != cancel_at:
        subscription.cancel_at = cancel_at
        changed.append("cancel_at")
    if "schedule" in obj:
        changed += _mirror_schedule(subscription, obj.get("schedule"))
    listed = stripe_items(obj)
    prices = {str(price_of(i).get("id")) for i in listed if price_of(i).get("id")}
    plans = await plans_by_price(session, prices)
    rows = list(await session.scalars(
        select(SubscriptionItem).where(SubscriptionItem.subscription_id == subscription.id)))
    by_stripe_id = {row.stripe_subscription_item_id: row for row in rows if row.stripe_subscription_item_id}
    new_created = [int(i["created"]) for i in listed
                   if i.get("id") not in by_stripe_id and isinstance(i.get("created"), (int, float))]
    at = changed_at or (from_timestamp(max(new_created)) if new_created else utcnow())
    live_plans: list[Plan] = []
    for stripe_item in listed:
        row, item_changes = _mirror_item(session, subscription, stripe_item, by_stripe_id, plans, at)
        changed += item_changes
        plan = plans.get(str(row.stripe_price_id))
        if row.ended_at is None and plan is not None:
            live_plans.append(plan)
    listed_ids = {i.get("id") for i in listed}
    for row in rows:
        if row.stripe_subscription_item_id and row.stripe_subscription_item_id not in listed_ids \
                and row.ended_at is None:
            end_item(row, at)
            changed.append("items")
    changed += _follow_plan(subscription, live_plans)
    await session.flush()
    return sorted(set(changed))


def _mirror_schedule(subscription: Subscription, schedule: Any) -> list[str]:
    schedule_id = schedule.get("id") if isinstance(schedule, dict) else schedule
    if subscription.stripe_schedule_id == schedule_id:
        return []
    subscription.stripe_schedule_id = schedule_id
    if schedule_id is None:  # released or canceled: no change is waiting any more
        subscription.scheduled_plan_id = subscription.scheduled_change_at = None
    return ["schedule"]


def _mirror_item(
    session: AsyncSession, subscription: Subscription, stripe_item: StripeObject,
    by_stripe_id: dict[str | None, SubscriptionItem], plans: dict[str, Plan], at: datetime,
) -> tuple[SubscriptionItem, list[str]]:
    price = price_of(stripe_item)
    price_id = price.get("id")
    start, end = stripe_item.get("current_period_start"), stripe_item.get("current_period_end")
    stripe_start = from_timestamp(start) if start else subscription.current_period_start
    stripe_end = from_timestamp(end) if end else subscription.current_period_end
    row = by_stripe_id.get(stripe_item.get("id"))
    changes = []
    created = stripe_item.get("created")
    joined = from_timestamp(created) if isinstance(created, (int, float)) else at
    if row is not None and row.stripe_price_id not in (None, price_id):
        # A price swapped in place: the old price's units stay on the old row.
        end_item(row, at)
        row.stripe_subscription_item_id = None
        row, joined = None, at
        changes.append("items")
    if row is None:
        metered = (price.get("recurring") or {}).get("usage_type") == "metered"
        plan = plans.get(str(price_id))
        row = SubscriptionItem(
            subscription_id=subscription.id,
            stripe_subscription_item_id=stripe_item.get("id"),
            stripe_price_id=price_id,
            kind=SubscriptionItemKind.METERED if metered else SubscriptionItemKind.BASE,
            meter_event_name=(plan.meter_event_name if plan else None) if metered else None,
            current_period_start=min(max(stripe_start, joined), stripe_end),
            current_period_end=stripe_end,
        )
        session.add(row)
        return row, changes + ["items"]
    if row.ended_at is not None:
        return row, changes
    if row.current_period_end != stripe_end:  # a new period
        row.current_period_start, row.current_period_end = stripe_start, stripe_end
        changes.append("period")
    elif row.current_period_start < stripe_start:
        row.current_period_start = stripe_start
        changes.append("period")
    return row, changes


def _follow_plan(subscription: Subscription, live_plans: list[Plan]) -> list[str]:
    """The plan of the live items' prices (the base price's if they disagree)."""
    if not live_plans:
        return []
    distinct = {plan.id: plan for plan in live_plans}
    if len(distinct) > 1:
        logger.warning("subscription_prices_of_several_plans", extra={
            "subscription_id": str(subscription.id), "plans": sorted(distinct)})
    plan = live_plans[0] if len(distinct) == 1 else next(
        (p for p in live_plans if p.stripe_base_price_id), live_plans[0])
    if plan.id == subscription.plan_id:
        return []
    logger.info("subscription_plan_changed", extra={
        "subscription_id": str(subscription.id), "from_plan": subscription.plan_id, "to_plan": plan.id})
    subscription.plan_id = plan.id
    if subscription.scheduled_plan_id == plan.id:
        subscription.scheduled_plan_id = subscription.scheduled_change_at = None
    return ["plan"]
