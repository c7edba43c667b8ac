"""Prorations of licensed items changed mid-period, and the pending invoice items they become.

Stripe's rule, implemented here independently of the service [docs.stripe.com/billing/
subscriptions/prorations]: "calculated down to the second", from the current billing
period's start and end and the moment of the change (``proration_date`` when given, else
now). For every licensed item that changes, a credit for the unused time on the old price
(``-amount × remaining / period``) and a charge for the remaining time on the new price
(``+amount × remaining / period``), each its own line, each rounded to an integer minor unit
(ROUND_HALF_UP) from an exact ``Decimal``. Metered items are never prorated: their usage is
billed at the period end (from the moment the item got its price).

``proration_behavior``: ``create_prorations`` (default) leaves the lines as pending invoice
items that the subscription's next invoice includes; ``always_invoice`` invoices them at once;
``none`` creates nothing.
"""

from __future__ import annotations

import datetime as dt
from decimal import ROUND_HALF_UP, Decimal
from typing import Any

from .routing import Ctx
from .store import new_id, template
from .tiers import exact_amount

BEHAVIORS = ("create_prorations", "none", "always_invoice")


def prorated(price: dict[str, Any], tiers: list[dict[str, Any]], quantity: int,
             remaining: int, total: int) -> int:
    exact = exact_amount(price, tiers, Decimal(quantity)) * Decimal(remaining) / Decimal(total)
    return int(exact.quantize(Decimal(1), ROUND_HALF_UP))


def _day(ts: int) -> str:
    return dt.datetime.fromtimestamp(ts, dt.timezone.utc).strftime("%d %b %Y")


def proration_items(ctx: Ctx, sub: dict, changes: list[tuple[dict | None, dict | None]],
                    at: int, start: int, end: int) -> list[dict]:
    """Invoice items for licensed changes ``(old, new)``: each a ``{"item", "price",
    "quantity"}`` or None (added / removed). Not stored yet."""
    state = ctx.state
    out = []
    remaining, total = end - at, end - start
    for old, new in changes:
        for side, sign, text in ((old, -1, "Unused time on"), (new, 1, "Remaining time on")):
            if side is None:
                continue
            price = state.prices[side["price"]]
            amount = prorated(price, state.price_tiers.get(price["id"], []), side["quantity"],
                              remaining, total)
            if amount == 0:
                continue
            product = state.products.get(price["product"], {})
            ii = template("invoiceitem")
            ii.update(id=new_id("ii_1", 24), object="invoiceitem", amount=sign * amount,
                      currency=price["currency"], customer=sub["customer"],
                      date=state.now_for_customer(sub["customer"]),
                      description=f"{text} {side['quantity']} × {product.get('name', 'Item')} "
                                  f"after {_day(at)}",
                      discountable=False, invoice=None, livemode=False, metadata={},
                      period={"start": at, "end": end}, proration=True,
                      quantity=side["quantity"], test_clock=sub.get("test_clock"),
                      parent={"type": "subscription_details", "subscription_details": {
                          "subscription": sub["id"], "subscription_item": side["item"]}},
                      pricing={"type": "price_details", "unit_amount_decimal": price.get("unit_amount_decimal"),
                               "price_details": {"price": price["id"], "product": price["product"]}})
            out.append(ii)
    return out


def pending_lines(ctx: Ctx, invoice_id: str, sub: dict) -> list[dict]:
    """The subscription's pending invoice items as lines of ``invoice_id`` (now invoiced)."""
    lines = []
    for ii in ctx.state.invoice_items.values():
        details = (ii.get("parent") or {}).get("subscription_details") or {}
        if ii["invoice"] is not None or details.get("subscription") != sub["id"]:
            continue
        ii["invoice"] = invoice_id
        line = template("line_item")
        line.update(id=new_id("il_1", 24), invoice=invoice_id, amount=ii["amount"],
                    subtotal=ii["amount"], currency=ii["currency"], description=ii["description"],
                    period=dict(ii["period"]), quantity=ii["quantity"],
                    quantity_decimal=str(ii["quantity"]), metadata={}, taxes=[],
                    pretax_credit_amounts=[], discounts=[], discount_amounts=[],
                    discountable=False, subscription=sub["id"],
                    parent={"type": "subscription_item_details", "invoice_item_details": None,
                            "subscription_item_details": {
                                "invoice_item": ii["id"], "proration": True,
                                "proration_details": {"credited_items": None},
                                "subscription": sub["id"],
                                "subscription_item": details.get("subscription_item")}},
                    pricing=dict(ii["pricing"]))
        lines.append(line)
    return lines
