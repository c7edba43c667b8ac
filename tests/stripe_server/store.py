"""In-memory state of the fake Stripe account, plus ids, templates and events.

Everything runs on the server's single event loop, so no locks are needed.
Objects are stored as plain JSON-ready dicts built from Stripe's own example objects
(``/work/shared/stripe/fixtures3.json``, mirrored in ``fixtures3.json`` beside this file
when present) so that shapes are genuine.
"""

from __future__ import annotations

import copy
import json
import secrets
import string
import time
from pathlib import Path
from typing import Any, Callable

API_VERSION = "2026-10-28.endive"  # stripe-python 16.1.0's pinned version

_FIXTURE_PATHS = [
    Path(__file__).with_name("fixtures3.json"),
    Path("/work/shared/stripe/fixtures3.json"),
]
_ALPHABET = string.ascii_letters + string.digits
_templates: dict[str, Any] | None = None


def template(resource: str) -> dict[str, Any]:
    """A deep copy of Stripe's example object for ``resource`` (e.g. ``"invoice"``)."""
    global _templates
    if _templates is None:
        for path in _FIXTURE_PATHS:
            if path.exists():
                _templates = json.loads(path.read_text())["resources"]
                break
        else:  # pragma: no cover - fixture missing
            raise RuntimeError("fixtures3.json not found")
    return copy.deepcopy(_templates[resource])


def new_id(prefix: str, length: int = 14) -> str:
    return prefix + "".join(secrets.choice(_ALPHABET) for _ in range(length))


class State:
    """All objects of the account, keyed by id, and the event log."""

    def __init__(self) -> None:
        self.reset()
        self.on_event: Callable[[dict[str, Any]], None] | None = None

    def reset(self) -> None:
        self.customers: dict[str, dict] = {}
        self.products: dict[str, dict] = {}
        self.prices: dict[str, dict] = {}
        self.price_tiers: dict[str, list[dict]] = {}
        self.meters: dict[str, dict] = {}
        self.meter_events: list[dict] = []
        self.meter_events_of: dict[tuple[str, str], list[dict]] = {}  # (meter, customer) → events
        self.meter_identifiers: dict[str, dict] = {}
        self.meter_errors: list[dict] = []
        self.meter_queue: list[dict] = []  # accepted meter events not validated yet
        self.event_destinations: dict[str, dict] = {}
        self.v2_events: dict[str, dict] = {}  # full v2 events, newest last
        self.draft_invoices: dict[str, int] = {}  # invoice id → when it finalizes (its clock)
        self.invoice_builds: dict[str, list] = {}  # invoice id → its lines' (builder, start, end)
        self.invoice_extra_lines: dict[str, list] = {}  # invoice id → lines claimed at creation
        self.meter_sessions: dict[str, dict] = {}
        self.subscriptions: dict[str, dict] = {}
        self.items: dict[str, dict] = {}
        self.invoices: dict[str, dict] = {}
        self.charges: dict[str, dict] = {}
        self.payment_intents: dict[str, dict] = {}
        self.refunds: dict[str, dict] = {}
        self.disputes: dict[str, dict] = {}
        self.payment_methods: dict[str, dict] = {}
        self.checkout_sessions: dict[str, dict] = {}
        self.portal_sessions: dict[str, dict] = {}
        self.clocks: dict[str, dict] = {}
        self.events: list[dict] = []
        self.events_by_id: dict[str, dict] = {}
        self.webhook_endpoints: dict[str, dict] = {}
        self.deliveries: list[dict] = []
        self.idempotency: dict[tuple[str, str], dict] = {}
        self.pm_behavior: dict[str, str] = {}
        self.deleted_customers: set[str] = set()
        self.charge_invoice: dict[str, str] = {}
        self.invoice_payments: dict[str, dict] = {}
        self.schedules: dict[str, dict] = {}
        self.invoice_items: dict[str, dict] = {}
        self.checkout_lines: dict[str, list] = {}
        self.checkout_sub_data: dict[str, dict] = {}
        self.invoice_seq = 0

    # -- time -----------------------------------------------------------
    @staticmethod
    def now() -> int:
        return int(time.time())

    def now_for_customer(self, customer_id: str | None) -> int:
        cus = self.customers.get(customer_id or "")
        if cus and cus.get("test_clock"):
            clock = self.clocks.get(cus["test_clock"])
            if clock:
                return clock["frozen_time"]
        return self.now()

    # -- lookup ---------------------------------------------------------
    def collections(self) -> dict[str, dict[str, dict]]:
        return {
            "sub_sched_": self.schedules, "inpay_": self.invoice_payments,
            "ii_": self.invoice_items,
            "cus_": self.customers, "prod_": self.products, "price_": self.prices,
            "mtr_": self.meters, "sub_": self.subscriptions, "si_": self.items,
            "in_": self.invoices, "ch_": self.charges, "pi_": self.payment_intents,
            "re_": self.refunds, "dp_": self.disputes, "pm_": self.payment_methods,
            "cs_": self.checkout_sessions, "bps_": self.portal_sessions,
            "clock_": self.clocks, "we_": self.webhook_endpoints, "evt_": self.events_by_id,
            "ed_": self.event_destinations,
        }

    renderers: dict[str, Callable[["State", dict], dict]] = {}

    def view(self, obj: dict) -> dict:
        """The object as the API shows it (a fresh copy, related data filled in)."""
        obj_id = obj.get("id", "")
        # The longest prefix wins: "sub_sched_…" is a schedule, not a subscription.
        matches = [prefix for prefix in self.renderers if obj_id.startswith(prefix)]
        if matches:
            return self.renderers[max(matches, key=len)](self, obj)
        return copy.deepcopy(obj)

    def find_rendered(self, obj_id: str) -> dict | None:
        obj = self.find(obj_id)
        return None if obj is None else self.view(obj)

    def find(self, obj_id: str) -> dict | None:
        matches = [(prefix, coll) for prefix, coll in self.collections().items()
                   if obj_id.startswith(prefix)]
        if not matches:
            return None
        return max(matches, key=lambda match: len(match[0]))[1].get(obj_id)

    # -- events ---------------------------------------------------------
    def emit(
        self,
        type_: str,
        obj: dict[str, Any],
        previous: dict[str, Any] | None = None,
        request: dict[str, Any] | None = None,
    ) -> dict[str, Any]:
        event = template("event")
        event.update(
            id=new_id("evt_1", 24),
            type=type_,
            created=self.now(),
            api_version=API_VERSION,
            livemode=False,
            pending_webhooks=0,
            request=request or {"id": None, "idempotency_key": None},
            data={"object": copy.deepcopy(obj)},
        )
        if previous:
            event["data"]["previous_attributes"] = copy.deepcopy(previous)
        for ep in self.webhook_endpoints.values():
            if ep["status"] == "enabled" and _matches(ep["enabled_events"], type_):
                event["pending_webhooks"] += 1
        self.events.insert(0, event)
        self.events_by_id[event["id"]] = event
        if self.on_event:
            self.on_event(event)
        return event


def _matches(enabled: list[str], type_: str) -> bool:
    return "*" in enabled or type_ in enabled


def endpoint_wants(endpoint: dict, type_: str) -> bool:
    return _matches(endpoint["enabled_events"], type_)
