"""`checkout.session.completed`: provision the customer, subscription and first key."""

from __future__ import annotations

from licensing_api.signup.service import is_signup_checkout, provision_from_checkout
from licensing_api.webhooks.handlers.context import EventContext, Handler
from licensing_api.webhooks.schemas import EventOutcome


async def checkout_completed(ctx: EventContext) -> EventOutcome:
    checkout_session = ctx.event.object
    if not is_signup_checkout(checkout_session):
        return EventOutcome.IGNORED  # a checkout of something else sold on the same account
    await provision_from_checkout(ctx.session, ctx.resources, checkout_session)
    return EventOutcome.APPLIED


HANDLERS: dict[str, Handler] = {"checkout.session.completed": checkout_completed}
