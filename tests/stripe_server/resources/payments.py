"""Charges, payment intents, refunds and disputes (read APIs + refunds create)."""

from __future__ import annotations

from ..routing import Ctx, Router
from ..store import new_id, template
from ..wire import StripeError, as_int, check_allowed, list_object, merge_metadata, not_found

router = Router()


def record_charge(ctx: Ctx, inv: dict, pm: dict, ok: bool) -> dict:
    """A charge + payment intent for one payment attempt on ``inv``, and the invoice payment
    that links them (charges name no invoice in this API version: ``invoice_payments`` do)."""
    description = ("Subscription update" if inv["billing_reason"] != "subscription_cycle"
                   else "Subscription cycle")
    ch = create_charge(ctx, inv["customer"], inv["amount_remaining"], inv["currency"], pm, ok,
                       description, receipt=inv["id"])
    ctx.state.charge_invoice[ch["id"]] = inv["id"]
    record_invoice_payment(ctx, inv, ch["payment_intent"], inv["amount_remaining"] if ok else None)
    return ch


def new_intent(ctx: Ctx, customer_id: str | None, amount: int, currency: str,
               pm_id: str | None, description: str | None, metadata: dict | None) -> dict:
    pi = template("payment_intent")
    pi.update(id=new_id("pi_1", 24), amount=amount, currency=currency, customer=customer_id,
              created=ctx.state.now_for_customer(customer_id), payment_method=pm_id,
              client_secret=None, canceled_at=None, last_payment_error=None, next_action=None,
              processing=None, transfer_data=None, payment_method_configuration_details=None,
              metadata=dict(metadata or {}), amount_received=0, latest_charge=None,
              description=description, status="requires_confirmation" if pm_id else
              "requires_payment_method", shipping=None, automatic_payment_methods=None)
    ctx.state.payment_intents[pi["id"]] = pi
    return pi


def create_charge(ctx: Ctx, customer_id: str, amount: int, currency: str, pm: dict, ok: bool,
                  description: str | None, receipt: str | None = None,
                  metadata: dict | None = None, intent: dict | None = None) -> dict:
    """One confirmed payment: a charge (succeeded or declined) for ``intent`` (a new payment
    intent when None)."""
    state = ctx.state
    now = state.now_for_customer(customer_id)
    created = intent is None
    pi = intent or new_intent(ctx, customer_id, amount, currency, pm["id"], description, metadata)
    pi.update(payment_method=pm["id"], amount_received=amount if ok else 0,
              status="succeeded" if ok else "requires_payment_method", last_payment_error=None)
    ch = template("charge")
    ch.update(id=new_id("ch_1", 24), amount=amount,
              amount_captured=amount if ok else 0, captured=ok, amount_refunded=0, refunded=False,
              disputed=False, currency=currency, customer=customer_id, created=now,
              description=description, payment_intent=pi["id"], payment_method=pm["id"],
              paid=ok, status="succeeded" if ok else "failed", source=None, transfer_data=None,
              failure_code=None if ok else "card_declined",
              failure_message=None if ok else "Your card was declined.",
              receipt_url=f"{ctx.base_url}/receipts/{receipt or pi['id']}",
              metadata=dict(metadata or {}),
              balance_transaction=new_id("txn_1", 24) if ok else None, shipping=None,
              outcome={"network_status": "approved_by_network" if ok else "declined_by_network",
                       "reason": None if ok else "generic_decline", "risk_level": "normal",
                       "seller_message": "Payment complete." if ok else "The bank did not return any further details with this decline.",
                       "type": "authorized" if ok else "issuer_declined",
                       "advice_code": None, "network_advice_code": None,
                       "network_decline_code": None})
    ch["payment_method_details"]["card"].update(
        brand=pm["card"]["brand"], last4=pm["card"]["last4"], network=pm["card"]["brand"])
    ch["refunds"] = {"object": "list", "data": [], "has_more": False, "total_count": 0,
                     "url": f"/v1/charges/{ch['id']}/refunds"}
    pi["latest_charge"] = ch["id"]
    if not ok:
        pi["last_payment_error"] = {"type": "card_error", "code": "card_declined",
                                    "decline_code": "generic_decline",
                                    "message": "Your card was declined.", "charge": ch["id"]}
    state.charges[ch["id"]] = ch
    if created:
        ctx.emit("payment_intent.created", pi)
    ctx.emit("charge.succeeded" if ok else "charge.failed", ch)
    ctx.emit("payment_intent.succeeded" if ok else "payment_intent.payment_failed", pi)
    return ch


def record_invoice_payment(ctx: Ctx, inv: dict, payment_intent_id: str, paid: int | None) -> dict:
    state = ctx.state
    now = state.now_for_customer(inv["customer"])
    payment = template("invoice_payment")
    payment.update(id=new_id("inpay_1", 24), invoice=inv["id"], currency=inv["currency"],
                   amount_requested=inv["amount_remaining"], amount_paid=paid, created=now,
                   livemode=False, is_default=True,
                   payment={"type": "payment_intent", "payment_intent": payment_intent_id},
                   status="paid" if paid is not None else "open",
                   status_transitions={"canceled_at": None,
                                       "paid_at": now if paid is not None else None})
    state.invoice_payments[payment["id"]] = payment
    return payment


def _charge(ctx: Ctx, charge_id: str, param: str = "charge") -> dict:
    ch = ctx.state.charges.get(charge_id)
    if ch is None:
        raise not_found("charge", charge_id, param)
    return ch


@router.route("GET", "/v1/charges/{id}")
def retrieve_charge(ctx: Ctx) -> dict:
    return ctx.state.view(_charge(ctx, ctx.path["id"], "id"))


@router.route("GET", "/v1/charges")
def list_charges(ctx: Ctx) -> dict:
    items = list(ctx.state.charges.values())
    for key in ("customer", "payment_intent"):
        if ctx.params.get(key):
            items = [c for c in items if c[key] == ctx.params[key]]
    return list_object([ctx.state.view(c) for c in reversed(items)], ctx.params, "/v1/charges")


@router.route("GET", "/v1/payment_intents/{id}")
def retrieve_payment_intent(ctx: Ctx) -> dict:
    pi = ctx.state.payment_intents.get(ctx.path["id"])
    if pi is None:
        raise not_found("payment_intent", ctx.path["id"])
    return ctx.state.view(pi)


@router.route("POST", "/v1/refunds")
def create_refund(ctx: Ctx) -> dict:
    p = ctx.params
    check_allowed(p, {"charge", "payment_intent", "amount", "reason", "metadata"})
    if p.get("charge"):
        ch = _charge(ctx, p["charge"])
    elif p.get("payment_intent"):
        pi = ctx.state.payment_intents.get(p["payment_intent"])
        if pi is None:
            raise not_found("payment_intent", p["payment_intent"], "payment_intent")
        ch = _charge(ctx, pi["latest_charge"])
    else:
        raise StripeError("One of the following params should be provided for this request: "
                          "payment_intent or charge.", param="charge")
    remaining = ch["amount_captured"] - ch["amount_refunded"]
    amount = as_int(p, "amount", remaining)
    if not ch["paid"] or remaining <= 0:
        raise StripeError(f"Charge {ch['id']} has already been refunded.",
                          code="charge_already_refunded", param="charge")
    if amount is None or amount <= 0 or amount > remaining:
        raise StripeError(f"Refund amount ({amount}) is greater than unrefunded amount on "
                          f"charge ({remaining})", code="amount_too_large", param="amount")
    re = template("refund")
    re.update(id=new_id("re_1", 24), amount=amount, charge=ch["id"], currency=ch["currency"],
              created=ctx.state.now(), payment_intent=ch["payment_intent"], reason=p.get("reason"),
              metadata=merge_metadata({}, p.get("metadata")), status="succeeded",
              customer=ch["customer"], payment_method=ch["payment_method"],
              balance_transaction=new_id("txn_1", 24))
    ctx.state.refunds[re["id"]] = re
    previous = {"amount_refunded": ch["amount_refunded"], "refunded": ch["refunded"]}
    ch["amount_refunded"] += amount
    ch["refunded"] = ch["amount_refunded"] >= ch["amount_captured"]
    ch["refunds"]["data"].insert(0, dict(re))
    ctx.emit("refund.created", re)
    ctx.emit("charge.refunded", ch, previous)
    return ctx.state.view(re)


@router.route("GET", "/v1/refunds/{id}")
def retrieve_refund(ctx: Ctx) -> dict:
    re = ctx.state.refunds.get(ctx.path["id"])
    if re is None:
        raise not_found("refund", ctx.path["id"])
    return ctx.state.view(re)


@router.route("GET", "/v1/refunds")
def list_refunds(ctx: Ctx) -> dict:
    items = list(ctx.state.refunds.values())
    if ctx.params.get("charge"):
        items = [r for r in items if r["charge"] == ctx.params["charge"]]
    return list_object([ctx.state.view(r) for r in reversed(items)], ctx.params, "/v1/refunds")
