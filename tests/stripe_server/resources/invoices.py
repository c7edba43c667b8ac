"""Invoices: list, retrieve, lines, pay, void."""

from __future__ import annotations

from .. import billing
from ..routing import Ctx, Router
from ..wire import StripeError, as_bool, check_allowed, list_object, not_found

router = Router()


def _invoice(ctx: Ctx, inv_id: str) -> dict:
    inv = ctx.state.invoices.get(inv_id)
    if inv is None:
        raise not_found("invoice", inv_id)
    return inv


def _sub_of(inv: dict) -> str | None:
    return (inv.get("parent") or {}).get("subscription_details", {}).get("subscription")


@router.route("GET", "/v1/invoices")
def list_invoices(ctx: Ctx) -> dict:
    p = ctx.params
    items = list(ctx.state.invoices.values())
    if p.get("customer"):
        items = [i for i in items if i["customer"] == p["customer"]]
    if p.get("subscription"):
        items = [i for i in items if _sub_of(i) == p["subscription"]]
    if p.get("status"):
        items = [i for i in items if i["status"] == p["status"]]
    return list_object([ctx.state.view(i) for i in reversed(items)], p, "/v1/invoices")


@router.route("GET", "/v1/invoices/{id}")
def retrieve_invoice(ctx: Ctx) -> dict:
    return ctx.state.view(_invoice(ctx, ctx.path["id"]))


@router.route("GET", "/v1/invoices/{id}/lines")
def list_lines(ctx: Ctx) -> dict:
    inv = _invoice(ctx, ctx.path["id"])
    return list_object(list(inv["lines"]["data"]), ctx.params, f"/v1/invoices/{inv['id']}/lines")


@router.route("POST", "/v1/invoices/{id}/pay")
def pay_invoice(ctx: Ctx) -> dict:
    p = ctx.params
    check_allowed(p, {"payment_method", "paid_out_of_band", "off_session", "forgive", "source",
                      "mandate"})
    inv = _invoice(ctx, ctx.path["id"])
    if inv["status"] == "paid":
        raise StripeError("Invoice is already paid", code="invoice_already_paid")
    if inv["status"] != "open":
        raise StripeError(f"You can only pay an open invoice. This invoice is {inv['status']}.",
                          code="invoice_not_editable" if inv["status"] == "void" else None)
    if as_bool(p, "paid_out_of_band", False):
        billing.mark_paid(ctx, inv, None)
        return ctx.state.view(inv)
    pm = p.get("payment_method")
    if pm:
        from .customers import attach_pm

        pm = attach_pm(ctx, pm, inv["customer"])["id"]
    if not billing.attempt_payment(ctx, inv, pm):
        raise billing.card_declined()
    return ctx.state.view(inv)


@router.route("POST", "/v1/invoices/{id}/void")
def void_invoice(ctx: Ctx) -> dict:
    inv = _invoice(ctx, ctx.path["id"])
    if inv["status"] != "open":
        raise StripeError("You can only void an open invoice.", code="invoice_not_editable")
    previous = {"status": inv["status"]}
    inv["status"] = "void"
    inv["status_transitions"]["voided_at"] = ctx.state.now_for_customer(inv["customer"])
    ctx.emit("invoice.voided", inv, previous)
    return ctx.state.view(inv)
