"""Event destinations (``/v2/core/event_destinations``) and v2 events (``/v2/core/events``).

A destination of ``type=webhook_endpoint`` with ``event_payload=thin`` receives, for each v2
event it enabled, a signed thin notification (``object: v2.core.event``: id, type, created,
related object, no data); the receiver fetches the full event from ``/v2/core/events/{id}``
(stripe-python ``EventNotification.fetch_event``). The signing secret is shown on creation,
in ``webhook_endpoint.signing_secret``, and signs with the same scheme as webhooks.
"""

from __future__ import annotations

import copy
import secrets
from typing import Any

from ..routing import Ctx, Router
from ..store import State, new_id
from ..wire import StripeError, not_found
from .meter_validation import iso

router = Router()


def emit_v2(server: Any, type_: str, related_object: dict[str, Any] | None, data: dict[str, Any]) -> dict:
    state: State = server.state
    event = {"id": new_id("evt_test_65", 40), "object": "v2.core.event", "type": type_,
             "created": iso(state.now()), "livemode": False, "context": None, "reason": None,
             "data": data}
    if related_object is not None:
        event["related_object"] = related_object
    state.v2_events[event["id"]] = event
    for destination in state.event_destinations.values():
        if destination["status"] == "enabled" and type_ in destination["enabled_events"]:
            server.deliverer.schedule_thin(thin(event), destination)
    return event


def thin(event: dict[str, Any]) -> dict[str, Any]:
    return {k: copy.deepcopy(v) for k, v in event.items() if k != "data"}


def _view(destination: dict[str, Any], *, with_secret: bool = False) -> dict[str, Any]:
    out = copy.deepcopy(destination)
    if not with_secret and out.get("webhook_endpoint"):
        out["webhook_endpoint"]["signing_secret"] = None
    return out


State.renderers["ed_"] = lambda state, destination: _view(destination)


@router.route("POST", "/v2/core/event_destinations")
def create_destination(ctx: Ctx) -> dict:
    p = ctx.params
    if p["type"] != "webhook_endpoint":
        raise StripeError("Only type=webhook_endpoint is supported by this test server.", param="type")
    if not (p.get("webhook_endpoint") or {}).get("url"):
        raise StripeError("Missing required param: webhook_endpoint.url.", code="parameter_missing",
                          param="webhook_endpoint.url")
    now = iso(ctx.state.now())
    destination = {
        "id": new_id("ed_test_61", 40), "object": "v2.core.event_destination", "created": now,
        "updated": now, "description": p.get("description", ""), "enabled_events": list(p["enabled_events"]),
        "event_payload": p["event_payload"], "events_from": p.get("events_from"), "livemode": False,
        "metadata": p.get("metadata") or {}, "name": p["name"],
        "snapshot_api_version": p.get("snapshot_api_version"), "status": "enabled",
        "status_details": None, "type": "webhook_endpoint", "amazon_eventbridge": None,
        "azure_event_grid": None,
        "webhook_endpoint": {"url": p["webhook_endpoint"]["url"],
                             "signing_secret": "whsec_" + secrets.token_hex(32)},
    }
    ctx.state.event_destinations[destination["id"]] = destination
    return _view(destination, with_secret=True)


def _destination(ctx: Ctx) -> dict:
    found = ctx.state.event_destinations.get(ctx.path["id"])
    if found is None:
        raise not_found("event destination", ctx.path["id"])
    return found


@router.route("GET", "/v2/core/event_destinations/{id}")
def retrieve_destination(ctx: Ctx) -> dict:
    return _view(_destination(ctx))


@router.route("DELETE", "/v2/core/event_destinations/{id}")
def delete_destination(ctx: Ctx) -> dict:
    destination = _destination(ctx)
    del ctx.state.event_destinations[destination["id"]]
    return {"id": destination["id"], "object": "v2.core.event_destination", "deleted": True}


@router.route("GET", "/v2/core/event_destinations")
def list_destinations(ctx: Ctx) -> dict:
    data = [_view(d) for d in reversed(ctx.state.event_destinations.values())]
    return {"data": data, "next_page_url": None, "previous_page_url": None}


@router.route("GET", "/v2/core/events/{id}")
def retrieve_event(ctx: Ctx) -> dict:
    event = ctx.state.v2_events.get(ctx.path["id"])
    if event is None:
        raise not_found("event", ctx.path["id"])
    return copy.deepcopy(event)


@router.route("GET", "/v2/core/events")
def list_events(ctx: Ctx) -> dict:
    events = list(reversed(ctx.state.v2_events.values()))
    if ctx.params.get("object_id"):
        events = [e for e in events if (e.get("related_object") or {}).get("id") == ctx.params["object_id"]]
    return {"data": [copy.deepcopy(e) for e in events[:100]], "next_page_url": None, "previous_page_url": None}


