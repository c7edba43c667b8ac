"""Event handlers by family; `handler_for(type)` picks one, or None for unhandled types.

A handler runs inside the webhook's transaction, after the event id was recorded, and
returns what it did. It never commits; an exception rolls back the event record too, so
Stripe's retry finds it new.
"""

from __future__ import annotations

from licensing_api.webhooks.handlers import charges, checkout, customers, invoices, subscriptions
from licensing_api.webhooks.handlers.context import EventContext, Handler

HANDLERS: dict[str, Handler] = {
    **checkout.HANDLERS,
    **invoices.HANDLERS,
    **subscriptions.HANDLERS,
    **charges.HANDLERS,
    **customers.HANDLERS,
}


def handler_for(event_type: str) -> Handler | None:
    return HANDLERS.get(event_type)


__all__ = ["EventContext", "HANDLERS", "Handler", "handler_for"]
