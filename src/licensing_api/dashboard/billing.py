"""The dashboard's Stripe reads and links: recent invoices and the billing portal."""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import UTC, datetime

from stripe import StripeClient

from licensing_api.billing.errors import BillingDisabled, translate_stripe_errors
from licensing_api.errors import Conflict

logger = logging.getLogger(__name__)

RECENT_INVOICES = 6


class NoStripeCustomer(Conflict):
    slug, title = "no-stripe-customer", "No payment account yet"


@dataclass(frozen=True, slots=True)
class InvoiceRow:
    id: str
    number: str | None
    status: str | None
    created: datetime
    period_start: datetime | None
    period_end: datetime | None
    amount_due: int  # minor units
    currency: str
    hosted_url: str | None


async def recent_invoices(stripe: StripeClient | None, stripe_customer_id: str | None) -> list[InvoiceRow]:
    """The customer's latest invoices, newest first; empty with billing off or no Stripe customer.

    Raises `StripeUnavailable` / `StripeRejected` when Stripe cannot answer.
    """
    if stripe is None or stripe_customer_id is None:
        return []
    with translate_stripe_errors("invoices.list"):
        page = await stripe.v1.invoices.list_async(
            params={"customer": stripe_customer_id, "limit": RECENT_INVOICES}
        )
    return [
        InvoiceRow(
            id=invoice.id,
            number=invoice.number,
            status=invoice.status,
            created=_time(invoice.created),
            period_start=_time(invoice.period_start),
            period_end=_time(invoice.period_end),
            amount_due=invoice.amount_due,
            currency=invoice.currency,
            hosted_url=invoice.hosted_invoice_url,
        )
        for invoice in page.data
    ]


async def billing_portal_url(
    stripe: StripeClient | None, stripe_customer_id: str | None, return_url: str
) -> str:
    """A one-time Stripe billing portal link where the customer updates the payment method."""
    if stripe is None:
        raise BillingDisabled("billing is off on this service: there is no payment method to manage")
    if stripe_customer_id is None:
        raise NoStripeCustomer("this account has no Stripe customer yet")
    with translate_stripe_errors("billing_portal.sessions.create"):
        portal = await stripe.v1.billing_portal.sessions.create_async(
            params={"customer": stripe_customer_id, "return_url": return_url}
        )
    logger.info("billing_portal_opened", extra={"stripe_customer_id": stripe_customer_id})
    return portal.url


def _time(epoch: int | None) -> datetime | None:
    return None if epoch is None else datetime.fromtimestamp(epoch, UTC)
