"""The app served by uvicorn on a loopback port, with a webhook endpoint registered for it on
the local Stripe server, so Stripe's own deliveries (signed, retried) reach it over HTTP."""

from __future__ import annotations

import asyncio
import contextlib
import socket
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import stripe
import uvicorn
from pydantic import SecretStr

from licensing_api.accounts.models import Customer
from licensing_api.billing.provisioning import record_stripe_subscription
from licensing_api.billing.service import subscription_items, synced_plan
from licensing_api.db import session_scope
from licensing_api.main import create_app
from licensing_api.resources import Resources
from licensing_api.settings import Settings
from tests.stripe_server.pytest_plugin import StripeServerHandle
from tests.webhooks.builders import unique


@dataclass(frozen=True, slots=True)
class ServedApp:
    url: str
    endpoint_id: str
    settings: Settings


@contextlib.contextmanager
def served_app(
    settings: Settings, stripe_server: StripeServerHandle, thin_events: list[str] | None = None
) -> Iterator[ServedApp]:
    """`thin_events`: also an event destination sending these thin v2 events to the app
    (its signing secret added to STRIPE_WEBHOOK_SECRET, as the README says)."""
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind(("127.0.0.1", 0))
    url = f"http://127.0.0.1:{sock.getsockname()[1]}"
    client = stripe_server.stripe_client()
    endpoint = client.v1.webhook_endpoints.create(
        {"url": f"{url}/webhooks/stripe", "enabled_events": ["*"]})
    secrets = [endpoint.secret]
    destination = None
    if thin_events:
        destination = client.v2.core.event_destinations.create({
            "name": unique("service"), "type": "webhook_endpoint", "event_payload": "thin",
            "enabled_events": thin_events, "webhook_endpoint": {"url": f"{url}/webhooks/stripe"}})
        secrets.append(destination.webhook_endpoint.signing_secret)
    settings = settings.model_copy(update={"stripe_webhook_secret": SecretStr(",".join(secrets))})
    server = uvicorn.Server(uvicorn.Config(create_app(settings), log_level="warning",
                                           access_log=False, lifespan="on"))
    thread = threading.Thread(target=lambda: asyncio.run(server.serve(sockets=[sock])),
                              name="served-app", daemon=True)
    thread.start()
    deadline = time.monotonic() + 20
    while not server.started:
        if time.monotonic() > deadline or not thread.is_alive():
            raise RuntimeError("the app did not start")
        time.sleep(0.02)
    try:
        yield ServedApp(url, endpoint.id, settings)
    finally:
        client.v1.webhook_endpoints.delete(endpoint.id)
        if destination is not None:
            client.v2.core.event_destinations.delete(destination.id)
        server.should_exit = True
        thread.join(timeout=10)
        sock.close()


DELIVERY_WAIT_SECONDS = 15
PLAN = "standard"


def wait_for_deliveries(stripe_server: StripeServerHandle, served: ServedApp) -> list[dict[str, Any]]:
    """Every delivery attempt to the served app so far, once none is in flight."""
    return [d for d in stripe_server.deliveries(wait=DELIVERY_WAIT_SECONDS)
            if d["endpoint_id"] == served.endpoint_id]


async def provision(
    resources: Resources, stripe_client: stripe.StripeClient, clock: str | None = None,
    plan_id: str = PLAN,
) -> tuple[Customer, str, str]:
    """A Stripe customer paying the plan by card, mirrored locally; (customer, sub id, key)."""
    spec = resources.catalogue.get(plan_id)
    assert spec is not None
    async with session_scope(resources.sessionmaker) as session:
        plan = await synced_plan(session, spec)
        items = subscription_items(plan)
    email = f"{unique('crawler')}@example.com"
    params: dict[str, Any] = {
        "email": email, "invoice_settings": {"default_payment_method": "pm_card_visa"}}
    if clock:
        params["test_clock"] = clock
    stripe_customer = stripe_client.v1.customers.create(params)  # type: ignore[arg-type]
    subscription = stripe_client.v1.subscriptions.create(
        {"customer": stripe_customer.id, "items": items})  # type: ignore[typeddict-item]
    async with session_scope(resources.sessionmaker) as session:
        provisioned = await record_stripe_subscription(session, spec, email, subscription, "test")
    assert provisioned.first_key is not None
    return provisioned.customer, subscription.id, provisioned.first_key.secret
