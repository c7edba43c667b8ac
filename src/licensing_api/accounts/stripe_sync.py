"""Stripe subscription objects mirrored into local rows, shared by webhooks and reconcile.

In this API version the billing period lives on each subscription ITEM
(`items.data[].current_period_start/end`), not on the subscription.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from sqlalchemy import or_, select
from sqlalchemy.ext.asyncio import AsyncSession

from licensing_api.accounts.models import AccountState, Customer
from licensing_api.billing.models import Plan, Subscription, SubscriptionItem, SubscriptionItemKind

LIVE_STATUSES = frozenset({"active", "trialing", "past_due", "unpaid", "paused", "incomplete"})
ENDED_STATUSES = frozenset({"canceled", "incomplete_expired"})

StripeObject = dict[str, Any]


def from_timestamp(value: int | float) -> datetime:
    return datetime.fromtimestamp(int(value), UTC)


def account_state_for_status(status: str, *, include_past_due: bool = False) -> AccountState | None:
    """The account state a Stripe subscription status implies, or None (no opinion).

    `past_due` is normally left to `invoice.payment_failed`, which knows when the payment
    failed and so when the grace period ends; reconcile, which saw no event, opts in.
    """
    if status in ("active", "trialing"):
        return AccountState.ACTIVE
    if status in ("unpaid", "paused"):
        return AccountState.SUSPENDED
    if status in ENDED_STATUSES:
        return AccountState.REVOKED
    if status == "past_due" and include_past_due:
        return AccountState.PAST_DUE
    return None


async def subscription_by_stripe_id(
    session: AsyncSession, stripe_subscription_id: str
) -> Subscription | None:
    return await session.scalar(
        select(Subscription)
        .where(Subscription.stripe_subscription_id == stripe_subscription_id)
        .with_for_update()
    )


async def has_other_live_subscription(
    session: AsyncSession, customer: Customer, stripe_subscription_id: str
) -> bool:
    """Whether the customer keeps another subscription that still grants access."""
    found = await session.scalar(
        select(Subscription.id)
        .where(
            Subscription.customer_id == customer.id,
            Subscription.status.in_(LIVE_STATUSES - {"incomplete"}),
            or_(Subscription.stripe_subscription_id.is_(None),
                Subscription.stripe_subscription_id != stripe_subscription_id),
        )
        .limit(1)
    )
    return found is not None


def _items(obj: StripeObject) -> list[StripeObject]:
    items = obj.get("items") or {}
    return list(items.get("data") or []) if isinstance(items, dict) else []


def _price(item: StripeObject) -> StripeObject:
    price = item.get("price") or {}
    return price if isinstance(price, dict) else {"id": price}


# Timestamps a subscription carries that record something that already happened (never
# `cancel_at` or `billing_cycle_anchor`, which may lie ahead).
PAST_TIMESTAMPS = ("created", "start_date", "canceled_at", "ended_at", "trial_start")
ITEM_PAST_TIMESTAMPS = ("created", "current_period_start")


def newest_own_timestamp(obj: StripeObject) -> datetime | None:
    """The newest moment the subscription object itself says something happened, or None.

    Reconcile orders by this, not by when it ran: a Stripe retry of an event it missed during
    an outage is newer than the object's own timestamps and still applies.
    """
    values = [obj.get(name) for name in PAST_TIMESTAMPS]
    values += [item.get(name) for item in _items(obj) for name in ITEM_PAST_TIMESTAMPS]
    stamps = [int(v) for v in values if isinstance(v, (int, float)) and v > 0]
    return from_timestamp(max(stamps)) if stamps else None


def period_bounds(obj: StripeObject) -> tuple[datetime, datetime] | None:
    items = [i for i in _items(obj) if i.get("current_period_start") and i.get("current_period_end")]
    if not items:
        return None
    return (
        from_timestamp(min(i["current_period_start"] for i in items)),
        from_timestamp(min(i["current_period_end"] for i in items)),
    )


async def mirror_subscription(
    session: AsyncSession, subscription: Subscription, obj: StripeObject
) -> list[str]:
    """Copy status, period bounds and items from Stripe; returns the names of what changed.

    Items Stripe no longer lists are kept: the usage ledger refers to them.
    """
    plan = await session.get(Plan, subscription.plan_id)
    changed = []
    if subscription.status != obj.get("status"):
        subscription.status = str(obj.get("status"))
        changed.append("status")
    bounds = period_bounds(obj)
    if bounds and (subscription.current_period_start, subscription.current_period_end) != bounds:
        subscription.current_period_start, subscription.current_period_end = bounds
        changed.append("period")
    existing = {
        item.stripe_subscription_item_id: item
        for item in await session.scalars(
            select(SubscriptionItem).where(SubscriptionItem.subscription_id == subscription.id)
        )
    }
    for stripe_item in _items(obj):
        price = _price(stripe_item)
        item = existing.get(stripe_item.get("id"))
        if item is None:
            metered = (price.get("recurring") or {}).get("usage_type") == "metered"
            item = SubscriptionItem(
                subscription_id=subscription.id,
                stripe_subscription_item_id=stripe_item.get("id"),
                kind=SubscriptionItemKind.METERED if metered else SubscriptionItemKind.BASE,
                meter_event_name=plan.meter_event_name if metered and plan else None,
            )
            session.add(item)
            changed.append("items")
        if item.stripe_price_id != price.get("id"):
            item.stripe_price_id = price.get("id")
            changed.append("items")
        start, end = stripe_item.get("current_period_start"), stripe_item.get("current_period_end")
        if start and end:
            item_bounds = (from_timestamp(start), from_timestamp(end))
            if (item.current_period_start, item.current_period_end) != item_bounds:
                item.current_period_start, item.current_period_end = item_bounds
                changed.append("period")
        elif bounds:
            item.current_period_start, item.current_period_end = bounds
    await session.flush()
    return sorted(set(changed))
