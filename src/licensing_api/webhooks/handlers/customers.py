"""`customer.deleted`: the Stripe customer is gone, so is the license."""

from __future__ import annotations

from licensing_api.accounts.service import customer_by_stripe_id, note_source, revoke
from licensing_api.webhooks.handlers.context import EventContext, Handler
from licensing_api.webhooks.schemas import EventOutcome


async def customer_deleted(ctx: EventContext) -> EventOutcome:
    customer = await customer_by_stripe_id(ctx.session, str(ctx.event.object.get("id")))
    if customer is None:
        return EventOutcome.IGNORED
    await revoke(ctx.session, ctx.resources, customer, reason="customer_deleted",
                 source=ctx.event.source)
    note_source(customer, ctx.event.created_at)
    return EventOutcome.APPLIED


HANDLERS: dict[str, Handler] = {"customer.deleted": customer_deleted}
