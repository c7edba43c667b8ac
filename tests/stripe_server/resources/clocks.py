"""Test clocks: advancing closes every due subscription period of the clock's customers.

As on Stripe, ``POST …/advance`` answers at once with the clock ``advancing``; the work
happens in the background (``Config.clock_advance_seconds`` later) and the clock turns
``ready`` (``test_helpers.test_clock.ready``) when it is done: callers poll until then.

Closing a period at ``end``: the subscription's items move to ``[end, next_end)``
(``customer.subscription.updated``), then one ``subscription_cycle`` invoice is created
with the metered usage of ``[start, end)`` (summed meter events, price tier math) and the
licensed items for the new period, as a draft that finalizes (metered lines computed
again, then charged) one finalization grace later. A subscription with
``cancel_at_period_end`` is instead ended with a final metered invoice. A subscription
schedule's next phase starts at the boundary: the ending period's usage is invoiced with the
old items, the new period's licensed items with the phase's. Period ends and finalizations
happen in time order across all subscriptions of the clock.
"""

from __future__ import annotations

import asyncio
import functools

from .. import billing
from ..routing import Ctx, Router
from ..store import new_id, template
from ..wire import StripeError, as_int, check_allowed, list_object, not_found, require

router = Router()


def _clock(ctx: Ctx, clock_id: str) -> dict:
    clock = ctx.state.clocks.get(clock_id)
    if clock is None:
        raise not_found("test_helpers.test_clock", clock_id)
    return clock


@router.route("POST", "/v1/test_helpers/test_clocks")
def create_clock(ctx: Ctx) -> dict:
    check_allowed(ctx.params, {"frozen_time", "name"})
    frozen = as_int(ctx.params, "frozen_time")
    if frozen is None:
        require(ctx.params, "frozen_time")
    clock = template("test_helpers.test_clock")
    now = ctx.state.now()
    clock.update(id=new_id("clock_1", 24), created=now, deletes_after=now + 30 * 86400,
                 frozen_time=frozen, name=ctx.params.get("name"), status="ready",
                 status_details={})
    ctx.state.clocks[clock["id"]] = clock
    ctx.emit("test_helpers.test_clock.created", clock)
    return ctx.state.view(clock)


@router.route("GET", "/v1/test_helpers/test_clocks/{id}")
def retrieve_clock(ctx: Ctx) -> dict:
    return ctx.state.view(_clock(ctx, ctx.path["id"]))


@router.route("GET", "/v1/test_helpers/test_clocks")
def list_clocks(ctx: Ctx) -> dict:
    items = [ctx.state.view(c) for c in reversed(ctx.state.clocks.values())]
    return list_object(items, ctx.params, "/v1/test_helpers/test_clocks")


@router.route("DELETE", "/v1/test_helpers/test_clocks/{id}")
def delete_clock(ctx: Ctx) -> dict:
    clock = _clock(ctx, ctx.path["id"])
    for cus in list(ctx.state.customers.values()):
        if cus["test_clock"] == clock["id"]:
            del ctx.state.customers[cus["id"]]
            ctx.state.deleted_customers.add(cus["id"])
    del ctx.state.clocks[clock["id"]]
    ctx.emit("test_helpers.test_clock.deleted", clock)
    return {"id": clock["id"], "object": "test_helpers.test_clock", "deleted": True}


def _due(ctx: Ctx, clock: dict, until: int) -> tuple[int, dict] | None:
    best = None
    for sub in ctx.state.subscriptions.values():
        if sub["test_clock"] != clock["id"] or sub["status"] in ("canceled", "incomplete_expired", "incomplete"):
            continue
        items = billing.sub_items(ctx, sub)
        if not items:
            continue
        end = min(it["current_period_end"] for it in items)
        if end <= until and (best is None or end < best[0]):
            best = (end, sub)
    return best


def _draft_due(ctx: Ctx, clock: dict, until: int) -> tuple[int, dict] | None:
    drafts = [(at, ctx.state.invoices[inv_id]) for inv_id, at in ctx.state.draft_invoices.items()
              if ctx.state.invoices[inv_id]["test_clock"] == clock["id"] and at <= until]
    return min(drafts, key=lambda d: d[0]) if drafts else None


def close_period(ctx: Ctx, sub: dict, end: int) -> None:
    from .schedules import transition_at
    from .subscriptions import end_subscription

    items = billing.sub_items(ctx, sub)
    start = items[0]["current_period_start"]
    finalize_at = end + ctx.server.config.finalization_grace_seconds
    ending_usage = (functools.partial(billing.metered_lines, items=items), start, end)
    before = ctx.state.view(sub)
    replaced = transition_at(ctx, sub, end)  # a schedule's next phase brings its own items
    if sub["cancel_at_period_end"]:
        billing.create_invoice(ctx, sub, "subscription_cycle", [ending_usage], (start, end),
                               finalize_at=finalize_at)
        end_subscription(ctx, sub)
        return
    if replaced:
        next_end = billing.sub_items(ctx, sub)[0]["current_period_end"]
    else:
        rec = ctx.state.prices[items[0]["price"]]["recurring"]
        next_end = billing.add_interval(end, rec["interval"], rec["interval_count"],
                                        sub["billing_cycle_anchor"])
        for it in items:
            it["current_period_start"], it["current_period_end"] = end, next_end
    after = ctx.state.view(sub)
    ctx.emit("customer.subscription.updated", after, {"items": before["items"]})
    billing.create_invoice(ctx, sub, "subscription_cycle",
                           [ending_usage, (billing.licensed_lines, end, next_end)], (start, end),
                           finalize_at=finalize_at)


@router.route("POST", "/v1/test_helpers/test_clocks/{id}/advance")
def advance_clock(ctx: Ctx) -> dict:
    check_allowed(ctx.params, {"frozen_time"})
    clock = _clock(ctx, ctx.path["id"])
    target = as_int(ctx.params, "frozen_time")
    if target is None:
        require(ctx.params, "frozen_time")
    if clock["status"] == "advancing":
        raise StripeError("The test clock is already advancing; wait until its status is `ready`.",
                          param="frozen_time")
    if target <= clock["frozen_time"]:
        raise StripeError("The test clock can only be advanced to a time after its current "
                          "frozen_time.", param="frozen_time")
    clock["status"] = "advancing"
    clock["status_details"] = {"advancing": {"target_frozen_time": target}}
    ctx.emit("test_helpers.test_clock.advancing", clock)
    ctx.request = {"id": None, "idempotency_key": None}  # automatic, like Stripe's events
    answer = ctx.state.view(clock)
    try:
        loop = asyncio.get_running_loop()
    except RuntimeError:  # pragma: no cover - outside the server's loop
        _advance(ctx, clock, target)
        return answer
    loop.call_later(ctx.server.config.clock_advance_seconds, _advance, ctx, clock, target)
    return answer


def _advance(ctx: Ctx, clock: dict, target: int) -> None:
    from . import meter_validation

    if ctx.state.clocks.get(clock["id"]) is not clock:
        return  # deleted (or the account reset) meanwhile
    try:
        _run_until(ctx, clock, target, meter_validation)
    except Exception:
        clock.update(status="internal_failure", status_details={})
        raise
    clock.update(frozen_time=target, status="ready", status_details={})
    ctx.emit("test_helpers.test_clock.ready", clock)


def _run_until(ctx: Ctx, clock: dict, target: int, meter_validation) -> None:  # type: ignore[no-untyped-def]
    meter_validation.run(ctx.server)  # what was accepted so far counts on the closing invoices
    while True:
        period, draft = _due(ctx, clock, target), _draft_due(ctx, clock, target)
        if period is None and draft is None:
            break
        if draft is not None and (period is None or draft[0] <= period[0]):
            clock["frozen_time"] = max(clock["frozen_time"], draft[0])
            billing.finalize(ctx, draft[1])
        else:
            assert period is not None
            clock["frozen_time"] = period[0]
            close_period(ctx, period[1], period[0])
