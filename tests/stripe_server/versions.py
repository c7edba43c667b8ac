"""Events rendered at the API version of the webhook endpoint that receives them.

Stripe renders a snapshot event's object at the endpoint's ``api_version`` (set when the
endpoint is created; the account's default otherwise), and the event says which version in
``api_version``. This server stores objects in the shape of the SDK's pinned version and
renders, for older endpoints, the changes of 2025-03-31.basil that the service's shapes
depend on: subscriptions carried ``current_period_start``/``current_period_end`` (now on
their items) and invoices a top-level ``subscription`` (now under ``parent``).
"""

from __future__ import annotations

import copy
from typing import Any

from .store import API_VERSION

BASIL = "2025-03-31"


def render_for(event: dict[str, Any], api_version: str | None) -> dict[str, Any]:
    version = api_version or API_VERSION
    if version == event.get("api_version"):
        return event
    out = copy.deepcopy(event)
    out["api_version"] = version
    if version[:10] < BASIL:
        _before_basil(out["data"]["object"])
    return out


def _before_basil(obj: dict[str, Any]) -> None:
    if obj.get("object") == "subscription":
        items = (obj.get("items") or {}).get("data") or []
        if items:
            obj["current_period_start"] = items[0].get("current_period_start")
            obj["current_period_end"] = items[0].get("current_period_end")
    elif obj.get("object") == "invoice":
        details = (obj.get("parent") or {}).get("subscription_details") or {}
        obj["subscription"] = details.get("subscription")
