"""Subscriptions and subscription items (periods live on the items, as in current APIs)."""

from __future__ import annotations

import copy

from .. import billing, prorations
from ..routing import Ctx, Router
from ..store import State, new_id, template
from ..wire import (StripeError, as_bool, as_int, check_allowed, list_object, merge_metadata,
                    not_found, require)
from .catalog import get_price
from .customers import attach_pm, get_customer

router = Router()

_CREATE = {"customer", "items", "payment_behavior", "default_payment_method", "metadata",
           "collection_method", "cancel_at_period_end", "description", "proration_behavior",
           "payment_settings", "automatic_tax", "off_session", "currency", "days_until_due",
           "billing_cycle_anchor"}
_UPDATE = {"items", "payment_behavior", "default_payment_method", "metadata",
           "cancel_at_period_end", "description", "proration_behavior", "proration_date",
           "pause_collection", "payment_settings", "collection_method", "off_session",
           "cancellation_details"}


def _plan(price: dict) -> dict:
    rec = price["recurring"] or {}
    return {"id": price["id"], "object": "plan", "active": price["active"],
            "amount": price["unit_amount"], "amount_decimal": price["unit_amount_decimal"],
            "billing_scheme": price["billing_scheme"], "created": price["created"],
            "currency": price["currency"], "interval": rec.get("interval"),
            "interval_count": rec.get("interval_count"), "livemode": False,
            "metadata": price["metadata"], "meter": rec.get("meter"),
            "nickname": price["nickname"], "product": price["product"],
            "tiers_mode": price["tiers_mode"], "transform_usage": None,
            "trial_period_days": None, "usage_type": rec.get("usage_type")}


def render_item(state: State, item: dict) -> dict:
    out = {k: copy.deepcopy(v) for k, v in item.items() if not k.startswith("_")}
    price = state.prices[item["price"]]
    out["price"] = copy.deepcopy(price)
    out["plan"] = _plan(price)
    if price["recurring"]["usage_type"] == "metered":
        out.pop("quantity", None)
    return out


def render_subscription(state: State, sub: dict) -> dict:
    out = copy.deepcopy(sub)
    items = [render_item(state, it) for it in state.items.values() if it["subscription"] == sub["id"]]
    out["items"] = {"object": "list", "data": items, "has_more": False,
                    "total_count": len(items), "url": f"/v1/subscription_items?subscription={sub['id']}"}
    return out


State.renderers["sub_"] = render_subscription
State.renderers["si_"] = render_item


def get_sub(state: State, sub_id: str, param: str = "id") -> dict:
    sub = state.subscriptions.get(sub_id)
    if sub is None:
        raise not_found("subscription", sub_id, param)
    return sub


def _new_item(ctx: Ctx, sub: dict, spec: dict, i: int, start: int, end: int) -> dict:
    price = get_price(ctx.state, require(spec, "price"), f"items[{i}][price]")
    if price["type"] != "recurring":
        raise StripeError("The price specified is set to `type=one_time` but this field only "
                          "accepts prices with `type=recurring`.", param=f"items[{i}][price]")
    if price["currency"] != sub["currency"]:
        raise StripeError("All prices on a subscription must have the same currency.",
                          param=f"items[{i}][price]")
    item = template("subscription_item")
    metered = price["recurring"]["usage_type"] == "metered"
    if metered and spec.get("quantity") not in (None, ""):
        raise StripeError("Quantity should not be specified where usage_type is `metered`. "
                          "Remove quantity from `line_items[0]`", param=f"items[{i}][quantity]")
    item.update(id=new_id("si_"), created=ctx.state.now_for_customer(sub["customer"]),
                subscription=sub["id"], price=price["id"], tax_rates=[], discounts=[],
                metadata=merge_metadata({}, spec.get("metadata")), billing_thresholds=None,
                quantity=None if metered else as_int(spec, "quantity", 1),
                current_period_start=start, current_period_end=end)
    item["_metered_from"] = item["created"]  # usage counts from when the item joined
    ctx.state.items[item["id"]] = item
    return item


def _payment_ok(ctx: Ctx, sub: dict) -> bool:
    pm_id = sub.get("default_payment_method") or ctx.state.customers[sub["customer"]][
        "invoice_settings"]["default_payment_method"]
    return bool(pm_id) and ctx.state.pm_behavior.get(pm_id) == "succeed"


@router.route("POST", "/v1/subscriptions")
def create_subscription(ctx: Ctx) -> dict:
    p, state = ctx.params, ctx.state
    check_allowed(p, _CREATE)
    cus = get_customer(state, require(p, "customer"))
    specs = p.get("items")
    if not isinstance(specs, list) or not specs:
        raise StripeError("Missing required param: items.", code="parameter_missing", param="items")
    behavior = p.get("payment_behavior", "allow_incomplete")
    prices = [get_price(state, require(s, "price"), f"items[{i}][price]") for i, s in enumerate(specs)]
    first = prices[0]
    now = state.now_for_customer(cus["id"])
    rec = first["recurring"] or {}
    end = billing.add_interval(now, rec.get("interval", "month"), rec.get("interval_count", 1), now)
    sub = template("subscription")
    sub.update(
        id=new_id("sub_1", 24), customer=cus["id"], created=now, start_date=now,
        billing_cycle_anchor=now, billing_cycle_anchor_config=None, currency=first["currency"],
        status="incomplete", metadata=merge_metadata({}, p.get("metadata")),
        description=p.get("description"), collection_method=p.get("collection_method", "charge_automatically"),
        days_until_due=int(p["days_until_due"]) if p.get("days_until_due") else None,
        cancel_at=None, canceled_at=None, ended_at=None, cancel_at_period_end=as_bool(p, "cancel_at_period_end", False),
        trial_end=None, trial_start=None, pending_update=None, pending_invoice_item_interval=None,
        next_pending_invoice_item_invoice=None, pause_collection=None, transfer_data=None,
        billing_thresholds=None, test_clock=cus["test_clock"], latest_invoice=None,
        default_payment_method=None, billing_schedules=[], managed_payments=None,
        billing_mode={"type": "classic", "flexible": None}, discounts=[], schedule=None,
        cancellation_details={"comment": None, "feedback": None, "reason": None},
    )
    if p.get("default_payment_method"):
        sub["default_payment_method"] = attach_pm(ctx, p["default_payment_method"], cus["id"])["id"]
    sends_invoice = sub["collection_method"] == "send_invoice"
    if sends_invoice and not sub["days_until_due"]:
        raise StripeError("Missing required param: days_until_due.", code="parameter_missing",
                          param="days_until_due")
    if behavior == "error_if_incomplete" and not sends_invoice and not _payment_ok(ctx, sub):
        raise billing.card_declined()
    state.subscriptions[sub["id"]] = sub
    for i, spec in enumerate(specs):
        _new_item(ctx, sub, spec, i, now, end)
    licensed_total = sum(ln["amount"] for ln in billing.licensed_lines(ctx, "", sub, now, end))
    # An emailed invoice is not paid at creation: Stripe starts such a subscription active.
    if behavior != "default_incomplete" and (sends_invoice or licensed_total == 0 or _payment_ok(ctx, sub)):
        sub["status"] = "active"  # Stripe answers with the post-payment status
    ctx.emit("customer.subscription.created", state.view(sub))
    inv = billing.create_invoice(ctx, sub, "subscription_create",
                                 [(billing.licensed_lines, now, end)], (now, now),
                                 attempt=behavior != "default_incomplete")
    if inv["status"] == "paid" and sub["status"] == "incomplete":
        billing._set_sub_status(ctx, inv, "active")
    return state.view(sub)


@router.route("GET", "/v1/subscriptions/{id}")
def retrieve_subscription(ctx: Ctx) -> dict:
    return ctx.state.view(get_sub(ctx.state, ctx.path["id"]))


@router.route("POST", "/v1/subscriptions/{id}")
def update_subscription(ctx: Ctx) -> dict:
    p, state = ctx.params, ctx.state
    check_allowed(p, _UPDATE)
    sub = get_sub(state, ctx.path["id"])
    if sub["status"] == "canceled":
        raise StripeError("A canceled subscription can only update its cancellation_details "
                          "and metadata.", param="id")
    before = state.view(sub)
    if "metadata" in p:
        sub["metadata"] = merge_metadata(sub["metadata"], p["metadata"])
    if "cancel_at_period_end" in p:
        if sub.get("schedule"):
            raise StripeError(f"The subscription is managed by the subscription schedule "
                              f"`{sub['schedule']}`, and updating any cancelation behavior "
                              "directly is not allowed. Please update the schedule instead.",
                              param="cancel_at_period_end")
        sub["cancel_at_period_end"] = as_bool(p, "cancel_at_period_end")
        first = next(iter(billing.sub_items(ctx, sub)), None)
        sub["cancel_at"] = first["current_period_end"] if sub["cancel_at_period_end"] and first else None
        sub["canceled_at"] = state.now_for_customer(sub["customer"]) if sub["cancel_at_period_end"] else None
    if "description" in p:
        sub["description"] = p["description"] or None
    if "default_payment_method" in p:
        pm = p["default_payment_method"]
        sub["default_payment_method"] = attach_pm(ctx, pm, sub["customer"])["id"] if pm else None
    if "pause_collection" in p:
        pc = p["pause_collection"]
        sub["pause_collection"] = ({"behavior": pc.get("behavior", "void"),
                                    "resumes_at": as_int(pc, "resumes_at")} if pc else None)
    if isinstance(p.get("items"), list):
        update_items(ctx, sub, p["items"], p)
    after = state.view(sub)
    previous = {k: before[k] for k in after if before.get(k) != after[k]}
    ctx.emit("customer.subscription.updated", after, previous)
    return after


def update_items(ctx: Ctx, sub: dict, specs: list, p: dict) -> None:
    """Apply ``items[]`` (change a price or quantity in place, delete, add) all or nothing,
    then prorate the licensed changes by ``proration_behavior``."""
    state = ctx.state
    behavior = p.get("proration_behavior") or "create_prorations"
    if behavior not in prorations.BEHAVIORS:
        raise StripeError(f"Invalid proration_behavior: must be one of "
                          f"{', '.join(prorations.BEHAVIORS)}", param="proration_behavior")
    first = next(iter(billing.sub_items(ctx, sub)))
    start, end = first["current_period_start"], first["current_period_end"]
    now = state.now_for_customer(sub["customer"])
    at = as_int(p, "proration_date", now)
    if at is None or not start <= at <= min(end, now):
        raise StripeError("The `proration_date` must be within the subscription's current "
                          "billing period and not in the future.", param="proration_date")
    # Validate everything first: Stripe applies an update entirely or not at all.
    kept = {it["id"]: it["price"] for it in billing.sub_items(ctx, sub)}
    plan: list[tuple[int, dict, dict | None]] = []
    for i, spec in enumerate(specs):
        item = None
        if spec.get("id"):
            item = state.items.get(spec["id"])
            if item is None or item["subscription"] != sub["id"]:
                raise not_found("subscription_item", spec["id"], f"items[{i}][id]")
            if as_bool(spec, "deleted", False):
                kept.pop(item["id"], None)
                plan.append((i, spec, item))
                continue
        price_id = spec.get("price") or (item["price"] if item else None)
        if price_id is None:
            require(spec, "price")
        price = get_price(state, price_id, f"items[{i}][price]")
        if price["currency"] != sub["currency"]:
            raise StripeError("All prices on a subscription must have the same currency.",
                              param=f"items[{i}][price]")
        if price["recurring"]["usage_type"] == "metered" and spec.get("quantity") not in (None, ""):
            raise StripeError("Quantity should not be specified where usage_type is `metered`.",
                              param=f"items[{i}][quantity]")
        kept[item["id"] if item else f"new{i}"] = price["id"]
        plan.append((i, spec, item))
    prices = list(kept.values())
    duplicate = next((x for x in prices if prices.count(x) > 1), None)
    if duplicate:
        raise StripeError(f"Cannot add multiple subscription items with the same plan: {duplicate}",
                          param="items")
    changes: list[tuple[dict | None, dict | None]] = []
    for i, spec, item in plan:
        if item is None:
            new = _new_item(ctx, sub, spec, i, start, end)
            new["_metered_from"] = at
            changes.append((None, _licensed(state, new)))
            continue
        old = _licensed(state, item)
        if as_bool(spec, "deleted", False):
            del state.items[item["id"]]
            changes.append((old, None))
            continue
        if spec.get("price") and spec["price"] != item["price"]:
            item["price"] = spec["price"]
            item["_metered_from"] = at
            if state.prices[item["price"]]["recurring"]["usage_type"] == "metered":
                item["quantity"] = None
            elif spec.get("quantity") in (None, ""):
                item["quantity"] = 1  # Stripe: a price change resets quantity to 1
        if spec.get("quantity") not in (None, ""):
            item["quantity"] = as_int(spec, "quantity")
        if "metadata" in spec:
            item["metadata"] = merge_metadata(item["metadata"], spec["metadata"])
        new = _licensed(state, item)
        if old != new:
            changes.append((old, new))
    changes = [(o, n) for o, n in changes if o is not None or n is not None]
    if behavior == "none" or not changes:
        return
    pending = prorations.proration_items(ctx, sub, changes, at, start, end)
    for ii in pending:
        state.invoice_items[ii["id"]] = ii
        ctx.emit("invoiceitem.created", ii)
    if behavior == "always_invoice" and pending:
        billing.create_invoice(ctx, sub, "subscription_update", [], (at, at))


def _licensed(state: State, item: dict) -> dict | None:
    """What proration sees of an item: its price and quantity (None for metered items)."""
    price = state.prices[item["price"]]
    if price["recurring"]["usage_type"] != "licensed":
        return None
    return {"item": item["id"], "price": price["id"], "quantity": item.get("quantity") or 1}


def end_subscription(ctx: Ctx, sub: dict, invoice_now: bool = False) -> None:
    """Cancel now: final metered invoice if asked, then ``customer.subscription.deleted``."""
    state = ctx.state
    now = state.now_for_customer(sub["customer"])
    if invoice_now:
        first = next(iter(billing.sub_items(ctx, sub)), None)
        if first:
            billing.create_invoice(ctx, sub, "subscription_cycle",
                                   [(billing.metered_lines, first["current_period_start"], now)],
                                   (first["current_period_start"], now))
    sub.update(status="canceled", canceled_at=sub["canceled_at"] or now, ended_at=now)
    ctx.emit("customer.subscription.deleted", state.view(sub))


@router.route("DELETE", "/v1/subscriptions/{id}")
def cancel_subscription(ctx: Ctx) -> dict:
    check_allowed(ctx.params, {"invoice_now", "prorate", "cancellation_details"})
    sub = get_sub(ctx.state, ctx.path["id"])
    if sub["status"] == "canceled":
        raise StripeError(f"No such subscription: '{sub['id']}'", status=404,
                          code="resource_missing", param="id")
    details = ctx.params.get("cancellation_details")
    if isinstance(details, dict):
        sub["cancellation_details"].update(comment=details.get("comment"),
                                           feedback=details.get("feedback"))
    sub["cancellation_details"]["reason"] = "cancellation_requested"
    end_subscription(ctx, sub, as_bool(ctx.params, "invoice_now", False))
    return ctx.state.view(sub)


@router.route("POST", "/v1/subscriptions/{id}/resume")
def resume_subscription(ctx: Ctx) -> dict:
    sub = get_sub(ctx.state, ctx.path["id"])
    if sub["status"] != "paused":
        raise StripeError("Only a paused subscription can be resumed.", param="id")
    previous = {"status": sub["status"]}
    sub["status"] = "active"
    ctx.emit("customer.subscription.resumed", ctx.state.view(sub))
    ctx.emit("customer.subscription.updated", ctx.state.view(sub), previous)
    return ctx.state.view(sub)


@router.route("GET", "/v1/subscriptions")
def list_subscriptions(ctx: Ctx) -> dict:
    p = ctx.params
    items = list(ctx.state.subscriptions.values())
    if p.get("customer"):
        items = [s for s in items if s["customer"] == p["customer"]]
    status = p.get("status")
    if status and status != "all":
        items = [s for s in items if s["status"] == status]
    elif not status:
        items = [s for s in items if s["status"] not in ("canceled", "incomplete_expired")]
    if p.get("price"):
        items = [s for s in items if any(it["price"] == p["price"] for it in billing.sub_items(ctx, s))]
    if p.get("test_clock"):
        items = [s for s in items if s["test_clock"] == p["test_clock"]]
    return list_object([ctx.state.view(s) for s in reversed(items)], p, "/v1/subscriptions")


@router.route("GET", "/v1/subscription_items")
def list_items(ctx: Ctx) -> dict:
    sub = get_sub(ctx.state, require(ctx.params, "subscription"), "subscription")
    items = [ctx.state.view(it) for it in billing.sub_items(ctx, sub)]
    return list_object(items, ctx.params, "/v1/subscription_items")


@router.route("GET", "/v1/subscription_items/{id}")
def retrieve_item(ctx: Ctx) -> dict:
    item = ctx.state.items.get(ctx.path["id"])
    if item is None:
        raise not_found("subscription_item", ctx.path["id"])
    return ctx.state.view(item)
