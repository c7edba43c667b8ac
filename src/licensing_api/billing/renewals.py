"""Renewals of local subscriptions (billing off): periods roll over by themselves.

With billing on, Stripe renews and `customer.subscription.updated` brings the new period.
With billing off nobody would, so a fixed plan at its cap would be refused for ever. Every
worker runs `roll_over_local_periods` with the grace check (every
GRACE_CHECK_INTERVAL_SECONDS): each local subscription whose period ended moves to the period
that contains now, counted from its `billing_anchor` as Stripe counts (a period anchored on
the 31st ends on the last day of shorter months); a plan change scheduled for that boundary
is applied first. Rows are claimed with `FOR UPDATE SKIP LOCKED`, so workers never roll the
same subscription twice; each change invalidates the customer's cached access record.
"""

from __future__ import annotations

import logging
import uuid
from datetime import datetime

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from licensing_api.access.invalidation import invalidate_after_commit
from licensing_api.billing.models import Subscription, SubscriptionItem
from licensing_api.billing.periods import period_containing
from licensing_api.db import session_scope, utcnow
from licensing_api.resources import Resources

logger = logging.getLogger(__name__)

LOCAL_LIVE_STATUSES = ("active", "past_due")


async def roll_over_local_periods(resources: Resources, now: datetime | None = None) -> list[uuid.UUID]:
    """Move every local subscription whose period ended by `now` into the current period;
    returns the customers whose subscription rolled over."""
    now = now or utcnow()
    rolled = []
    async with session_scope(resources.sessionmaker) as session:
        due = list(await session.scalars(
            select(Subscription)
            .where(Subscription.stripe_subscription_id.is_(None),
                   Subscription.status.in_(LOCAL_LIVE_STATUSES),
                   Subscription.current_period_end <= now)
            .with_for_update(skip_locked=True)
        ))
        for subscription in due:
            await roll_over(session, resources, subscription, now)
            rolled.append(subscription.customer_id)
    return rolled


async def roll_over(
    session: AsyncSession, resources: Resources, subscription: Subscription, now: datetime
) -> None:
    from licensing_api.billing.plan_change import apply_due_local_change

    ended = subscription.current_period_end
    await apply_due_local_change(session, resources, subscription, ended)
    plan = resources.catalogue.get(subscription.plan_id)
    interval = plan.interval if plan is not None else "month"
    moment = max(now, ended)
    anchor = subscription.billing_anchor or subscription.current_period_start
    if anchor > moment:  # an anchor set ahead of its period (edited by hand): count from the period
        anchor = subscription.current_period_start
    start, end = period_containing(anchor, interval, moment)
    subscription.current_period_start, subscription.current_period_end = start, end
    items = await session.scalars(select(SubscriptionItem).where(
        SubscriptionItem.subscription_id == subscription.id, SubscriptionItem.ended_at.is_(None)))
    for item in items:
        item.current_period_start, item.current_period_end = start, end
    await session.flush()
    invalidate_after_commit(session, resources.redis, resources.settings.redis_key_prefix,
                            customer_id=subscription.customer_id)
    logger.info("local_period_rolled_over", extra={
        "customer_id": str(subscription.customer_id), "subscription_id": str(subscription.id),
        "period_start": start.isoformat(), "period_end": end.isoformat()})
