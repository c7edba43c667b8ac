"""Events (``/v1/events``) and webhook endpoints (``/v1/webhook_endpoints``)."""

from __future__ import annotations

import secrets

from ..routing import Ctx, Router
from ..store import API_VERSION, State, new_id, template
from ..wire import StripeError, as_int, check_allowed, list_object, merge_metadata, not_found, require

router = Router()


def _created_filter(items: list[dict], params: dict) -> list[dict]:
    created = params.get("created")
    if isinstance(created, dict):
        for op, fn in (("gt", lambda a, b: a > b), ("gte", lambda a, b: a >= b),
                       ("lt", lambda a, b: a < b), ("lte", lambda a, b: a <= b)):
            if op in created:
                bound = int(created[op])
                items = [e for e in items if fn(e["created"], bound)]
    elif created not in (None, ""):
        items = [e for e in items if e["created"] == as_int(params, "created")]
    return items


@router.route("GET", "/v1/events")
def list_events(ctx: Ctx) -> dict:
    p = ctx.params
    items = ctx.state.events
    if p.get("type"):
        t = p["type"]
        items = [e for e in items if (e["type"].startswith(t[:-1]) if t.endswith("*") else e["type"] == t)]
    if p.get("types"):
        types = p["types"] if isinstance(p["types"], list) else list(p["types"].values())
        items = [e for e in items if e["type"] in types]
    items = _created_filter(items, p)
    return list_object([ctx.state.view(e) for e in items], p, "/v1/events")


@router.route("GET", "/v1/events/{id}")
def retrieve_event(ctx: Ctx) -> dict:
    event = ctx.state.events_by_id.get(ctx.path["id"])
    if event is None:
        raise not_found("event", ctx.path["id"])
    return ctx.state.view(event)


_WE_PARAMS = {"url", "enabled_events", "description", "metadata", "api_version", "connect",
              "disabled"}


def _enabled(value: object) -> list[str]:
    if isinstance(value, dict):
        value = list(value.values())
    if isinstance(value, str):
        value = [value]
    if not value:
        raise StripeError("Missing required param: enabled_events.", code="parameter_missing",
                          param="enabled_events")
    return list(value)


def render_endpoint(state: State, ep: dict) -> dict:
    out = dict(ep)
    out.pop("secret", None)
    return out


State.renderers["we_"] = render_endpoint


@router.route("POST", "/v1/webhook_endpoints")
def create_endpoint(ctx: Ctx) -> dict:
    p = ctx.params
    check_allowed(p, _WE_PARAMS)
    ep = template("webhook_endpoint")
    ep.update(id=new_id("we_1", 24), created=ctx.state.now(), url=require(p, "url"),
              enabled_events=_enabled(p.get("enabled_events")), description=p.get("description"),
              metadata=merge_metadata({}, p.get("metadata")),
              api_version=p.get("api_version") or API_VERSION, status="enabled",
              secret="whsec_" + secrets.token_hex(32))
    ctx.state.webhook_endpoints[ep["id"]] = ep
    return dict(ep)  # the secret is shown on creation only


@router.route("GET", "/v1/webhook_endpoints/{id}")
def retrieve_endpoint(ctx: Ctx) -> dict:
    ep = ctx.state.webhook_endpoints.get(ctx.path["id"])
    if ep is None:
        raise not_found("webhook endpoint", ctx.path["id"])
    return ctx.state.view(ep)


@router.route("POST", "/v1/webhook_endpoints/{id}")
def update_endpoint(ctx: Ctx) -> dict:
    p = ctx.params
    check_allowed(p, _WE_PARAMS - {"connect", "api_version"})
    ep = ctx.state.webhook_endpoints.get(ctx.path["id"])
    if ep is None:
        raise not_found("webhook endpoint", ctx.path["id"])
    if p.get("url"):
        ep["url"] = p["url"]
    if "enabled_events" in p:
        ep["enabled_events"] = _enabled(p["enabled_events"])
    if "description" in p:
        ep["description"] = p["description"] or None
    if "metadata" in p:
        ep["metadata"] = merge_metadata(ep["metadata"], p["metadata"])
    if "disabled" in p:
        ep["status"] = "disabled" if str(p["disabled"]).lower() == "true" else "enabled"
    return ctx.state.view(ep)


@router.route("DELETE", "/v1/webhook_endpoints/{id}")
def delete_endpoint(ctx: Ctx) -> dict:
    ep = ctx.state.webhook_endpoints.pop(ctx.path["id"], None)
    if ep is None:
        raise not_found("webhook endpoint", ctx.path["id"])
    return {"id": ep["id"], "object": "webhook_endpoint", "deleted": True}


@router.route("GET", "/v1/webhook_endpoints")
def list_endpoints(ctx: Ctx) -> dict:
    items = [ctx.state.view(e) for e in reversed(ctx.state.webhook_endpoints.values())]
    return list_object(items, ctx.params, "/v1/webhook_endpoints")
