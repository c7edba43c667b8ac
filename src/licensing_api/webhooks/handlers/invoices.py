"""`invoice.paid` / `invoice.payment_succeeded` and `invoice.payment_failed`."""

from __future__ import annotations

from licensing_api.accounts.service import (
    Freshness,
    customer_by_stripe_id,
    freshness,
    mark_paid,
    mark_payment_failed,
    note_source,
)
from licensing_api.accounts.stripe_sync import from_timestamp
from licensing_api.webhooks.handlers.context import EventContext, Handler, fetch_current, reference_id
from licensing_api.webhooks.schemas import EventOutcome

SETTLED_INVOICE_STATUSES = frozenset({"paid", "void"})


async def invoice_paid(ctx: EventContext) -> EventOutcome:
    """A paid invoice brings the account back to active. Payment is final for an invoice,
    so a same-second tie needs no look-up."""
    invoice, at = ctx.event.object, ctx.event.created_at
    customer = await customer_by_stripe_id(ctx.session, reference_id(invoice.get("customer")))
    if customer is None:
        return EventOutcome.IGNORED
    if freshness(customer.state_source_at, at) is Freshness.OLDER:
        return EventOutcome.STALE
    await mark_paid(ctx.session, ctx.resources, customer, reason="invoice_paid",
                    source=ctx.event.source)
    note_source(customer, at)
    return EventOutcome.APPLIED


async def invoice_payment_failed(ctx: EventContext) -> EventOutcome:
    """active → past_due; the grace period runs from the failure: the event's `created`.

    Not from the invoice's finalization: an emailed (`send_invoice`) invoice may fail to be
    paid days after it was finalized, and its grace must still be whole."""
    invoice, at = ctx.event.object, ctx.event.created_at
    customer = await customer_by_stripe_id(ctx.session, reference_id(invoice.get("customer")))
    if customer is None:
        return EventOutcome.IGNORED
    match freshness(customer.state_source_at, at):
        case Freshness.OLDER:
            return EventOutcome.STALE
        case Freshness.SAME:
            current = await fetch_current(ctx, "invoices", str(invoice.get("id")))
            if current is not None and current.get("status") in SETTLED_INVOICE_STATUSES:
                return EventOutcome.STALE
    await mark_payment_failed(ctx.session, ctx.resources, customer,
                              failed_at=from_timestamp(ctx.event.created), reason="payment_failed",
                              source=ctx.event.source)
    note_source(customer, at)
    return EventOutcome.APPLIED


HANDLERS: dict[str, Handler] = {
    "invoice.paid": invoice_paid,
    "invoice.payment_succeeded": invoice_paid,
    "invoice.payment_failed": invoice_payment_failed,
}
