"""Invoice payments: which payment (intent) paid which invoice. In this API version charges
and payment intents name no invoice; this is how a charge is traced to its invoice."""

from __future__ import annotations

from ..routing import Ctx, Router
from ..wire import StripeError, check_allowed, list_object, not_found

router = Router()


@router.route("GET", "/v1/invoice_payments")
def list_invoice_payments(ctx: Ctx) -> dict:
    p = ctx.params
    check_allowed(p, {"invoice", "payment", "status", "limit", "starting_after", "ending_before",
                      "created", "expand"})
    items = list(ctx.state.invoice_payments.values())
    if p.get("invoice"):
        items = [i for i in items if i["invoice"] == p["invoice"]]
    payment = p.get("payment")
    if payment is not None:
        if not isinstance(payment, dict) or not payment.get("type"):
            raise StripeError("Missing required param: payment[type].", code="parameter_missing",
                              param="payment[type]")
        if payment["type"] != "payment_intent":
            raise StripeError("Invalid payment[type]: must be one of payment_intent or "
                              "payment_record", param="payment[type]")
        if payment.get("payment_intent"):
            items = [i for i in items if i["payment"].get("payment_intent") == payment["payment_intent"]]
    if p.get("status"):
        items = [i for i in items if i["status"] == p["status"]]
    return list_object([ctx.state.view(i) for i in reversed(items)], p, "/v1/invoice_payments")


@router.route("GET", "/v1/invoice_payments/{id}")
def retrieve_invoice_payment(ctx: Ctx) -> dict:
    payment = ctx.state.invoice_payments.get(ctx.path["id"])
    if payment is None:
        raise not_found("invoice_payment", ctx.path["id"])
    return ctx.state.view(payment)
