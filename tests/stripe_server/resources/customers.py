"""Customers and payment methods (test tokens such as ``pm_card_visa``)."""

from __future__ import annotations

from ..routing import Ctx, Router
from ..store import State, new_id, template
from ..wire import StripeError, check_allowed, list_object, merge_metadata, not_found, require

router = Router()

# Test payment-method tokens: behaviour when charged (Stripe's testing docs names).
TOKENS = {
    "pm_card_visa": ("visa", "4242", "succeed"),
    "pm_card_mastercard": ("mastercard", "4444", "succeed"),
    "pm_card_amex": ("amex", "8431", "succeed"),
    "pm_card_chargeCustomerFail": ("visa", "0341", "fail"),
    "pm_card_visa_chargeDeclined": ("visa", "0002", "decline_on_attach"),
}

_CUSTOMER_PARAMS = {
    "email", "name", "description", "metadata", "phone", "address", "shipping",
    "test_clock", "invoice_settings", "payment_method", "preferred_locales", "invoice_prefix",
    "tax_exempt", "balance",
}


def get_customer(state: State, customer_id: str, param: str = "customer") -> dict:
    cus = state.customers.get(customer_id)
    if cus is None:
        raise not_found("customer", customer_id, param)
    return cus


def materialize_pm(state: State, pm_id: str, param: str = "payment_method") -> dict:
    """Return the stored payment method, creating one from a test token."""
    if pm_id in state.payment_methods:
        return state.payment_methods[pm_id]
    if pm_id not in TOKENS:
        raise not_found("PaymentMethod", pm_id, param)
    brand, last4, behavior = TOKENS[pm_id]
    pm = template("payment_method")
    pm.update(id=new_id("pm_1", 24), created=state.now(), customer=None, metadata={})
    pm["card"].update(brand=brand, display_brand=brand, last4=last4)
    pm["card"]["networks"]["available"] = [brand]
    state.payment_methods[pm["id"]] = pm
    state.pm_behavior[pm["id"]] = behavior
    return pm


def attach_pm(ctx: Ctx, pm_id: str, customer_id: str) -> dict:
    cus = get_customer(ctx.state, customer_id)
    pm = materialize_pm(ctx.state, pm_id)
    if ctx.state.pm_behavior.get(pm["id"]) == "decline_on_attach":
        raise StripeError("Your card was declined.", status=402, type="card_error",
                          code="card_declined", extra={"decline_code": "generic_decline"})
    if pm["customer"] not in (None, cus["id"]):
        raise StripeError("The payment method you provided has already been attached to a "
                          "customer.", param="payment_method")
    if pm["customer"] is None:
        pm["customer"] = cus["id"]
        ctx.emit("payment_method.attached", pm)
    return pm


def _apply(ctx: Ctx, cus: dict, params: dict) -> dict:
    previous: dict = {}
    for key in ("email", "name", "description", "phone", "preferred_locales", "tax_exempt"):
        if key in params:
            previous[key] = cus.get(key)
            cus[key] = params[key] or None
    if "metadata" in params:
        previous["metadata"] = cus["metadata"]
        cus["metadata"] = merge_metadata(cus["metadata"], params["metadata"])
    if params.get("payment_method"):
        pm = attach_pm(ctx, params["payment_method"], cus["id"])
        params = dict(params)
    settings = params.get("invoice_settings")
    if isinstance(settings, dict) and "default_payment_method" in settings:
        pm_id = settings["default_payment_method"]
        previous["invoice_settings"] = dict(cus["invoice_settings"])
        if pm_id:
            pm = attach_pm(ctx, pm_id, cus["id"])
            cus["invoice_settings"]["default_payment_method"] = pm["id"]
        else:
            cus["invoice_settings"]["default_payment_method"] = None
    return previous


@router.route("POST", "/v1/customers")
def create_customer(ctx: Ctx) -> dict:
    p = ctx.params
    check_allowed(p, _CUSTOMER_PARAMS)
    state = ctx.state
    cus = template("customer")
    cus.update(id=new_id("cus_"), created=state.now(), discount=None, currency=None,
               shipping=None, invoice_prefix=new_id("", 8).upper(), metadata={},
               email=None, test_clock=None)
    if p.get("test_clock"):
        clock = state.clocks.get(p["test_clock"])
        if clock is None:
            raise not_found("test_clock", p["test_clock"], "test_clock")
        cus["test_clock"] = clock["id"]
        cus["created"] = clock["frozen_time"]
    state.customers[cus["id"]] = cus
    _apply(ctx, cus, p)
    ctx.emit("customer.created", cus)
    return state.view(cus)


@router.route("GET", "/v1/customers/{id}")
def retrieve_customer(ctx: Ctx) -> dict:
    cus_id = ctx.path["id"]
    cus = ctx.state.customers.get(cus_id)
    if cus is None:
        if cus_id in ctx.state.deleted_customers:
            return {"id": cus_id, "object": "customer", "deleted": True}
        raise not_found("customer", cus_id)
    return ctx.state.view(cus)


@router.route("POST", "/v1/customers/{id}")
def update_customer(ctx: Ctx) -> dict:
    check_allowed(ctx.params, _CUSTOMER_PARAMS - {"test_clock"})
    cus = get_customer(ctx.state, ctx.path["id"], "id")
    previous = _apply(ctx, cus, ctx.params)
    ctx.emit("customer.updated", cus, previous)
    return ctx.state.view(cus)


@router.route("DELETE", "/v1/customers/{id}")
def delete_customer(ctx: Ctx) -> dict:
    from .subscriptions import end_subscription

    cus = get_customer(ctx.state, ctx.path["id"], "id")
    for sub in list(ctx.state.subscriptions.values()):
        if sub["customer"] == cus["id"] and sub["status"] not in ("canceled", "incomplete_expired"):
            end_subscription(ctx, sub)
    del ctx.state.customers[cus["id"]]
    ctx.state.deleted_customers.add(cus["id"])
    ctx.emit("customer.deleted", cus)
    return {"id": cus["id"], "object": "customer", "deleted": True}


@router.route("GET", "/v1/customers")
def list_customers(ctx: Ctx) -> dict:
    items = list(ctx.state.customers.values())
    if ctx.params.get("email"):
        items = [c for c in items if c["email"] == ctx.params["email"]]
    if ctx.params.get("test_clock"):
        items = [c for c in items if c["test_clock"] == ctx.params["test_clock"]]
    items = [ctx.state.view(c) for c in reversed(items)]
    return list_object(items, ctx.params, "/v1/customers")


@router.route("POST", "/v1/payment_methods/{id}/attach")
def attach_payment_method(ctx: Ctx) -> dict:
    check_allowed(ctx.params, {"customer"})
    pm = attach_pm(ctx, ctx.path["id"], require(ctx.params, "customer"))
    return ctx.state.view(pm)


@router.route("POST", "/v1/payment_methods/{id}/detach")
def detach_payment_method(ctx: Ctx) -> dict:
    pm = ctx.state.payment_methods.get(ctx.path["id"])
    if pm is None:
        raise not_found("PaymentMethod", ctx.path["id"])
    previous = {"customer": pm["customer"]}
    pm["customer"] = None
    ctx.emit("payment_method.detached", pm, previous)
    return ctx.state.view(pm)


@router.route("GET", "/v1/payment_methods/{id}")
def retrieve_payment_method(ctx: Ctx) -> dict:
    pm_id = ctx.path["id"]
    pm = ctx.state.payment_methods.get(pm_id) or (
        materialize_pm(ctx.state, pm_id, "id") if pm_id in TOKENS else None)
    if pm is None:
        raise not_found("PaymentMethod", pm_id)
    return ctx.state.view(pm)


@router.route("GET", "/v1/customers/{id}/payment_methods")
def list_customer_payment_methods(ctx: Ctx) -> dict:
    cus = get_customer(ctx.state, ctx.path["id"], "customer")
    items = [ctx.state.view(p) for p in reversed(ctx.state.payment_methods.values())
             if p["customer"] == cus["id"]]
    return list_object(items, ctx.params, f"/v1/customers/{cus['id']}/payment_methods")
