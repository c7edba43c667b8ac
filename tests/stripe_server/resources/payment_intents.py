"""Payment intents created directly (a one-off payment, nothing to do with an invoice).

``confirm=true`` charges the payment method at once (test tokens decide the outcome, as on
invoices); otherwise the intent waits in ``requires_confirmation`` for
``POST /v1/payment_intents/{id}/confirm``.
"""

from __future__ import annotations

from .. import billing
from ..routing import Ctx, Router
from ..wire import StripeError, as_bool, as_int, check_allowed, merge_metadata, not_found, require
from .customers import attach_pm, get_customer, materialize_pm
from .payments import create_charge, new_intent

router = Router()

_CREATE = {"amount", "currency", "customer", "payment_method", "confirm", "off_session",
           "description", "metadata", "payment_method_types", "automatic_payment_methods",
           "receipt_email", "statement_descriptor"}


def _confirm(ctx: Ctx, pi: dict) -> dict:
    pm = materialize_pm(ctx.state, pi["payment_method"]) if pi["payment_method"] else None
    if pm is None:
        raise StripeError("You cannot confirm this PaymentIntent because it's missing a payment "
                          "method.", code="payment_intent_unexpected_state", param="payment_method")
    ok = ctx.state.pm_behavior.get(pm["id"]) == "succeed"
    create_charge(ctx, pi["customer"], pi["amount"], pi["currency"], pm, ok, pi["description"],
                  metadata=pi["metadata"], intent=pi)
    return pi


@router.route("POST", "/v1/payment_intents")
def create_payment_intent(ctx: Ctx) -> dict:
    p, state = ctx.params, ctx.state
    check_allowed(p, _CREATE)
    amount = as_int(p, "amount")
    if amount is None:
        require(p, "amount")
    if amount is None or amount < 1:
        raise StripeError("This value must be greater than or equal to 1.", param="amount")
    currency = str(require(p, "currency")).lower()
    customer_id = p.get("customer")
    if customer_id:
        get_customer(state, customer_id)
    pm_id = p.get("payment_method")
    if pm_id and customer_id:
        pm_id = attach_pm(ctx, pm_id, customer_id)["id"]
    pi = new_intent(ctx, customer_id, amount, currency, pm_id, p.get("description"),
                    merge_metadata({}, p.get("metadata")))
    ctx.emit("payment_intent.created", pi)
    if as_bool(p, "confirm", False):
        _confirm(ctx, pi)
        if pi["status"] != "succeeded":
            raise billing.card_declined()
    return state.view(pi)


@router.route("POST", "/v1/payment_intents/{id}/confirm")
def confirm_payment_intent(ctx: Ctx) -> dict:
    check_allowed(ctx.params, {"payment_method", "off_session"})
    pi = ctx.state.payment_intents.get(ctx.path["id"])
    if pi is None:
        raise not_found("payment_intent", ctx.path["id"])
    if pi["status"] == "succeeded":
        raise StripeError("This PaymentIntent has already succeeded.",
                          code="payment_intent_unexpected_state")
    if ctx.params.get("payment_method"):
        pm = ctx.params["payment_method"]
        pi["payment_method"] = attach_pm(ctx, pm, pi["customer"])["id"] if pi["customer"] else pm
    _confirm(ctx, pi)
    return ctx.state.view(pi)
