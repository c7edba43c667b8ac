"""Repair local state from Stripe after missed webhooks: `licensing-api reconcile`.

Each local subscription with a Stripe id is compared with the subscription Stripe holds now
(pulled in pages, or fetched one by one when the listing lacks it; a 404 means deleted),
mirrored, and the account state it implies is applied, each in its own transaction. The
ordering marks move only to the newest timestamp the Stripe object itself carries (never to
the time reconcile ran): Stripe's retries of the events missed during an outage, the reason
to reconcile, are newer than that and still apply.
"""

from __future__ import annotations

import logging
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import stripe
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from licensing_api.accounts.models import AccountState, Customer
from licensing_api.accounts.service import mark_paid, mark_payment_failed, note_source, revoke, suspend
from licensing_api.accounts.stripe_sync import (
    ENDED_STATUSES,
    StripeObject,
    account_state_for_status,
    has_other_live_subscription,
    newest_own_timestamp,
    subscription_by_stripe_id,
)
from licensing_api.billing.errors import translate_stripe_errors
from licensing_api.billing.models import Subscription
from licensing_api.billing.stripe_client import require_stripe
from licensing_api.billing.subscription_mirror import mirror_subscription
from licensing_api.db import session_scope, utcnow
from licensing_api.resources import Resources

logger = logging.getLogger(__name__)

SOURCE = "reconcile"
LIST_PAGE_SIZE = 100


@dataclass(frozen=True, slots=True)
class ReconcileChange:
    customer_id: uuid.UUID
    stripe_subscription_id: str
    change: str  # e.g. "status active → canceled", "account active → revoked", "period"


@dataclass(slots=True)
class ReconcileReport:
    checked: int = 0
    changes: list[ReconcileChange] = field(default_factory=list)
    missing_in_stripe: list[str] = field(default_factory=list)


Progress = Callable[[str, list[ReconcileChange]], None]


async def reconcile(resources: Resources, progress: Progress | None = None) -> ReconcileReport:
    """Compare every local Stripe-backed subscription with Stripe and repair what differs."""
    client = require_stripe(resources.stripe)
    async with session_scope(resources.sessionmaker) as session:
        local_ids = list(await session.scalars(
            select(Subscription.stripe_subscription_id)
            .where(Subscription.stripe_subscription_id.is_not(None),
                   Subscription.status.not_in(ENDED_STATUSES))
            .order_by(Subscription.created_at)
        ))
    remote = await pull_subscriptions(client, set(str(i) for i in local_ids))
    report = ReconcileReport()
    for stripe_subscription_id in map(str, local_ids):
        obj = remote.get(stripe_subscription_id)
        if obj is None:
            obj = await retrieve_or_deleted(client, stripe_subscription_id)
            if obj.get("status") == "canceled" and obj.get("deleted"):
                report.missing_in_stripe.append(stripe_subscription_id)
        async with session_scope(resources.sessionmaker) as session:
            changes = await repair(session, resources, stripe_subscription_id, obj)
        report.checked += 1
        report.changes += changes
        if progress is not None:
            progress(stripe_subscription_id, changes)
    logger.info("reconcile_finished", extra={
        "checked": report.checked, "changes": len(report.changes),
        "missing_in_stripe": len(report.missing_in_stripe)})
    return report


async def pull_subscriptions(client: stripe.StripeClient, wanted: set[str]) -> dict[str, StripeObject]:
    """Stripe's subscriptions (every status) that we know locally, by id."""
    found: dict[str, StripeObject] = {}
    if not wanted:
        return found
    with translate_stripe_errors("subscriptions.list"):
        page = await client.v1.subscriptions.list_async({"status": "all", "limit": LIST_PAGE_SIZE})
        async for subscription in page.auto_paging_iter():
            if subscription.id in wanted:
                found[subscription.id] = subscription.to_dict()
    return found


async def retrieve_or_deleted(client: stripe.StripeClient, stripe_subscription_id: str) -> StripeObject:
    with translate_stripe_errors("subscriptions.retrieve"):
        try:
            return (await client.v1.subscriptions.retrieve_async(stripe_subscription_id)).to_dict()
        except stripe.InvalidRequestError as exc:
            if exc.http_status != 404:
                raise
    return {"id": stripe_subscription_id, "status": "canceled", "deleted": True}


async def repair(
    session: AsyncSession, resources: Resources, stripe_subscription_id: str, obj: StripeObject
) -> list[ReconcileChange]:
    # Lock the customer before the subscription, in the same order as the webhook handlers.
    customer = await session.scalar(
        select(Customer)
        .join(Subscription, Subscription.customer_id == Customer.id)
        .where(Subscription.stripe_subscription_id == stripe_subscription_id)
        .with_for_update(of=Customer)
    )
    subscription = await subscription_by_stripe_id(session, stripe_subscription_id)
    if customer is None or subscription is None:  # removed meanwhile
        return []
    status_before, state_before = subscription.status, customer.state
    mirrored = await mirror_subscription(session, subscription, obj) if obj.get("items") else []
    if obj.get("deleted"):
        subscription.status = str(obj["status"])
    seen_at = newest_own_timestamp(obj)
    if seen_at is not None:
        seen_at = min(seen_at, utcnow())  # a test clock may stand in the future
        subscription.stripe_event_at = max(filter(None, [subscription.stripe_event_at, seen_at]))
    await apply_account_state(session, resources, customer, str(obj.get("status")),
                              stripe_subscription_id)
    if seen_at is not None:
        note_source(customer, seen_at)

    def change(text: str) -> ReconcileChange:
        return ReconcileChange(customer.id, stripe_subscription_id, text)

    changes = [change(name) for name in mirrored if name != "status"]
    if subscription.status != status_before:
        changes.insert(0, change(f"status {status_before} → {subscription.status}"))
    if customer.state != state_before:
        changes.append(change(f"account {state_before} → {customer.state}"))
    return changes


async def apply_account_state(
    session: AsyncSession, resources: Resources, customer: Customer, status: str,
    stripe_subscription_id: str,
) -> None:
    target = account_state_for_status(status, include_past_due=True)
    reason = f"reconcile: subscription {status}"
    kwargs: dict[str, Any] = {"reason": reason, "source": SOURCE}
    if target is AccountState.REVOKED:
        if not await has_other_live_subscription(session, customer, stripe_subscription_id):
            await revoke(session, resources, customer, **kwargs)
    elif target is AccountState.SUSPENDED:
        await suspend(session, resources, customer, **kwargs)
    elif target is AccountState.PAST_DUE:
        # The failure's time is unknown: the grace period starts now.
        await mark_payment_failed(session, resources, customer, failed_at=utcnow(), **kwargs)
    elif target is AccountState.ACTIVE:
        # mark_paid keeps a suspension for a refund or dispute (REFUND_/DISPUTE_ACTION=suspend).
        await mark_paid(session, resources, customer, **kwargs)
