"""Background webhook delivery: signed POSTs, retries with backoff, an attempt log.

Each (event, endpoint) pair is delivered by its own task, so API calls never wait on
receivers. A non-2xx answer or a connection error is retried after
``retry_seconds * 2**attempt`` seconds, up to ``max_attempts`` attempts in all.
"""

from __future__ import annotations

import asyncio
import json
import time
from typing import Any

import httpx

from .routing import Server
from .signing import sign_payload
from .store import endpoint_wants
from .versions import render_for


class Deliverer:
    def __init__(self, server: Server) -> None:
        self.server = server
        self.tasks: set[asyncio.Task] = set()
        self._client: httpx.AsyncClient | None = None

    @property
    def client(self) -> httpx.AsyncClient:
        if self._client is None:
            self._client = httpx.AsyncClient(timeout=self.server.config.webhook_timeout)
        return self._client

    async def aclose(self) -> None:
        for task in list(self.tasks):
            task.cancel()
        if self._client is not None:
            await self._client.aclose()
            self._client = None

    def on_event(self, event: dict[str, Any]) -> None:
        for ep in self.server.state.webhook_endpoints.values():
            if ep["status"] == "enabled" and endpoint_wants(ep, event["type"]):
                self.schedule(event, ep)

    def schedule(self, event: dict[str, Any], endpoint: dict[str, Any], retries: bool = True) -> None:
        try:
            loop = asyncio.get_running_loop()
        except RuntimeError:  # pragma: no cover - emitted outside the loop
            return
        task = loop.create_task(self._deliver(event, endpoint, retries))
        self.tasks.add(task)
        task.add_done_callback(self.tasks.discard)

    async def _deliver(self, event: dict, endpoint: dict, retries: bool) -> None:
        cfg = self.server.config
        attempts = cfg.webhook_max_attempts if retries else 1
        for attempt in range(attempts):
            if await self.attempt(event, endpoint, attempt + 1):
                if not endpoint.get("thin") and event.get("pending_webhooks", 0) > 0:
                    event["pending_webhooks"] -= 1
                return
            if attempt + 1 < attempts:
                await asyncio.sleep(cfg.webhook_retry_seconds * (2 ** attempt))

    def schedule_thin(self, notification: dict[str, Any], destination: dict[str, Any]) -> None:
        """A thin event to an event destination, retried like a webhook."""
        target = {"id": destination["id"], "url": destination["webhook_endpoint"]["url"],
                  "secret": destination["webhook_endpoint"]["signing_secret"], "thin": True}
        self.schedule(notification, target)

    async def attempt(self, event: dict, endpoint: dict, number: int = 1) -> bool:
        rendered = event if endpoint.get("thin") else render_for(event, endpoint.get("api_version"))
        body = json.dumps(rendered, indent=2).encode()
        headers = {
            "Content-Type": "application/json; charset=utf-8",
            "User-Agent": "Stripe/1.0 (+https://stripe.com/docs/webhooks)",
            "Stripe-Signature": sign_payload(body, endpoint["secret"]),
        }
        record: dict[str, Any] = {"event_id": event["id"], "event_type": event["type"],
                                  "endpoint_id": endpoint["id"], "url": endpoint["url"],
                                  "attempt": number, "status": None, "error": None,
                                  "at": time.time()}
        self.server.state.deliveries.append(record)
        try:
            resp = await self.client.post(endpoint["url"], content=body, headers=headers)
            record["status"] = resp.status_code
            return 200 <= resp.status_code < 300
        except httpx.HTTPError as exc:
            record["error"] = f"{type(exc).__name__}: {exc}"
            return False

    async def deliver_in_order(self, endpoint: dict, events: list[dict]) -> list[dict]:
        """Deliver ``events`` one after another (one attempt each), in the given order."""
        results = []
        for event in events:
            ok = await self.attempt(event, endpoint)
            results.append({"event_id": event["id"], "ok": ok})
        return results

    async def idle(self, timeout: float = 10.0) -> None:
        """Wait until no delivery is in flight (handy in tests)."""
        deadline = time.monotonic() + timeout
        while self.tasks and time.monotonic() < deadline:
            await asyncio.sleep(0.01)
