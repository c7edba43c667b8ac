"""Disputes: opened by the cardholder (control route), answered with evidence, or accepted.

Test mode as Stripe's: evidence whose ``uncategorized_text`` is ``winning_evidence`` wins the
dispute, ``losing_evidence`` loses it (submitted evidence closes it at once here; Stripe takes
a few minutes); ``POST /v1/disputes/{id}/close`` accepts it (lost). A closed dispute is sent
as ``charge.dispute.closed`` with its final ``status``.
"""

from __future__ import annotations

from ..routing import Ctx, Router
from ..store import new_id, template
from ..wire import StripeError, as_bool, check_allowed, list_object, merge_metadata, not_found
from .payments import _charge

router = Router()

CLOSED = ("won", "lost", "warning_closed")
TEST_OUTCOMES = {"winning_evidence": "won", "losing_evidence": "lost"}


def open_dispute(ctx: Ctx, charge_id: str, reason: str = "fraudulent") -> dict:
    """Control: the cardholder disputes ``charge_id`` → ``charge.dispute.created``."""
    ch = _charge(ctx, charge_id)
    if not ch["paid"]:
        raise StripeError("Only a paid charge can be disputed.", param="charge")
    now = ctx.state.now()
    dp = template("dispute")
    dp.update(id=new_id("dp_1", 24), amount=ch["amount_captured"] - ch["amount_refunded"],
              charge=ch["id"], currency=ch["currency"], created=now,
              payment_intent=ch["payment_intent"], reason=reason, status="needs_response",
              metadata={})
    dp["evidence_details"]["due_by"] = now + 7 * 86400
    dp["payment_method_details"]["card"]["case_type"] = "chargeback"
    ctx.state.disputes[dp["id"]] = dp
    previous = {"disputed": ch["disputed"]}
    ch["disputed"] = True
    ctx.emit("charge.dispute.created", dp)
    ctx.emit("charge.updated", ch, previous)
    return ctx.state.view(dp)


def _dispute(ctx: Ctx, dispute_id: str) -> dict:
    dp = ctx.state.disputes.get(dispute_id)
    if dp is None:
        raise not_found("dispute", dispute_id)
    return dp


def _close(ctx: Ctx, dp: dict, status: str) -> None:
    previous = {"status": dp["status"]}
    dp["status"] = status
    ctx.emit("charge.dispute.closed", dp, previous)


@router.route("POST", "/v1/disputes/{id}")
def update_dispute(ctx: Ctx) -> dict:
    p = ctx.params
    check_allowed(p, {"evidence", "metadata", "submit"})
    dp = _dispute(ctx, ctx.path["id"])
    if dp["status"] in CLOSED:
        raise StripeError(f"This dispute is already closed ({dp['status']}).", param="id")
    if "metadata" in p:
        dp["metadata"] = merge_metadata(dp["metadata"], p["metadata"])
    evidence = p.get("evidence") or {}
    if evidence and not isinstance(evidence, dict):
        raise StripeError("Invalid evidence: must be an object.", param="evidence")
    unknown = set(evidence) - set(dp["evidence"])
    if unknown:
        name = sorted(unknown)[0]
        raise StripeError(f"Received unknown parameter: evidence[{name}]", param=f"evidence[{name}]")
    dp["evidence"].update({k: (v or None) for k, v in evidence.items()})
    if evidence and as_bool(p, "submit", True):
        dp["evidence_details"]["submission_count"] += 1
        dp["evidence_details"]["has_evidence"] = True
        outcome = TEST_OUTCOMES.get(str(dp["evidence"].get("uncategorized_text") or ""))
        if outcome:
            _close(ctx, dp, outcome)
        else:
            dp["status"] = "under_review"
            ctx.emit("charge.dispute.updated", dp)
    return ctx.state.view(dp)


@router.route("POST", "/v1/disputes/{id}/close")
def close_dispute(ctx: Ctx) -> dict:
    dp = _dispute(ctx, ctx.path["id"])
    if dp["status"] in CLOSED:
        raise StripeError(f"This dispute is already closed ({dp['status']}).", param="id")
    _close(ctx, dp, "lost")
    return ctx.state.view(dp)


@router.route("GET", "/v1/disputes/{id}")
def retrieve_dispute(ctx: Ctx) -> dict:
    return ctx.state.view(_dispute(ctx, ctx.path["id"]))


@router.route("GET", "/v1/disputes")
def list_disputes(ctx: Ctx) -> dict:
    items = list(ctx.state.disputes.values())
    if ctx.params.get("charge"):
        items = [d for d in items if d["charge"] == ctx.params["charge"]]
    return list_object([ctx.state.view(d) for d in reversed(items)], ctx.params, "/v1/disputes")
