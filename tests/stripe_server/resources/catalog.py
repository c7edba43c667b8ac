"""Products and prices (per-unit, metered, tiered graduated/volume; lookup keys)."""

from __future__ import annotations

import copy
from decimal import Decimal, InvalidOperation

from ..routing import Ctx, Router
from ..store import State, new_id, template
from ..wire import (StripeError, as_bool, as_int, check_allowed, expand_list, list_object,
                    merge_metadata, not_found, require)

router = Router()

_PRODUCT_PARAMS = {"name", "description", "metadata", "active", "id", "unit_label",
                   "statement_descriptor", "tax_code", "url", "images", "default_price_data"}
_PRICE_CREATE = {"currency", "product", "product_data", "unit_amount", "unit_amount_decimal",
                 "recurring", "billing_scheme", "tiers", "tiers_mode", "lookup_key",
                 "transfer_lookup_key", "metadata", "nickname", "active", "tax_behavior",
                 "transform_quantity", "currency_options", "custom_unit_amount"}
_PRICE_UPDATE = {"metadata", "active", "lookup_key", "transfer_lookup_key", "nickname",
                 "tax_behavior", "currency_options"}


def render_price(state: State, price: dict) -> dict:
    out = copy.deepcopy(price)
    if price["billing_scheme"] == "tiered":
        out["tiers"] = copy.deepcopy(state.price_tiers.get(price["id"], []))
    return out


def render_price_default(state: State, price: dict) -> dict:
    """Stripe includes ``tiers`` only when expanded; expansion re-adds it."""
    return copy.deepcopy(price)


State.renderers["price_"] = render_price_default


def get_price(state: State, price_id: str, param: str = "price") -> dict:
    price = state.prices.get(price_id)
    if price is None:
        raise not_found("price", price_id, param)
    return price


def _product(ctx: Ctx, p: dict) -> dict:
    state = ctx.state
    prod = template("product")
    prod.update(id=p.get("id") or new_id("prod_"), created=state.now(), updated=state.now(),
                default_price=None, description=None, package_dimensions=None, metadata={},
                name=require(p, "name"), active=as_bool(p, "active", True),
                unit_label=p.get("unit_label"), type="service")
    if prod["id"] in state.products:
        raise StripeError(f"Product already exists.", code="resource_already_exists", param="id")
    prod["description"] = p.get("description")
    prod["metadata"] = merge_metadata({}, p.get("metadata"))
    state.products[prod["id"]] = prod
    ctx.emit("product.created", prod)
    return prod


@router.route("POST", "/v1/products")
def create_product(ctx: Ctx) -> dict:
    check_allowed(ctx.params, _PRODUCT_PARAMS)
    return ctx.state.view(_product(ctx, ctx.params))


@router.route("GET", "/v1/products/{id}")
def retrieve_product(ctx: Ctx) -> dict:
    prod = ctx.state.products.get(ctx.path["id"])
    if prod is None:
        raise not_found("product", ctx.path["id"])
    return ctx.state.view(prod)


@router.route("POST", "/v1/products/{id}")
def update_product(ctx: Ctx) -> dict:
    check_allowed(ctx.params, _PRODUCT_PARAMS - {"id", "default_price_data"} | {"default_price"})
    prod = ctx.state.products.get(ctx.path["id"])
    if prod is None:
        raise not_found("product", ctx.path["id"])
    previous = {}
    for key in ("name", "description", "unit_label", "default_price"):
        if key in ctx.params:
            previous[key], prod[key] = prod.get(key), ctx.params[key] or None
    if "active" in ctx.params:
        previous["active"], prod["active"] = prod["active"], as_bool(ctx.params, "active")
    if "metadata" in ctx.params:
        previous["metadata"] = prod["metadata"]
        prod["metadata"] = merge_metadata(prod["metadata"], ctx.params["metadata"])
    prod["updated"] = ctx.state.now()
    ctx.emit("product.updated", prod, previous)
    return ctx.state.view(prod)


@router.route("GET", "/v1/products")
def list_products(ctx: Ctx) -> dict:
    items = list(ctx.state.products.values())
    if "active" in ctx.params:
        items = [p for p in items if p["active"] == as_bool(ctx.params, "active")]
    return list_object([ctx.state.view(p) for p in reversed(items)], ctx.params, "/v1/products")


def _decimal(value: object, param: str) -> str:
    try:
        d = Decimal(str(value))
    except InvalidOperation:
        raise StripeError(f"Invalid decimal: {value}", param=param) from None
    if d < 0:
        raise StripeError(f"Invalid {param}: must be greater than or equal to 0", param=param)
    return format(d.normalize(), "f") if d != d.to_integral() else str(int(d))


def _tiers(p: dict) -> list[dict]:
    raw = p.get("tiers")
    if not isinstance(raw, list) or not raw:
        raise StripeError("Missing required param: tiers.", code="parameter_missing", param="tiers")
    tiers, last_up = [], 0
    for i, t in enumerate(raw):
        if not isinstance(t, dict):
            raise StripeError("Invalid array", param=f"tiers[{i}]")
        up_raw = t.get("up_to")
        if up_raw in (None, ""):
            raise StripeError("Missing required param: tiers[%d][up_to]." % i,
                              code="parameter_missing", param=f"tiers[{i}][up_to]")
        up_to = None if up_raw == "inf" else as_int(t, "up_to")
        if up_to is not None and up_to <= last_up:
            raise StripeError("Tiers must be ordered by up_to, ascending.", param="tiers")
        if up_to is None and i != len(raw) - 1:
            raise StripeError("Only the last tier may have up_to = inf.", param="tiers")
        if "unit_amount" in t and "unit_amount_decimal" in t:
            raise StripeError("You may only specify one of these parameters: unit_amount, "
                              "unit_amount_decimal.", param=f"tiers[{i}][unit_amount]")
        if "flat_amount" in t and "flat_amount_decimal" in t:
            raise StripeError("You may only specify one of these parameters: flat_amount, "
                              "flat_amount_decimal.", param=f"tiers[{i}][flat_amount]")
        unit = t.get("unit_amount_decimal", t.get("unit_amount"))
        flat = t.get("flat_amount_decimal", t.get("flat_amount"))
        unit_dec = _decimal(unit, f"tiers[{i}][unit_amount_decimal]") if unit not in (None, "") else None
        flat_dec = _decimal(flat, f"tiers[{i}][flat_amount_decimal]") if flat not in (None, "") else None
        tiers.append({
            "flat_amount": int(Decimal(flat_dec)) if flat_dec is not None and Decimal(flat_dec) == int(Decimal(flat_dec)) else None,
            "flat_amount_decimal": flat_dec,
            "unit_amount": int(Decimal(unit_dec)) if unit_dec is not None and Decimal(unit_dec) == int(Decimal(unit_dec)) else None,
            "unit_amount_decimal": unit_dec,
            "up_to": up_to,
        })
        last_up = up_to or last_up
    if tiers[-1]["up_to"] is not None:
        raise StripeError("The last tier must have up_to = inf.", param="tiers")
    return tiers


def _claim_lookup_key(ctx: Ctx, key: str, transfer: bool, price_id: str) -> None:
    for other in ctx.state.prices.values():
        if other["lookup_key"] == key and other["id"] != price_id:
            if not transfer:
                raise StripeError(f"A price ({other['id']}) already uses that lookup key.",
                                  param="lookup_key")
            previous = {"lookup_key": key}
            other["lookup_key"] = None
            ctx.emit("price.updated", ctx.state.view(other), previous)


@router.route("POST", "/v1/prices")
def create_price(ctx: Ctx) -> dict:
    p, state = ctx.params, ctx.state
    check_allowed(p, _PRICE_CREATE)
    currency = str(require(p, "currency")).lower()
    if p.get("product"):
        prod = state.products.get(p["product"])
        if prod is None:
            raise not_found("product", p["product"], "product")
    elif isinstance(p.get("product_data"), dict):
        prod = _product(ctx, p["product_data"])
    else:
        raise StripeError("Missing required param: product.", code="parameter_missing",
                          param="product")
    price = template("price")
    price.update(id=new_id("price_1", 24), created=state.now(), currency=currency,
                 product=prod["id"], custom_unit_amount=None, transform_quantity=None,
                 lookup_key=None, nickname=p.get("nickname"),
                 metadata=merge_metadata({}, p.get("metadata")),
                 active=as_bool(p, "active", True), tax_behavior=p.get("tax_behavior", "unspecified"),
                 billing_scheme=p.get("billing_scheme", "per_unit"), tiers_mode=None,
                 unit_amount=None, unit_amount_decimal=None)
    if price["billing_scheme"] not in ("per_unit", "tiered"):
        raise StripeError(f"Invalid billing_scheme: {price['billing_scheme']}", param="billing_scheme")
    rec = p.get("recurring")
    if rec:
        if not isinstance(rec, dict):
            raise StripeError("Invalid hash", param="recurring")
        interval = require(rec, "interval")
        if interval not in ("day", "week", "month", "year"):
            raise StripeError(f"Invalid recurring[interval]: {interval}", param="recurring[interval]")
        usage = rec.get("usage_type", "licensed")
        meter = rec.get("meter")
        if usage == "metered":
            if not meter:
                raise StripeError("Missing required param: recurring[meter].",
                                  code="parameter_missing", param="recurring[meter]")
            if meter not in state.meters:
                raise not_found("billing meter", meter, "recurring[meter]")
        price["recurring"] = {"interval": interval,
                              "interval_count": as_int(rec, "interval_count", 1),
                              "meter": meter, "usage_type": usage, "trial_period_days": None}
        price["type"] = "recurring"
    else:
        price["recurring"], price["type"] = None, "one_time"
    if price["billing_scheme"] == "tiered":
        mode = require(p, "tiers_mode")
        if mode not in ("graduated", "volume"):
            raise StripeError(f"Invalid tiers_mode: {mode}", param="tiers_mode")
        price["tiers_mode"] = mode
        tiers = _tiers(p)
    else:
        if "unit_amount" in p and "unit_amount_decimal" in p:
            raise StripeError("You may only specify one of these parameters: unit_amount, "
                              "unit_amount_decimal.", param="unit_amount")
        if p.get("unit_amount") not in (None, ""):
            price["unit_amount"] = as_int(p, "unit_amount")
            price["unit_amount_decimal"] = str(price["unit_amount"])
        elif p.get("unit_amount_decimal") not in (None, ""):
            price["unit_amount_decimal"] = _decimal(p["unit_amount_decimal"], "unit_amount_decimal")
            d = Decimal(price["unit_amount_decimal"])
            price["unit_amount"] = int(d) if d == int(d) else None
        else:
            raise StripeError("Missing required param: unit_amount.", code="parameter_missing",
                              param="unit_amount")
        tiers = []
    if p.get("lookup_key"):
        _claim_lookup_key(ctx, p["lookup_key"], as_bool(p, "transfer_lookup_key", False), price["id"])
        price["lookup_key"] = p["lookup_key"]
    state.prices[price["id"]] = price
    state.price_tiers[price["id"]] = tiers
    ctx.emit("price.created", price)
    return _maybe_tiers(ctx, price)


def _maybe_tiers(ctx: Ctx, price: dict) -> dict:
    if "tiers" in expand_list(ctx.params) or "data.tiers" in expand_list(ctx.params):
        return render_price(ctx.state, price)
    return ctx.state.view(price)


@router.route("GET", "/v1/prices/{id}")
def retrieve_price(ctx: Ctx) -> dict:
    return _maybe_tiers(ctx, get_price(ctx.state, ctx.path["id"], "id"))


@router.route("POST", "/v1/prices/{id}")
def update_price(ctx: Ctx) -> dict:
    p = ctx.params
    check_allowed(p, _PRICE_UPDATE)
    price = get_price(ctx.state, ctx.path["id"], "id")
    previous = {}
    if "lookup_key" in p:
        if p["lookup_key"]:
            _claim_lookup_key(ctx, p["lookup_key"], as_bool(p, "transfer_lookup_key", False), price["id"])
        previous["lookup_key"], price["lookup_key"] = price["lookup_key"], p["lookup_key"] or None
    if "active" in p:
        previous["active"], price["active"] = price["active"], as_bool(p, "active")
    if "nickname" in p:
        previous["nickname"], price["nickname"] = price["nickname"], p["nickname"] or None
    if "tax_behavior" in p:
        previous["tax_behavior"], price["tax_behavior"] = price["tax_behavior"], p["tax_behavior"]
    if "metadata" in p:
        previous["metadata"] = price["metadata"]
        price["metadata"] = merge_metadata(price["metadata"], p["metadata"])
    ctx.emit("price.updated", price, previous)
    return _maybe_tiers(ctx, price)


@router.route("GET", "/v1/prices")
def list_prices(ctx: Ctx) -> dict:
    p = ctx.params
    items = list(ctx.state.prices.values())
    if "active" in p:
        items = [x for x in items if x["active"] == as_bool(p, "active")]
    if p.get("product"):
        items = [x for x in items if x["product"] == p["product"]]
    if p.get("currency"):
        items = [x for x in items if x["currency"] == p["currency"].lower()]
    if p.get("type"):
        items = [x for x in items if x["type"] == p["type"]]
    keys = p.get("lookup_keys")
    if keys is not None:
        keys = [keys] if isinstance(keys, str) else list(keys.values() if isinstance(keys, dict) else keys)
        items = [x for x in items if x["lookup_key"] in keys]
    render = render_price if "data.tiers" in expand_list(p) else render_price_default
    return list_object([render(ctx.state, x) for x in reversed(items)], p, "/v1/prices")
