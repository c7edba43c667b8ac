"""Which licensing subscription a Stripe charge paid, if any.

In this API version a charge names no invoice: its payment intent's invoice payments do, and
the invoice names its subscription (`parent.subscription_details.subscription`). A charge
counts for the license only when that subscription is one of the customer's subscriptions
here; a charge for anything else sold on the same Stripe account does not.
"""

from __future__ import annotations

import logging
from typing import Any

import stripe
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from licensing_api.accounts.models import Customer
from licensing_api.billing.errors import translate_stripe_errors
from licensing_api.billing.models import Subscription
from licensing_api.billing.stripe_client import field

logger = logging.getLogger(__name__)


def _id(value: Any) -> str | None:
    if isinstance(value, str):
        return value
    return field(value, "id")


async def licensing_subscription_paid_by(
    session: AsyncSession, client: stripe.StripeClient | None, customer: Customer,
    charge: dict[str, Any],
) -> Subscription | None:
    """The customer's subscription whose invoice `charge` paid, or None (not a license charge).

    Stripe failures propagate: the webhook answers 5xx and Stripe retries the event.
    """
    payment_intent = _id(charge.get("payment_intent"))
    if payment_intent is None:
        return None
    if client is None:
        logger.warning("charge_origin_unknown_billing_off", extra={"charge_id": charge.get("id")})
        return None
    with translate_stripe_errors("invoice_payments.list"):
        payments = await client.v1.invoice_payments.list_async(
            {"payment": {"type": "payment_intent", "payment_intent": payment_intent}, "limit": 10})
    for payment in payments.data:
        with translate_stripe_errors("invoices.retrieve"):
            invoice = await client.v1.invoices.retrieve_async(_id(payment.invoice) or "")
        details = field(field(invoice, "parent"), "subscription_details")
        stripe_subscription_id = _id(field(details, "subscription"))
        if stripe_subscription_id is None:
            continue
        subscription = await session.scalar(select(Subscription).where(
            Subscription.customer_id == customer.id,
            Subscription.stripe_subscription_id == stripe_subscription_id))
        if subscription is not None:
            return subscription
    return None
