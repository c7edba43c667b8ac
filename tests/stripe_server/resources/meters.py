"""Billing meters, v1 meter events, event summaries, and the v2 session + stream.

Stripe behaviour reproduced (sources in brackets):

- ``timestamp`` must be within the past 35 calendar days and at most 5 minutes in the
  future [docs.stripe.com/api/v2/billing-meter/object, ``timestamp``]. The v1 error text
  for an old event is Stripe's own: "The event timestamp cannot be more than 35 days in
  past. Expected a timestamp greater than or equal to N." [the-answerai/theanswer PR
  #624]. For customers on a test clock, "now" is the clock's frozen time.
- ``identifier`` is unique in a rolling 24 h window (on the customer's test clock, if
  any); a duplicate is rejected with 400 ``invalid_request_error`` "An event already
  exists with identifier X." and header ``Stripe-Should-Retry: false``, without ``param``
  or ``code`` (as langfuse/langfuse PR #16292 documents it), and is counted once.
- Meter events are accepted, then validated asynchronously (``meter_validation.py``):
  unknown meter, deactivated meter, customer missing from the payload or unknown, a value
  that is not a number come back in a meter error report (a thin v2 event to event
  destinations), never in the answer. v1 checks only the identifier and the timestamp at
  once; the v2 stream checks nothing at once and answers ``{}``.
- v2 stream: JSON ``{"events": [...]}``, at most 100 per call, Bearer = the session's
  ``authentication_token`` (valid 15 minutes; expired → 401 ``temporary_session_expired``
  / ``billing_meter_event_session_expired``).
- Event summaries: ``start_time`` inclusive, ``end_time`` exclusive, both aligned to
  minute boundaries (or to the hour/day of ``value_grouping_window``).
"""

from __future__ import annotations

import datetime as dt
import secrets
from decimal import Decimal
from typing import Any

from ..routing import Ctx, Router
from ..store import State, new_id, template
from ..wire import StripeError, as_int, check_allowed, list_object, not_found, require
from . import meter_validation

router = Router()

def _meter(state: State, meter_id: str, param: str = "id") -> dict:
    meter = state.meters.get(meter_id)
    if meter is None:
        raise not_found("billing meter", meter_id, param)
    return meter


@router.route("POST", "/v1/billing/meters")
def create_meter(ctx: Ctx) -> dict:
    p, state = ctx.params, ctx.state
    check_allowed(p, {"display_name", "event_name", "default_aggregation", "customer_mapping",
                      "value_settings", "event_time_window"})
    display = require(p, "display_name")
    event_name = require(p, "event_name")
    agg = p.get("default_aggregation")
    if not isinstance(agg, dict) or not agg.get("formula"):
        raise StripeError("Missing required param: default_aggregation.",
                          code="parameter_missing", param="default_aggregation")
    if agg["formula"] not in ("sum", "count", "last"):
        raise StripeError(f"Invalid default_aggregation[formula]: {agg['formula']}",
                          param="default_aggregation[formula]")
    for other in state.meters.values():
        if other["event_name"] == event_name and other["status"] == "active":
            raise StripeError(f"An active meter with event_name `{event_name}` already exists.",
                              param="event_name")
    mapping = p.get("customer_mapping") or {}
    values = p.get("value_settings") or {}
    meter = template("billing.meter")
    now = state.now()
    meter.update(id=new_id("mtr_test_61", 29), created=now, updated=now, livemode=False,
                 display_name=display, event_name=event_name,
                 default_aggregation={"formula": agg["formula"]},
                 customer_mapping={"event_payload_key": mapping.get("event_payload_key", "stripe_customer_id"),
                                   "type": mapping.get("type", "by_id")},
                 value_settings={"event_payload_key": values.get("event_payload_key", "value")},
                 event_time_window=p.get("event_time_window"), status="active",
                 status_transitions={"deactivated_at": None})
    state.meters[meter["id"]] = meter
    return state.view(meter)


@router.route("GET", "/v1/billing/meters/{id}")
def retrieve_meter(ctx: Ctx) -> dict:
    return ctx.state.view(_meter(ctx.state, ctx.path["id"]))


@router.route("POST", "/v1/billing/meters/{id}")
def update_meter(ctx: Ctx) -> dict:
    check_allowed(ctx.params, {"display_name"})
    meter = _meter(ctx.state, ctx.path["id"])
    if ctx.params.get("display_name"):
        meter["display_name"] = ctx.params["display_name"]
        meter["updated"] = ctx.state.now()
    return ctx.state.view(meter)


@router.route("POST", "/v1/billing/meters/{id}/deactivate")
def deactivate_meter(ctx: Ctx) -> dict:
    meter = _meter(ctx.state, ctx.path["id"])
    meter.update(status="inactive", updated=ctx.state.now(),
                 status_transitions={"deactivated_at": ctx.state.now()})
    return ctx.state.view(meter)


@router.route("POST", "/v1/billing/meters/{id}/reactivate")
def reactivate_meter(ctx: Ctx) -> dict:
    meter = _meter(ctx.state, ctx.path["id"])
    meter.update(status="active", updated=ctx.state.now(),
                 status_transitions={"deactivated_at": None})
    return ctx.state.view(meter)


@router.route("GET", "/v1/billing/meters")
def list_meters(ctx: Ctx) -> dict:
    items = list(ctx.state.meters.values())
    if ctx.params.get("status"):
        items = [m for m in items if m["status"] == ctx.params["status"]]
    return list_object([ctx.state.view(m) for m in reversed(items)], ctx.params,
                       "/v1/billing/meters")


def accept_meter_event(server: Any, event_name: object, payload: object, identifier: object,
                       timestamp: int | None, source: str, raw: dict) -> dict:
    """Accept one meter event for asynchronous validation (`meter_validation.py`).

    Checked at once, as Stripe does on v1: the identifier is not a duplicate within 24 h
    and the timestamp is in range. Everything else is validated later."""
    if not isinstance(payload, dict):
        raise StripeError("Missing required param: payload.", code="parameter_missing", param="payload")
    state: State = server.state
    customer = next((v for k, v in payload.items() if k == "stripe_customer_id"), None)
    now = state.now_for_customer(customer if isinstance(customer, str) else None)
    identifier = str(identifier) if identifier else new_id("", 32)
    if source == "v1":
        if meter_validation.seen_recently(state, identifier, now):
            raise meter_validation.duplicate(identifier)
        problem = meter_validation.timestamp_error(now if timestamp is None else timestamp, now)
        if problem is not None:
            raise problem
    event = {"identifier": identifier, "event_name": str(event_name), "payload": payload,
             "timestamp": timestamp, "source": source, "received_wall": state.now(), "raw": raw}
    meter_validation.queue(server, event)
    return event


@router.route("POST", "/v1/billing/meter_events")
def create_meter_event(ctx: Ctx) -> dict:
    p = ctx.params
    event = accept_meter_event(ctx.server, p["event_name"], p["payload"], p.get("identifier"),
                               as_int(p, "timestamp"), "v1", dict(p))
    customer = event["payload"].get("stripe_customer_id")
    out = template("billing.meter_event")
    now = ctx.state.now_for_customer(customer if isinstance(customer, str) else None)
    out.update(created=now, event_name=event["event_name"], identifier=event["identifier"],
               livemode=False, payload={k: str(v) for k, v in event["payload"].items()},
               timestamp=event["timestamp"] if event["timestamp"] is not None else now)
    return out


def meter_total(state: State, meter: dict, customer: str, start: int | None, end: int | None) -> Decimal:
    events = [e for e in state.meter_events_of.get((meter["id"], customer), [])
              if (start is None or e["timestamp"] >= start) and (end is None or e["timestamp"] < end)]
    formula = meter["default_aggregation"]["formula"]
    if formula == "count":
        return Decimal(len(events))
    if formula == "last":
        return max(events, key=lambda e: e["timestamp"])["value"] if events else Decimal(0)
    return sum((e["value"] for e in events), Decimal(0))


def _number(d: Decimal) -> int | float:
    return int(d) if d == d.to_integral() else float(d)


@router.route("GET", "/v1/billing/meters/{id}/event_summaries")
def event_summaries(ctx: Ctx) -> dict:
    p, state = ctx.params, ctx.state
    check_allowed(p, {"customer", "start_time", "end_time", "value_grouping_window", "limit",
                      "starting_after", "ending_before"})
    meter = _meter(state, ctx.path["id"])
    customer = require(p, "customer")
    if customer not in state.customers:
        raise not_found("customer", customer, "customer")
    start, end = as_int(p, "start_time"), as_int(p, "end_time")
    if start is None:
        require(p, "start_time")
    if end is None:
        require(p, "end_time")
    window = p.get("value_grouping_window")
    step = {"hour": 3600, "day": 86400, None: None}.get(window, -1)
    if step == -1:
        raise StripeError(f"Invalid value_grouping_window: {window}", param="value_grouping_window")
    align = step or 60
    for name, value in (("start_time", start), ("end_time", end)):
        if value % align:
            raise StripeError(f"{name} must be aligned with "
                              f"{'minute' if not step else window} boundaries.", param=name)
    if end <= start:
        raise StripeError("end_time must be after start_time.", param="end_time")
    bounds = [(start, end)] if not step else [(t, min(t + step, end)) for t in range(start, end, step)]
    data = []
    for lo, hi in reversed(bounds):
        summary = template("billing.meter_event_summary")
        summary.update(id=f"mtrusg_{meter['id'][-10:]}_{customer[-6:]}_{lo}", meter=meter["id"],
                       start_time=lo, end_time=hi, livemode=False,
                       aggregated_value=_number(meter_total(state, meter, customer, lo, hi)))
        data.append(summary)
    return list_object(data, p, f"/v1/billing/meters/{meter['id']}/event_summaries")


def _iso(ts: float) -> str:
    return dt.datetime.fromtimestamp(ts, dt.timezone.utc).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def _parse_iso(value: object) -> int:
    try:
        return int(dt.datetime.fromisoformat(str(value).replace("Z", "+00:00")).timestamp())
    except ValueError:
        raise StripeError(f"Invalid timestamp: {value}", param="timestamp") from None


@router.route("POST", "/v2/billing/meter_event_session")
def create_session(ctx: Ctx) -> dict:
    state = ctx.state
    now = state.now()
    token = "mes_tok_" + secrets.token_urlsafe(32)
    expires = now + ctx.server.config.meter_session_ttl
    session = {"id": new_id("mes_61", 26), "object": "v2.billing.meter_event_session",
               "authentication_token": token, "created": _iso(now), "expires_at": _iso(expires),
               "livemode": False}
    state.meter_sessions[token] = dict(session, expires_at_unix=expires)
    return session


@router.route("POST", "/v2/billing/meter_event_stream", session_auth=True)
def stream_events(ctx: Ctx) -> dict:
    events = ctx.params["events"]
    if not events:
        raise StripeError("Missing required param: events.", code="parameter_missing", param="events")
    if len(events) > 100:
        raise StripeError("events must contain at most 100 items.", param="events")
    for ev in events:  # all validated later: a bad one is reported, never refused here
        ts = _parse_iso(ev["timestamp"]) if ev.get("timestamp") else None
        accept_meter_event(ctx.server, ev["event_name"], ev["payload"], ev.get("identifier"), ts, "v2", ev)
    return {}
