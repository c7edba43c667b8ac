"""Ending a customer's Stripe subscriptions when the license is revoked for a refund or a
dispute, so Stripe stops invoicing an account that only gets 403. The caller audits the ids
(in the revocation's audit row)."""

from __future__ import annotations

import logging

import stripe
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from licensing_api.accounts.models import Customer
from licensing_api.accounts.stripe_sync import ENDED_STATUSES
from licensing_api.billing.errors import translate_stripe_errors
from licensing_api.billing.models import Subscription
from licensing_api.billing.stripe_client import idempotency_key
from licensing_api.resources import Resources

logger = logging.getLogger(__name__)


async def cancel_stripe_subscriptions(
    session: AsyncSession, resources: Resources, customer: Customer, *, reason: str, source: str,
) -> list[str]:
    """Cancel every live Stripe subscription of the customer; returns the ids canceled.

    Runs inside the caller's transaction, before its commit: if Stripe fails, the whole event
    is retried; a subscription Stripe already ended is skipped.
    """
    client = resources.stripe
    if client is None:
        return []
    subscriptions = list(await session.scalars(select(Subscription).where(
        Subscription.customer_id == customer.id,
        Subscription.stripe_subscription_id.is_not(None),
        Subscription.status.not_in(ENDED_STATUSES),
    )))
    canceled = []
    for subscription in subscriptions:
        stripe_id = str(subscription.stripe_subscription_id)
        params = {"cancellation_details": {"comment": f"license revoked: {reason}"}}
        with translate_stripe_errors("subscriptions.cancel"):
            try:
                await client.v1.subscriptions.cancel_async(
                    stripe_id, params,  # type: ignore[arg-type]
                    {"idempotency_key": idempotency_key("cancel", {"subscription": stripe_id, "source": source})},
                )
            except stripe.InvalidRequestError as exc:
                if exc.http_status != 404:  # 404: Stripe ended it already
                    raise
        subscription.status = "canceled"
        subscription.cancel_at = None
        canceled.append(stripe_id)
        logger.info("stripe_subscription_canceled", extra={
            "customer_id": str(customer.id), "stripe_subscription_id": stripe_id, "reason": reason})
    await session.flush()
    return canceled
