"""Stripe subscription facts shared by webhooks and reconcile: statuses, the account state a
status implies, and ordering timestamps. The rows are mirrored by
`billing/subscription_mirror.py`."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import or_, select
from sqlalchemy.ext.asyncio import AsyncSession

from licensing_api.accounts.models import AccountState, Customer
from licensing_api.billing.models import Subscription
from licensing_api.billing.subscription_mirror import StripeObject, from_timestamp, stripe_items

LIVE_STATUSES = frozenset({"active", "trialing", "past_due", "unpaid", "paused", "incomplete"})
ENDED_STATUSES = frozenset({"canceled", "incomplete_expired"})


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
    values += [item.get(name) for item in stripe_items(obj) for name in ITEM_PAST_TIMESTAMPS]
    stamps = [int(v) for v in values if isinstance(v, (int, float)) and v > 0]
    return from_timestamp(max(stamps)) if stamps else None
