"""Subscription schedules: a change planned for a later date, e.g. a plan change at the
period end [docs.stripe.com/billing/subscriptions/subscription-schedules].

Reproduced (what the service relies on, and what Stripe refuses):
- ``POST /v1/subscription_schedules`` with ``from_subscription``: one phase, the
  subscription's current items from its current period's start to its end,
  ``end_behavior=release``. No other parameter may accompany ``from_subscription``; a
  subscription can have one schedule. (A schedule for a new subscription, with ``customer``
  and ``phases``, is not modelled here.)
- ``POST /v1/subscription_schedules/{id}`` with ``phases``: the whole list again. The first
  phase must keep the current phase's ``start_date`` ("You can not modify the start date of
  the current phase."); each later phase starts where the previous one ends; a phase ends at
  its ``end_date`` or after its ``duration`` (the last one, without either, after one interval
  of its first price). ``iterations`` was removed in 2025-09-30.clover and is refused.
- At a phase boundary (the clock reaching a period end) the subscription's items become the
  new phase's items, after the ending period's usage was invoiced with the old ones. When the
  last phase ends the schedule is ``released`` (or ``canceled`` with ``end_behavior=cancel``:
  the subscription ends).
- ``release`` detaches the schedule (the subscription keeps its items); ``cancel`` cancels
  the schedule and the subscription.
"""

from __future__ import annotations

import copy

from .. import billing
from ..routing import Ctx, Router
from ..store import State, new_id, template
from ..wire import StripeError, as_int, check_allowed, list_object, merge_metadata, not_found, require
from .catalog import get_price

router = Router()

_PHASE_PARAMS = {"items", "start_date", "end_date", "duration", "proration_behavior",
                 "metadata", "collection_method", "default_payment_method", "description",
                 "billing_cycle_anchor", "currency", "invoice_settings"}


def render_schedule(state: State, sched: dict) -> dict:
    out = copy.deepcopy(sched)
    current = next((ph for ph in sched["phases"]
                    if ph["start_date"] <= _now(state, sched) < ph["end_date"]), None)
    out["current_phase"] = ({"start_date": current["start_date"], "end_date": current["end_date"]}
                            if current and sched["status"] == "active" else None)
    return out


State.renderers["sub_sched_"] = render_schedule


def _now(state: State, sched: dict) -> int:
    return state.now_for_customer(sched["customer"])


def _schedule(ctx: Ctx, sched_id: str) -> dict:
    sched = ctx.state.schedules.get(sched_id)
    if sched is None:
        raise not_found("subscription_schedule", sched_id)
    return sched


def _phase_item(price: dict, quantity: int | None) -> dict:
    return {"price": price["id"], "quantity": quantity, "metadata": {}, "discounts": [],
            "tax_rates": [], "billing_thresholds": None, "plan": price["id"]}


@router.route("POST", "/v1/subscription_schedules")
def create_schedule(ctx: Ctx) -> dict:
    p, state = ctx.params, ctx.state
    if not p.get("from_subscription"):
        raise StripeError("This test server only creates schedules `from_subscription`.",
                          param="from_subscription")
    extra = sorted(set(p) - {"from_subscription", "expand"})
    if extra:
        raise StripeError(f"You cannot set `{extra[0]}` if `from_subscription` is set.",
                          param=extra[0])
    from .subscriptions import get_sub

    sub = get_sub(state, p["from_subscription"], "from_subscription")
    if sub["status"] in ("canceled", "incomplete_expired"):
        raise StripeError("You cannot create a schedule from a canceled subscription.",
                          param="from_subscription")
    if sub.get("schedule"):
        raise StripeError(f"You cannot migrate a subscription that is already attached to a "
                          f"schedule: `{sub['schedule']}`.", param="from_subscription")
    items = billing.sub_items(ctx, sub)
    now = state.now_for_customer(sub["customer"])
    sched = template("subscription_schedule")
    sched.update(
        id=new_id("sub_sched_1", 24), created=now, customer=sub["customer"], livemode=False,
        subscription=sub["id"], status="active", end_behavior="release", metadata={},
        canceled_at=None, completed_at=None, released_at=None, released_subscription=None,
        test_clock=sub.get("test_clock"), billing_mode=dict(sub["billing_mode"]),
        phases=[{**_phase_defaults(sub), "start_date": items[0]["current_period_start"],
                 "end_date": items[0]["current_period_end"],
                 "items": [_phase_item(state.prices[it["price"]], it.get("quantity"))
                           for it in items]}],
    )
    state.schedules[sched["id"]] = sched
    sub["schedule"] = sched["id"]
    ctx.emit("subscription_schedule.created", state.view(sched))
    return state.view(sched)


def _phase_defaults(sub: dict) -> dict:
    phase = template("subscription_schedule")["phases"][0]
    phase.update(currency=sub["currency"], proration_behavior="create_prorations",
                 add_invoice_items=[], metadata={}, discounts=[], default_tax_rates=[],
                 collection_method=None, default_payment_method=None, description=None,
                 trial_end=None, billing_thresholds=None)
    return phase


def _parse_phases(ctx: Ctx, sched: dict, raw: object) -> list[dict]:
    state = ctx.state
    if not isinstance(raw, list) or not raw:
        raise StripeError("Missing required param: phases.", code="parameter_missing", param="phases")
    from .subscriptions import get_sub

    sub = get_sub(state, sched["subscription"])
    current = next((ph for ph in sched["phases"]
                    if ph["start_date"] <= _now(state, sched) < ph["end_date"]), sched["phases"][0])
    phases = []
    start = None
    for i, spec in enumerate(raw):
        if not isinstance(spec, dict):
            raise StripeError(f"Invalid phases[{i}]: must be an object.", param=f"phases[{i}]")
        unknown = sorted(set(spec) - _PHASE_PARAMS)
        if unknown:
            raise StripeError(f"Received unknown parameter: phases[{i}][{unknown[0]}]",
                              code="parameter_unknown", param=f"phases[{i}][{unknown[0]}]")
        given_start = as_int(spec, "start_date")
        if i == 0:
            if given_start is None:
                raise StripeError("The subscription schedule update is missing at least one "
                                  "phase with a `start_date` to anchor end dates to.",
                                  param="phases[0][start_date]")
            if given_start != current["start_date"]:
                raise StripeError("You can not modify the start date of the current phase.",
                                  param="phases[0][start_date]")
            start = given_start
        elif given_start is not None and given_start != start:
            raise StripeError(f"The start_date of phases[{i}] must equal the end_date of "
                              f"phases[{i - 1}].", param=f"phases[{i}][start_date]")
        items = spec.get("items")
        if not isinstance(items, list) or not items:
            raise StripeError(f"Missing required param: phases[{i}][items].",
                              code="parameter_missing", param=f"phases[{i}][items]")
        phase_items = []
        for j, item in enumerate(items):
            price = get_price(state, require(item, "price"), f"phases[{i}][items][{j}][price]")
            if price["currency"] != sub["currency"]:
                raise StripeError("All prices on a subscription must have the same currency.",
                                  param=f"phases[{i}][items][{j}][price]")
            metered = price["recurring"]["usage_type"] == "metered"
            if metered and item.get("quantity") not in (None, ""):
                raise StripeError("Quantity should not be specified where usage_type is "
                                  "`metered`.", param=f"phases[{i}][items][{j}][quantity]")
            phase_items.append(_phase_item(price, None if metered else as_int(item, "quantity", 1)))
        end = _phase_end(spec, i, start, state.prices[phase_items[0]["price"]],
                         sub["billing_cycle_anchor"], last=i == len(raw) - 1)
        phases.append({**_phase_defaults(sub), "start_date": start, "end_date": end,
                       "items": phase_items,
                       "proration_behavior": spec.get("proration_behavior") or "create_prorations"})
        start = end
    return phases


def _phase_end(spec: dict, i: int, start: int, first_price: dict, anchor: int, last: bool) -> int:
    end_date, duration = as_int(spec, "end_date"), spec.get("duration")
    if end_date is not None and duration:
        raise StripeError(f"You cannot set both `end_date` and `duration` on phases[{i}].",
                          param=f"phases[{i}][duration]")
    if duration:
        interval = require(duration, "interval")
        if interval not in ("day", "week", "month", "year"):
            raise StripeError(f"Invalid phases[{i}][duration][interval]: {interval}",
                              param=f"phases[{i}][duration][interval]")
        end_date = billing.add_interval(start, interval, as_int(duration, "interval_count", 1) or 1,
                                        anchor)
    if end_date is None:
        if not last:
            raise StripeError(f"Missing required param: phases[{i}][end_date] (or a duration).",
                              code="parameter_missing", param=f"phases[{i}][end_date]")
        rec = first_price["recurring"]
        end_date = billing.add_interval(start, rec["interval"], rec["interval_count"], anchor)
    if end_date <= start:
        raise StripeError(f"The end_date of phases[{i}] must be after its start_date.",
                          param=f"phases[{i}][end_date]")
    return end_date


@router.route("POST", "/v1/subscription_schedules/{id}")
def update_schedule(ctx: Ctx) -> dict:
    p = ctx.params
    check_allowed(p, {"phases", "end_behavior", "metadata", "proration_behavior",
                      "default_settings"})
    sched = _schedule(ctx, ctx.path["id"])
    if sched["status"] not in ("active", "not_started"):
        raise StripeError(f"You cannot update a subscription schedule that is currently in "
                          f"the `{sched['status']}` status.", param="id")
    if "end_behavior" in p:
        if p["end_behavior"] not in ("release", "cancel"):
            raise StripeError("Invalid end_behavior: must be one of release or cancel",
                              param="end_behavior")
        sched["end_behavior"] = p["end_behavior"]
    if "phases" in p:
        sched["phases"] = _parse_phases(ctx, sched, p["phases"])
    if "metadata" in p:
        sched["metadata"] = merge_metadata(sched["metadata"], p["metadata"])
    ctx.emit("subscription_schedule.updated", ctx.state.view(sched))
    return ctx.state.view(sched)


def detach(ctx: Ctx, sched: dict, status: str) -> None:
    """End the schedule; the subscription stays (release) unless canceled with it."""
    now = _now(ctx.state, sched)
    sched["status"] = status
    sub = ctx.state.subscriptions.get(sched["subscription"] or "")
    if status == "released":
        sched.update(released_at=now, released_subscription=sched["subscription"])
    elif status == "canceled":
        sched["canceled_at"] = now
    else:
        sched["completed_at"] = now
    if sub is not None:
        previous = {"schedule": sub["schedule"]}
        sub["schedule"] = None
        ctx.emit("customer.subscription.updated", ctx.state.view(sub), previous)
    ctx.emit(f"subscription_schedule.{status}", ctx.state.view(sched))


@router.route("POST", "/v1/subscription_schedules/{id}/release")
def release_schedule(ctx: Ctx) -> dict:
    check_allowed(ctx.params, {"preserve_cancel_date"})
    sched = _schedule(ctx, ctx.path["id"])
    if sched["status"] not in ("active", "not_started"):
        raise StripeError(f"You cannot release a subscription schedule that is currently in "
                          f"the `{sched['status']}` status.", param="id")
    detach(ctx, sched, "released")
    return ctx.state.view(sched)


@router.route("POST", "/v1/subscription_schedules/{id}/cancel")
def cancel_schedule(ctx: Ctx) -> dict:
    check_allowed(ctx.params, {"invoice_now", "prorate"})
    sched = _schedule(ctx, ctx.path["id"])
    if sched["status"] not in ("active", "not_started"):
        raise StripeError(f"You cannot cancel a subscription schedule that is currently in "
                          f"the `{sched['status']}` status.", param="id")
    from .subscriptions import end_subscription

    sub = ctx.state.subscriptions.get(sched["subscription"] or "")
    detach(ctx, sched, "canceled")
    if sub is not None and sub["status"] != "canceled":
        end_subscription(ctx, sub)
    return ctx.state.view(sched)


@router.route("GET", "/v1/subscription_schedules/{id}")
def retrieve_schedule(ctx: Ctx) -> dict:
    return ctx.state.view(_schedule(ctx, ctx.path["id"]))


@router.route("GET", "/v1/subscription_schedules")
def list_schedules(ctx: Ctx) -> dict:
    items = list(ctx.state.schedules.values())
    if ctx.params.get("customer"):
        items = [s for s in items if s["customer"] == ctx.params["customer"]]
    return list_object([ctx.state.view(s) for s in reversed(items)], ctx.params,
                       "/v1/subscription_schedules")


def transition_at(ctx: Ctx, sub: dict, end: int) -> bool:
    """At the period boundary ``end``: start the next phase (the subscription's items become
    its items) or, when the last phase ends, complete the schedule. True if items changed."""
    sched = ctx.state.schedules.get(sub.get("schedule") or "")
    if sched is None or sched["status"] != "active":
        return False
    nxt = next((ph for ph in sched["phases"] if ph["start_date"] == end), None)
    if nxt is None:
        if sched["phases"][-1]["end_date"] <= end:
            if sched["end_behavior"] == "cancel":
                detach(ctx, sched, "canceled")
                sub["cancel_at_period_end"] = True
            else:
                detach(ctx, sched, "released")
        return False
    current = {(it["price"], it.get("quantity")) for it in billing.sub_items(ctx, sub)}
    wanted = {(it["price"], it["quantity"]) for it in nxt["items"]}
    if current == wanted:
        return False
    from .subscriptions import _new_item

    for item in billing.sub_items(ctx, sub):
        del ctx.state.items[item["id"]]
    rec = ctx.state.prices[nxt["items"][0]["price"]]["recurring"]
    next_end = billing.add_interval(end, rec["interval"], rec["interval_count"],
                                    sub["billing_cycle_anchor"])
    for i, item in enumerate(nxt["items"]):
        _new_item(ctx, sub, {"price": item["price"], "quantity": item["quantity"]}, i, end, next_end)
    ctx.emit("subscription_schedule.updated", ctx.state.view(sched))
    return True
