"""Checkout Sessions (subscription mode) and billing portal sessions."""

from __future__ import annotations

from ..routing import Ctx, Router
from ..store import new_id, template
from ..wire import StripeError, as_int, check_allowed, list_object, merge_metadata, not_found, require
from .catalog import get_price

router = Router()

_CREATE = {"mode", "line_items", "customer", "customer_email", "success_url", "cancel_url",
           "client_reference_id", "metadata", "subscription_data", "payment_method_types",
           "allow_promotion_codes", "billing_address_collection", "expires_at", "locale",
           "ui_mode", "customer_creation", "payment_method_collection", "automatic_tax",
           "consent_collection", "tax_id_collection", "saved_payment_method_options"}


def _session(ctx: Ctx, cs_id: str, param: str = "session") -> dict:
    cs = ctx.state.checkout_sessions.get(cs_id)
    if cs is None:
        raise not_found("checkout.session", cs_id, param)
    return cs


@router.route("POST", "/v1/checkout/sessions")
def create_session(ctx: Ctx) -> dict:
    p, state = ctx.params, ctx.state
    check_allowed(p, _CREATE)
    mode = require(p, "mode")
    if mode != "subscription":
        raise StripeError("Only mode=subscription is supported by this test server.", param="mode")
    if p.get("customer") and p.get("customer_email"):
        raise StripeError("You may only specify one of these parameters: customer, customer_email.",
                          param="customer_email")
    if p.get("customer") and p["customer"] not in state.customers:
        raise not_found("customer", p["customer"], "customer")
    lines = p.get("line_items")
    if not isinstance(lines, list) or not lines:
        raise StripeError("Missing required param: line_items.", code="parameter_missing",
                          param="line_items")
    currency = None
    for i, li in enumerate(lines):
        price = get_price(state, require(li, "price"), f"line_items[{i}][price]")
        metered = (price["recurring"] or {}).get("usage_type") == "metered"
        if not metered and li.get("quantity") in (None, ""):
            raise StripeError("Quantity is required. Add `quantity` to `line_items[%d]`" % i,
                              param=f"line_items[{i}][quantity]")
        currency = currency or price["currency"]
    if not p.get("success_url") and p.get("ui_mode") not in ("embedded", "custom"):
        raise StripeError("Missing required param: success_url.", code="parameter_missing",
                          param="success_url")
    now = state.now()
    cs = template("checkout.session")
    cs_id = new_id("cs_test_a1", 56)
    cs.update(id=cs_id, created=now, expires_at=as_int(p, "expires_at", now + 24 * 3600),
              mode="subscription", status="open", payment_status="unpaid", currency=currency,
              customer=p.get("customer"), customer_email=p.get("customer_email"),
              customer_details=None, client_reference_id=p.get("client_reference_id"),
              metadata=merge_metadata({}, p.get("metadata")), success_url=p.get("success_url"),
              cancel_url=p.get("cancel_url"), payment_intent=None, subscription=None,
              invoice=None, url=f"{ctx.base_url}/checkout/{cs_id}", shipping_cost=None,
              total_details={"amount_discount": 0, "amount_shipping": 0, "amount_tax": 0},
              amount_subtotal=None, amount_total=None, after_expiration=None,
              shipping_address_collection=None, custom_text=None, collected_information=None,
              currency_conversion=None, payment_method_configuration_details=None,
              customer_creation="always" if not p.get("customer") else None,
              managed_payments=None, adaptive_pricing=None)
    state.checkout_sessions[cs_id] = cs
    state.checkout_lines[cs_id] = lines
    state.checkout_sub_data[cs_id] = p.get("subscription_data") or {}
    return state.view(cs)


@router.route("GET", "/v1/checkout/sessions/{id}")
def retrieve_session(ctx: Ctx) -> dict:
    return ctx.state.view(_session(ctx, ctx.path["id"], "id"))


@router.route("GET", "/v1/checkout/sessions")
def list_sessions(ctx: Ctx) -> dict:
    items = list(ctx.state.checkout_sessions.values())
    for key in ("customer", "subscription", "status"):
        if ctx.params.get(key):
            items = [s for s in items if s[key] == ctx.params[key]]
    return list_object([ctx.state.view(s) for s in reversed(items)], ctx.params,
                       "/v1/checkout/sessions")


@router.route("POST", "/v1/checkout/sessions/{id}/expire")
def expire_session(ctx: Ctx) -> dict:
    cs = _session(ctx, ctx.path["id"], "id")
    if cs["status"] != "open":
        raise StripeError(f"Only Checkout Sessions with a status in [\"open\"] can be expired.")
    cs["status"] = "expired"
    ctx.emit("checkout.session.expired", cs)
    return ctx.state.view(cs)


def complete_session(ctx: Ctx, cs_id: str, payment_method: str) -> dict:
    """What a buyer paying on the hosted page causes: customer, subscription, events."""
    from .customers import create_customer
    from .subscriptions import create_subscription

    state = ctx.state
    cs = _session(ctx, cs_id)
    if cs["status"] != "open":
        raise StripeError(f"Checkout Session {cs_id} is {cs['status']}.")
    from .customers import materialize_pm

    payment_method = materialize_pm(state, payment_method)["id"]
    if state.pm_behavior.get(payment_method) != "succeed":
        raise StripeError("Your card was declined.", status=402, type="card_error",
                          code="card_declined")
    customer_id = cs["customer"]
    if customer_id is None:
        cus = create_customer(_sub_ctx(ctx, {"email": cs["customer_email"]}))
        customer_id = cus["id"]
    sub_data = state.checkout_sub_data.get(cs_id, {})
    items = [{k: v for k, v in li.items() if k in ("price", "quantity")}
             for li in state.checkout_lines[cs_id]]
    sub = create_subscription(_sub_ctx(ctx, {
        "customer": customer_id, "items": items, "default_payment_method": payment_method,
        "metadata": sub_data.get("metadata") or {}, "payment_behavior": "error_if_incomplete"}))
    inv = state.invoices[sub["latest_invoice"]]
    cus = state.customers[customer_id]
    cs.update(status="complete", payment_status="paid", customer=customer_id,
              subscription=sub["id"], invoice=inv["id"], amount_subtotal=inv["subtotal"],
              amount_total=inv["total"],
              customer_details={"email": cus["email"], "name": cus["name"], "phone": None,
                                "address": None, "tax_exempt": "none", "tax_ids": [],
                                "business_name": None, "individual_name": None})
    ctx.emit("checkout.session.completed", cs)
    redirect = (cs["success_url"] or "").replace("{CHECKOUT_SESSION_ID}", cs_id)
    return {"session": state.view(cs), "redirect_url": redirect}


def _sub_ctx(ctx: Ctx, params: dict) -> Ctx:
    from ..routing import Ctx as _Ctx

    return _Ctx(ctx.server, params, {}, ctx.base_url, ctx.request, ctx.api_key)


@router.route("POST", "/v1/billing_portal/sessions")
def create_portal_session(ctx: Ctx) -> dict:
    p = ctx.params
    check_allowed(p, {"customer", "return_url", "configuration", "flow_data", "locale",
                      "on_behalf_of"})
    cus_id = require(p, "customer")
    if cus_id not in ctx.state.customers:
        raise not_found("customer", cus_id, "customer")
    ps = template("billing_portal.session")
    ps_id = new_id("bps_1", 24)
    ps.update(id=ps_id, created=ctx.state.now(), customer=cus_id, livemode=False, flow=None,
              return_url=p.get("return_url"), configuration=new_id("bpc_1", 24),
              locale=p.get("locale"), url=f"{ctx.base_url}/billing_portal/{ps_id}")
    ctx.state.portal_sessions[ps_id] = ps
    return ctx.state.view(ps)
