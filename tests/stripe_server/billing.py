"""Billing engine: periods, invoice building, payment attempts, period closing.

Decisions (Stripe-like, simplified):
- A subscription's first invoice is finalized at once. A cycle invoice stays a ``draft``
  for the finalization grace (``Config.finalization_grace_seconds``, Stripe's default one
  hour, on the customer's clock): metered usage timestamped inside its period that arrives
  meanwhile is billed on it, since its metered lines are computed again when it finalizes.
- Payment uses the subscription's ``default_payment_method``, else the customer's
  ``invoice_settings.default_payment_method``. No payment method = a failed attempt
  (``invoice.payment_failed``), as Stripe does for charge_automatically invoices.
- A failed renewal payment moves ``active`` → ``past_due``; a later successful payment
  (``POST /v1/invoices/{id}/pay`` or a retry) moves it back to ``active``. Automatic
  retries/dunning (``unpaid``) are not scheduled.
"""

from __future__ import annotations

import calendar
import datetime as dt
from decimal import Decimal
from typing import Any

from .routing import Ctx
from .store import new_id, template
from .prorations import pending_lines
from .tiers import line_amount
from .wire import StripeError


def add_interval(ts: int, interval: str, count: int, anchor: int) -> int:
    """``ts`` plus ``count`` intervals; months keep the anchor's day (clamped)."""
    d = dt.datetime.fromtimestamp(ts, dt.timezone.utc)
    if interval in ("day", "week"):
        return ts + count * (86400 if interval == "day" else 7 * 86400)
    months = count * (12 if interval == "year" else 1)
    y, m = divmod(d.month - 1 + months, 12)
    year, month = d.year + y, m + 1
    day = min(dt.datetime.fromtimestamp(anchor, dt.timezone.utc).day,
              calendar.monthrange(year, month)[1])
    return int(d.replace(year=year, month=month, day=day).timestamp())


def sub_items(ctx: Ctx, sub: dict) -> list[dict]:
    return [it for it in ctx.state.items.values() if it["subscription"] == sub["id"]]


def _line(ctx: Ctx, invoice_id: str, sub: dict, item: dict, price: dict, quantity: Any,
          amount: int, start: int, end: int) -> dict:
    line = template("line_item")
    product = ctx.state.products.get(price["product"], {})
    desc_qty = f"{quantity} × " if quantity is not None else ""
    line.update(
        id=new_id("il_1", 24), invoice=invoice_id, amount=amount, subtotal=amount,
        currency=price["currency"], description=f"{desc_qty}{product.get('name', 'Item')} "
        f"(at {price.get('unit_amount_decimal') or 'tiered'} / {price['recurring']['interval']})",
        period={"start": start, "end": end}, quantity=int(quantity) if quantity is not None else None,
        quantity_decimal=str(quantity) if quantity is not None else None, metadata={},
        taxes=[], pretax_credit_amounts=[], discounts=[], discount_amounts=[], subscription=sub["id"],
        parent={"type": "subscription_item_details", "invoice_item_details": None,
                "subscription_item_details": {"invoice_item": None, "proration": False,
                                              "proration_details": {"credited_items": None},
                                              "subscription": sub["id"],
                                              "subscription_item": item["id"]}},
        pricing={"type": "price_details", "unit_amount_decimal": price.get("unit_amount_decimal"),
                 "price_details": {"price": price["id"], "product": price["product"]}},
    )
    return line


def licensed_lines(ctx: Ctx, invoice_id: str, sub: dict, start: int, end: int) -> list[dict]:
    out = []
    for item in sub_items(ctx, sub):
        price = ctx.state.prices[item["price"]]
        if price["recurring"]["usage_type"] != "licensed":
            continue
        qty = item.get("quantity") or 1
        amount = line_amount(price, ctx.state.price_tiers.get(price["id"], []), qty)
        out.append(_line(ctx, invoice_id, sub, item, price, qty, amount, start, end))
    return out


def metered_lines(ctx: Ctx, invoice_id: str, sub: dict, start: int, end: int,
                  items: list[dict] | None = None) -> list[dict]:
    """Usage of ``[start, end)`` per metered item (``items``: the subscription's items at the
    period's end, before a schedule replaced them). An item that got its price during the
    period counts usage from then on (``_metered_from``), as Stripe bills a metered price
    added or swapped in mid-period only for the usage after the change."""
    from .resources.meters import meter_total

    out = []
    for item in sub_items(ctx, sub) if items is None else items:
        price = ctx.state.prices[item["price"]]
        if price["recurring"]["usage_type"] != "metered":
            continue
        since = max(start, item.get("_metered_from") or start)
        meter = ctx.state.meters.get(price["recurring"]["meter"])
        usage = meter_total(ctx.state, meter, sub["customer"], since, end) if meter else Decimal(0)
        amount = line_amount(price, ctx.state.price_tiers.get(price["id"], []), usage)
        out.append(_line(ctx, invoice_id, sub, item, price, usage, amount, since, end))
    return out


def create_invoice(ctx: Ctx, sub: dict, reason: str, build_lines: list, period: tuple[int, int],
                   attempt: bool = True, finalize_at: int | None = None) -> dict:
    """Create an invoice; finalize and (if ``attempt``) try to pay it now, or, with
    ``finalize_at`` (the customer's clock time), leave it a draft until then.

    ``build_lines`` is a list of ``(line_builder, start, end)``.
    """
    state = ctx.state
    cus = state.customers.get(sub["customer"], {})
    now = state.now_for_customer(sub["customer"])
    inv = template("invoice")
    inv_id = new_id("in_1", 24)
    # Prorations waiting for the next invoice are claimed now, as Stripe attaches pending
    # invoice items to the draft; the other lines are computed again when it finalizes.
    state.invoice_extra_lines[inv_id] = pending_lines(ctx, inv_id, sub)
    inv.update(
        id=inv_id, created=now, customer=sub["customer"], customer_email=cus.get("email"),
        customer_name=cus.get("name"), currency=sub["currency"], billing_reason=reason,
        subscription=None, status="draft", number=None, amount_paid=0, amount_overpaid=0,
        attempt_count=0, attempted=False, auto_advance=True, period_start=period[0],
        period_end=period[1], due_date=None, effective_at=None, next_payment_attempt=None,
        webhooks_delivered_at=None, hosted_invoice_url=None, invoice_pdf=None, from_invoice=None,
        last_finalization_error=None, shipping_cost=None, shipping_details=None,
        customer_shipping=None, account_country="US", account_name="Fake Stripe (tests)",
        test_clock=cus.get("test_clock"), total_taxes=[], total_pretax_credit_amounts=[],
        metadata={}, customer_address=None, automatically_finalizes_at=finalize_at,
        status_transitions={"finalized_at": None, "marked_uncollectible_at": None,
                            "paid_at": None, "voided_at": None},
        parent={"type": "subscription_details", "quote_details": None,
                "subscription_details": {"metadata": dict(sub["metadata"]),
                                         "subscription": sub["id"]}},
    )
    state.invoice_builds[inv_id] = list(build_lines)
    _set_lines(ctx, inv, sub)
    state.invoices[inv_id] = inv
    sub["latest_invoice"] = inv_id
    ctx.emit("invoice.created", inv)
    if finalize_at is not None:
        state.draft_invoices[inv_id] = finalize_at
        return inv
    finalize(ctx, inv, attempt)
    return inv


def _set_lines(ctx: Ctx, inv: dict, sub: dict) -> None:
    lines = [ln for build, start, end in ctx.state.invoice_builds[inv["id"]]
             for ln in build(ctx, inv["id"], sub, start, end)]
    lines += ctx.state.invoice_extra_lines.get(inv["id"], [])
    total = sum(ln["amount"] for ln in lines)
    # A draft shows the customer's current balance as its starting balance (applied, and the
    # ending balance known, only when it finalizes).
    balance = int(ctx.state.customers.get(inv["customer"], {}).get("balance") or 0)
    due = max(0, total + balance)
    inv.update(amount_due=due, amount_remaining=due, starting_balance=balance, ending_balance=None,
               subtotal=total, subtotal_excluding_tax=total, total=total, total_excluding_tax=total,
               lines={"object": "list", "data": lines, "has_more": False,
                      "url": f"/v1/invoices/{inv['id']}/lines"})


def finalize(ctx: Ctx, inv: dict, attempt: bool = True) -> None:
    """Draft → open (metered lines as of now), then paid, sent, or a payment attempt."""
    state = ctx.state
    if state.draft_invoices.pop(inv["id"], None) is not None:
        _set_lines(ctx, inv, state.subscriptions[inv["parent"]["subscription_details"]["subscription"]])
    sub = state.subscriptions.get(inv["parent"]["subscription_details"]["subscription"] or "", {})
    cus = state.customers.get(inv["customer"], {})
    now = state.now_for_customer(inv["customer"])
    state.invoice_seq += 1
    # Customer balance (negative = credit, e.g. a downgrade's proration) is applied when the
    # invoice finalizes; a negative total becomes credit for the next invoice.
    starting_balance = int(cus.get("balance") or 0)
    due = max(0, inv["total"] + starting_balance)
    ending_balance = min(0, inv["total"] + starting_balance)
    if cus:
        cus["balance"] = ending_balance
    inv.update(amount_due=due, amount_remaining=due, starting_balance=starting_balance,
               ending_balance=ending_balance)
    inv.update(status="open", number=f"{cus.get('invoice_prefix', 'TEST')}-{state.invoice_seq:04d}",
               effective_at=now, hosted_invoice_url=f"{ctx.base_url}/invoice/{inv['id']}",
               invoice_pdf=f"{ctx.base_url}/invoice/{inv['id']}/pdf", automatically_finalizes_at=None)
    inv["status_transitions"]["finalized_at"] = now
    ctx.emit("invoice.finalized", inv)
    if inv["amount_due"] == 0:
        mark_paid(ctx, inv, None)
    elif sub.get("collection_method") == "send_invoice":
        # Emailed to the customer, paid later (`POST /v1/invoices/{id}/pay`); no charge now.
        inv.update(due_date=now + 86400 * (sub.get("days_until_due") or 30))
        ctx.emit("invoice.sent", inv)
    elif attempt:
        attempt_payment(ctx, inv)


def payment_method_for(ctx: Ctx, inv: dict, override: str | None = None) -> str | None:
    if override:
        return override
    sub = ctx.state.subscriptions.get(inv["parent"]["subscription_details"]["subscription"] or "")
    if sub and sub.get("default_payment_method"):
        return sub["default_payment_method"]
    cus = ctx.state.customers.get(inv["customer"])
    return cus["invoice_settings"]["default_payment_method"] if cus else None


def _set_sub_status(ctx: Ctx, inv: dict, status: str) -> None:
    sub = ctx.state.subscriptions.get(inv["parent"]["subscription_details"]["subscription"] or "")
    if sub and sub["status"] != status and sub["status"] not in ("canceled", "incomplete_expired"):
        if status == "past_due" and sub["status"] == "incomplete":
            return
        previous = {"status": sub["status"]}
        sub["status"] = status
        ctx.emit("customer.subscription.updated", ctx.state.view(sub), previous)


def mark_paid(ctx: Ctx, inv: dict, charge: dict | None) -> None:
    now = ctx.state.now_for_customer(inv["customer"])
    previous = {"status": inv["status"], "amount_paid": inv["amount_paid"],
                "amount_remaining": inv["amount_remaining"]}
    inv.update(status="paid", amount_paid=inv["amount_due"], amount_remaining=0,
               attempted=True if charge else inv["attempted"], next_payment_attempt=None)
    inv["status_transitions"]["paid_at"] = now
    ctx.emit("invoice.paid", inv, previous)
    ctx.emit("invoice.payment_succeeded", inv, previous)
    _set_sub_status(ctx, inv, "active")


def attempt_payment(ctx: Ctx, inv: dict, pm_override: str | None = None) -> bool:
    """Charge the invoice; on failure emit the failure events and return False."""
    from .resources.customers import materialize_pm
    from .resources.payments import record_charge

    state = ctx.state
    pm_id = payment_method_for(ctx, inv, pm_override)
    pm = materialize_pm(state, pm_id) if pm_id else None
    ok = pm is not None and state.pm_behavior.get(pm["id"]) == "succeed"
    inv["attempt_count"] += 1
    inv["attempted"] = True
    charge = record_charge(ctx, inv, pm, ok) if pm is not None else None
    if ok:
        mark_paid(ctx, inv, charge)
        return True
    inv["next_payment_attempt"] = None
    ctx.emit("invoice.payment_failed", inv)
    _set_sub_status(ctx, inv, "past_due")
    return False


def card_declined() -> StripeError:
    return StripeError("Your card was declined.", status=402, type="card_error",
                       code="card_declined", extra={"decline_code": "generic_decline"})
