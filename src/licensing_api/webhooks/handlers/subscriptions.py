"""`customer.subscription.created/updated/deleted/paused/resumed`: mirror, then account state.

The mirror follows plan changes made anywhere (items and prices, `billing/subscription_mirror.py`)
and renewals; either drops the customer's cached access record in every worker at once, so
units served after the change count on the new item and in the new period.

The subscription row keeps `stripe_event_at`, the customer `state_source_at`; an event older
than either leaves that part alone, a same-second tie is settled by the subscription as
Stripe holds it now.
"""

from __future__ import annotations

from sqlalchemy import select

from licensing_api.access.invalidation import invalidate_after_commit
from licensing_api.accounts.models import AccountState, Customer
from licensing_api.accounts.service import (
    Freshness,
    customer_by_stripe_id,
    freshness,
    mark_paid,
    note_source,
    revoke,
    suspend,
)
from licensing_api.accounts.stripe_sync import (
    StripeObject,
    account_state_for_status,
    has_other_live_subscription,
    subscription_by_stripe_id,
)
from licensing_api.billing.models import SubscriptionItem
from licensing_api.billing.stripe_plan_change import retire_ended_items
from licensing_api.billing.subscription_mirror import mirror_subscription
from licensing_api.webhooks.handlers.context import EventContext, Handler, fetch_current, reference_id
from licensing_api.webhooks.schemas import EventOutcome


async def subscription_changed(ctx: EventContext) -> EventOutcome:
    obj, at, event_type = ctx.event.object, ctx.event.created_at, ctx.event.type
    subscription_id = str(obj.get("id"))
    customer = await customer_by_stripe_id(ctx.session, reference_id(obj.get("customer")))
    if customer is None:
        return EventOutcome.IGNORED
    subscription = await subscription_by_stripe_id(ctx.session, subscription_id)
    deleted = event_type == "customer.subscription.deleted"
    row_freshness = freshness(subscription.stripe_event_at, at) if subscription else Freshness.NEWER
    account_freshness = freshness(customer.state_source_at, at)
    if subscription is None and not deleted:
        return EventOutcome.IGNORED  # not provisioned yet: checkout.session.completed will
    if row_freshness is Freshness.OLDER and not deleted:
        return EventOutcome.STALE
    if Freshness.SAME in (row_freshness, account_freshness) and not deleted:
        obj = await fetch_current(ctx, "subscriptions", subscription_id) or obj
    if subscription is not None:
        changes = await mirror_subscription(ctx.session, subscription, obj)
        if subscription.stripe_event_at is None or at > subscription.stripe_event_at:
            subscription.stripe_event_at = at
        if changes:  # a renewal, a plan change, …: every worker re-reads the record at once
            invalidate_after_commit(ctx.session, ctx.resources.redis,
                                    ctx.resources.settings.redis_key_prefix, customer_id=customer.id)
        if ctx.resources.stripe is not None and not deleted:
            items = list(await ctx.session.scalars(select(SubscriptionItem).where(
                SubscriptionItem.subscription_id == subscription.id)))
            await retire_ended_items(ctx.resources.stripe, subscription, items, obj)
    await apply_account_state(ctx, customer, obj, account_freshness, subscription_id)
    return EventOutcome.APPLIED


async def apply_account_state(
    ctx: EventContext, customer: Customer, obj: StripeObject, account_freshness: Freshness,
    subscription_id: str,
) -> None:
    status = "canceled" if ctx.event.type == "customer.subscription.deleted" else str(obj.get("status"))
    target = account_state_for_status(status)
    source, at = ctx.event.source, ctx.event.created_at
    if target is AccountState.REVOKED:  # final, so order does not matter
        if not await has_other_live_subscription(ctx.session, customer, subscription_id):
            await revoke(ctx.session, ctx.resources, customer, reason=f"subscription_{status}",
                         source=source)
        note_source(customer, at)
        return
    if target is None or account_freshness is Freshness.OLDER:
        return
    previous = ctx.event.data.previous_attributes or {}
    status_changed = "status" in previous or ctx.event.type in (
        "customer.subscription.paused", "customer.subscription.resumed")
    if target is AccountState.ACTIVE and status_changed:
        # Only a status change reactivates: a routine update of an active subscription must
        # not lift a suspension for a refund or dispute.
        await mark_paid(ctx.session, ctx.resources, customer, reason=f"subscription_{status}",
                        source=source)
    elif target is AccountState.SUSPENDED:
        await suspend(ctx.session, ctx.resources, customer, reason=f"subscription_{status}",
                      source=source)
    note_source(customer, at)


HANDLERS: dict[str, Handler] = {
    f"customer.subscription.{action}": subscription_changed
    for action in ("created", "updated", "deleted", "paused", "resumed")
}
