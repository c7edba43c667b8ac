"""Small builders shared by this package's tests (not used by the server)."""

from __future__ import annotations

import asyncio
import http.server
import json
import threading
import time
import uuid
from typing import Any

import stripe


def advance_clock(client: stripe.StripeClient, clock_id: str, frozen_time: int,
                  timeout: float = 30.0) -> Any:
    """Advance a test clock and wait until Stripe says it is `ready` (it is `advancing` first)."""
    clock = client.v1.test_helpers.test_clocks.advance(clock_id, {"frozen_time": frozen_time})
    deadline = time.monotonic() + timeout
    while clock.status != "ready" or clock.frozen_time != frozen_time:
        if clock.status == "internal_failure" or time.monotonic() > deadline:
            raise AssertionError(f"test clock {clock_id} is {clock.status} at {clock.frozen_time}, "
                                 f"not ready at {frozen_time}")
        time.sleep(0.02)
        clock = client.v1.test_helpers.test_clocks.retrieve(clock_id)
    return clock


async def advance_clock_async(client: stripe.StripeClient, clock_id: str, frozen_time: int,
                              timeout: float = 30.0) -> Any:
    """`advance_clock` for async callers."""
    clock = await client.v1.test_helpers.test_clocks.advance_async(clock_id, {"frozen_time": frozen_time})
    deadline = time.monotonic() + timeout
    while clock.status != "ready" or clock.frozen_time != frozen_time:
        if clock.status == "internal_failure" or time.monotonic() > deadline:
            raise AssertionError(f"test clock {clock_id} is {clock.status} at {clock.frozen_time}, "
                                 f"not ready at {frozen_time}")
        await asyncio.sleep(0.02)
        clock = await client.v1.test_helpers.test_clocks.retrieve_async(clock_id)
    return clock


def unique(prefix: str) -> str:
    return f"{prefix}_{uuid.uuid4().hex[:10]}"


def metered_plan(client: stripe.StripeClient, base_fee: int = 10000) -> dict[str, Any]:
    """A meter, a base price and a graduated metered price: 1,000 free then 0.1 cent each."""
    event_name = unique("requests")
    meter = client.v1.billing.meters.create({
        "display_name": "Requests", "event_name": event_name,
        "default_aggregation": {"formula": "sum"}})
    product = client.v1.products.create({"name": unique("Plan")})
    base = client.v1.prices.create({
        "currency": "usd", "product": product.id, "unit_amount": base_fee,
        "recurring": {"interval": "month"}})
    metered = client.v1.prices.create({
        "currency": "usd", "product": product.id, "billing_scheme": "tiered",
        "tiers_mode": "graduated",
        "recurring": {"interval": "month", "usage_type": "metered", "meter": meter.id},
        "tiers": [{"up_to": 1000, "unit_amount": 0},
                  {"up_to": "inf", "unit_amount_decimal": "0.1"}]})
    return {"meter": meter, "event_name": event_name, "product": product, "base": base,
            "metered": metered}


class Receiver:
    """A tiny webhook receiver on a loopback port; answers with queued status codes."""

    def __init__(self) -> None:
        self.received: list[dict[str, Any]] = []
        self.statuses: list[int] = []
        outer = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_POST(self) -> None:  # noqa: N802
                body = self.rfile.read(int(self.headers["Content-Length"]))
                outer.received.append({"body": body, "signature": self.headers["Stripe-Signature"],
                                       "type": json.loads(body)["type"]})
                status = outer.statuses.pop(0) if outer.statuses else 200
                self.send_response(status)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, *args: Any) -> None:
                pass

        self.httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}/webhooks/stripe"
        threading.Thread(target=self.httpd.serve_forever, daemon=True).start()

    def close(self) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()
