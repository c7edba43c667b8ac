"""Asynchronous meter event validation, and the error reports Stripe sends about it.

Stripe accepts meter events and validates them later ("Events are processed asynchronously,
including validation"; stripe-python ``MeterEventStreamService.create``); rejected ones are
reported per meter by a thin event ``v1.billing.meter.error_report_triggered`` (or
``v1.billing.meter.no_meter_found`` when the event names no meter) sent to event
destinations, whose data (``GET /v2/core/events/{id}``) has, per error code, a count and
sample errors naming each event's ``identifier`` (docs.stripe.com/api/v2/core/events/object
example; codes from stripe-python ``_v1_billing_meter_error_report_triggered_event.py``).

Here every accepted event waits in ``state.meter_queue``; a validation run (``Config.
meter_validation_seconds`` after the first queued event, or at once through
``POST /_control/meter_events/validate``, before a clock advances and before
``/_control/meter_total`` answers) records the valid ones and reports the others, one error
report per meter (at most ``Config.meter_error_samples`` samples per code). Until then an
event counts nowhere, as on Stripe, whose summaries lag behind recent events.
"""

from __future__ import annotations

import asyncio
import datetime as dt
from collections import defaultdict
from decimal import Decimal, InvalidOperation
from typing import Any

from ..store import State
from ..wire import StripeError

MAX_AGE = 35 * 24 * 3600
MAX_FUTURE = 5 * 60
DEDUP_WINDOW = 24 * 3600


def iso(ts: float) -> str:
    return dt.datetime.fromtimestamp(ts, dt.timezone.utc).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def duplicate(identifier: str) -> StripeError:
    # No `param`, as the error other integrations documented it (langfuse/langfuse PR #16292).
    return StripeError(f"An event already exists with identifier {identifier}.",
                       headers={"Stripe-Should-Retry": "false"})


def seen_recently(state: State, identifier: str, now: int) -> bool:
    """Stripe enforces identifier uniqueness within a rolling 24 h (on the customer's clock)."""
    seen = state.meter_identifiers.get(identifier)
    if seen is not None and seen["received"] > now - DEDUP_WINDOW:
        return True
    return any(q["identifier"] == identifier for q in state.meter_queue)


def timestamp_error(ts: int, now: int) -> StripeError | None:
    if ts < now - MAX_AGE:
        return StripeError(
            "The event timestamp cannot be more than 35 days in past. Expected a timestamp "
            f"greater than or equal to {now - MAX_AGE}.", code="timestamp_too_far_in_past", param="timestamp")
    if ts > now + MAX_FUTURE:
        return StripeError(
            "The event timestamp cannot be more than 5 minutes in the future. Expected a "
            f"timestamp less than or equal to {now + MAX_FUTURE}.", code="timestamp_in_future", param="timestamp")
    return None


def queue(server: Any, event: dict[str, Any]) -> None:
    server.state.meter_queue.append(event)
    try:
        loop = asyncio.get_running_loop()
    except RuntimeError:  # pragma: no cover - outside the server's loop
        return
    if getattr(server, "_validation_handle", None) is None:
        server._validation_handle = loop.call_later(server.config.meter_validation_seconds, run, server)


def run(server: Any) -> dict[str, int]:
    """Validate every queued event: record the valid ones, report the others."""
    server._validation_handle = None
    state: State = server.state
    batch, state.meter_queue = state.meter_queue, []
    rejected: dict[str | None, list[tuple[dict[str, Any], StripeError]]] = defaultdict(list)
    for event in batch:
        try:
            record(state, event)
        except StripeError as err:
            meter = _meter_for(state, event["event_name"])
            rejected[meter["id"] if meter else None].append((event, err))
            state.meter_errors.append({"event": event["raw"], "code": err.code, "message": err.message,
                                       "at": state.now()})
    for meter_id, errors in rejected.items():
        _report(server, meter_id, errors, batch[0]["received_wall"])
    return {"validated": len(batch), "rejected": sum(len(e) for e in rejected.values())}


def _meter_for(state: State, event_name: str) -> dict[str, Any] | None:
    active = [m for m in state.meters.values() if m["event_name"] == event_name]
    return next((m for m in active if m["status"] == "active"), active[0] if active else None)


def record(state: State, event: dict[str, Any]) -> None:
    meter = _meter_for(state, event["event_name"])
    if meter is None or meter["status"] != "active":
        raise StripeError(f"No active meter was found for event_name `{event['event_name']}`.",
                          code="archived_meter" if meter else "no_meter")
    payload = event["payload"]
    cus_key = meter["customer_mapping"]["event_payload_key"]
    customer_id = payload.get(cus_key)
    if not customer_id:
        raise StripeError(f"Customer mapping key {cus_key} not found in payload.",
                          code="meter_event_no_customer_defined")
    if customer_id not in state.customers:
        raise StripeError(f"No customer with id '{customer_id}' exists.", code="meter_event_customer_not_found")
    val_key = meter["value_settings"]["event_payload_key"]
    raw = payload.get(val_key, "1" if meter["default_aggregation"]["formula"] == "count" else None)
    try:
        value = Decimal(str(raw))
        if not value.is_finite():
            raise InvalidOperation
    except (InvalidOperation, ValueError):
        raise StripeError(f"Value key {val_key} must be a number.", code="meter_event_invalid_value") from None
    now = state.now_for_customer(customer_id)
    ts = now if event["timestamp"] is None else event["timestamp"]
    problem = timestamp_error(ts, now)
    if problem is not None:
        raise problem
    identifier = event["identifier"]
    seen = state.meter_identifiers.get(identifier)
    if seen is not None and seen["received"] > now - DEDUP_WINDOW:
        return  # a duplicate: counted once, not an error
    recorded = {"identifier": identifier, "event_name": event["event_name"], "meter": meter["id"],
                "customer": customer_id, "value": value, "timestamp": ts, "received": now,
                "source": event["source"], "payload": {k: str(v) for k, v in payload.items()}}
    state.meter_events.append(recorded)
    state.meter_events_of.setdefault((meter["id"], customer_id), []).append(recorded)
    state.meter_identifiers[identifier] = recorded


def _report(server: Any, meter_id: str | None, errors: list[tuple[dict[str, Any], StripeError]],
            started: float) -> None:
    from .event_destinations import emit_v2

    by_code: dict[str, list[tuple[dict[str, Any], StripeError]]] = defaultdict(list)
    for event, err in errors:
        by_code[err.code or "unknown"].append((event, err))
    samples = server.config.meter_error_samples
    reason = {"error_count": len(errors), "error_types": [
        {"code": code, "error_count": len(items), "sample_errors": [
            {"error_message": err.message, "request": {"identifier": event["identifier"]}}
            for event, err in items[:samples]]}
        for code, items in sorted(by_code.items())]}
    count = len(errors)
    data = {"developer_message_summary": f"There {'is' if count == 1 else 'are'} {count} invalid "
                                         f"event{'' if count == 1 else 's'}",
            "reason": reason, "validation_start": iso(started), "validation_end": iso(server.state.now())}
    if meter_id is None:
        emit_v2(server, "v1.billing.meter.no_meter_found", None, data)
    else:
        emit_v2(server, "v1.billing.meter.error_report_triggered",
                {"id": meter_id, "type": "billing.meter", "url": f"/v1/billing/meters/{meter_id}"}, data)
