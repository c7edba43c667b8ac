"""Invoiced revenue: the customers' finalized Stripe invoices, by the period they were issued in."""

from __future__ import annotations

from collections import defaultdict
from datetime import UTC, datetime

from stripe import StripeClient

from licensing_api.billing.errors import translate_stripe_errors
from licensing_api.console.periods import BilledCustomer

INVOICED_STATUSES = ("open", "paid")  # finalized and not voided: drafts can still change
INVOICES_PER_CUSTOMER = 100  # one page each: several years of monthly invoices


async def invoiced_by_period(
    stripe: StripeClient, customers: list[BilledCustomer]
) -> dict[str, dict[str, int]]:
    """{"current"|"last": {currency: amount_due}} of invoices created inside each customer's
    current or last period. Raises `StripeUnavailable` / `StripeRejected`."""
    totals: dict[str, dict[str, int]] = {"current": defaultdict(int), "last": defaultdict(int)}
    for billed in customers:
        if billed.customer.stripe_customer_id is None:
            continue
        with translate_stripe_errors("invoices.list"):
            page = await stripe.v1.invoices.list_async(params={
                "customer": billed.customer.stripe_customer_id, "limit": INVOICES_PER_CUSTOMER,
            })
        for invoice in page.data:
            if invoice.status not in INVOICED_STATUSES:
                continue
            created = datetime.fromtimestamp(invoice.created, UTC)
            for name, (start, end) in (("current", billed.current), ("last", billed.last)):
                if start <= created < end:
                    totals[name][invoice.currency] += invoice.amount_due
    return {name: dict(amounts) for name, amounts in totals.items()}
