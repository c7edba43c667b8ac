"""pytest integration: a session-wide fake Stripe server and a client fixture.

Load it from the top-level conftest::

    pytest_plugins = ["tests.stripe_server.pytest_plugin"]

Fixtures:

- ``stripe_server`` (session scope): a :class:`StripeServerHandle` for a server running
  in a background thread on a free loopback port.
- ``stripe_client`` (function scope): ``stripe_server.stripe_client()``. State is **not**
  reset between tests (tests may share the server); call ``stripe_server.reset()``
  yourself when a test needs an empty account, and prefer fresh customers/meters per test.

Outside pytest, ``with running_server() as handle: ...`` gives the same handle.
"""

from __future__ import annotations

import asyncio
import contextlib
import socket
import threading
import time
from typing import Any, Iterator

import httpx
import pytest
import stripe
import uvicorn

from .app import create_app
from .routing import Config

API_KEY = "sk_test_fakestripe_0123456789abcdef"


class StripeServerHandle:
    """Where the server is, plus synchronous calls to its ``/_control`` API."""

    def __init__(self, url: str, api_key: str = API_KEY, app: Any = None) -> None:
        self.url = url
        self.api_key = api_key
        self.app = app
        self._http = httpx.Client(base_url=url, timeout=30)

    # -- clients --------------------------------------------------------
    def stripe_client(self, **kw: Any) -> stripe.StripeClient:
        """A ``stripe.StripeClient`` whose every base address points at this server."""
        kw.setdefault("max_network_retries", 0)
        if "http_client" not in kw:
            kw["http_client"] = stripe.HTTPXClient(allow_sync_methods=True, timeout=kw.pop("timeout", 30))
        api_key = kw.pop("api_key", self.api_key)
        base = {"api": self.url, "meter_events": self.url, "files": self.url,
                "connect": self.url}
        base.update(kw.pop("base_addresses", {}))
        return stripe.StripeClient(api_key, base_addresses=base, **kw)

    # -- control --------------------------------------------------------
    def _post(self, path: str, json: Any = None) -> Any:
        resp = self._http.post(path, json=json)
        resp.raise_for_status()
        return resp.json()

    def reset(self) -> None:
        """Wipe every object, event, delivery and fault."""
        self._post("/_control/reset")

    def inject_fault(self, method: str, path_pattern: str, kind: str, count: int = 1,
                     **params: Any) -> None:
        """Next ``count`` requests matching method (or ``*``) and path glob get ``kind``:
        ``rate_limit`` (retry_after=), ``error``, ``delay`` (seconds=), ``drop``,
        ``commit_then_fail`` (then="error"|"drop")."""
        self._post("/_control/faults", {"method": method, "path": path_pattern, "kind": kind,
                                         "count": count, **params})

    def clear_faults(self) -> None:
        self._http.delete("/_control/faults").raise_for_status()

    def set_rate_limits(self, profile: str = "live", **overrides: float) -> dict:
        """``off`` | ``live`` | ``test``; overrides per bucket: read, write, meter_events,
        meter_event_stream (per second)."""
        return self._post("/_control/rate_limits", {"profile": profile, "overrides": overrides})

    def complete_checkout(self, session_id: str, payment_method: str = "pm_card_visa") -> dict:
        """Pay a Checkout Session as a buyer would; returns {session, redirect_url}."""
        return self._post(f"/_control/checkout_sessions/{session_id}/complete",
                          {"payment_method": payment_method})

    def open_dispute(self, charge_id: str, reason: str = "fraudulent") -> dict:
        return self._post(f"/_control/charges/{charge_id}/dispute", {"reason": reason})

    def deliveries(self, wait: float | None = None) -> list[dict]:
        """Every webhook delivery attempt (event_id, endpoint_id, url, attempt, status,
        error). ``wait`` seconds: first wait until no delivery is in flight."""
        params = {"wait": wait} if wait else None
        resp = self._http.get("/_control/deliveries", params=params)
        resp.raise_for_status()
        return resp.json()["data"]

    def redeliver(self, event_id: str, endpoint: str | None = None) -> None:
        """Deliver ``event_id`` again (one attempt) to its endpoints (or one endpoint)."""
        self._post(f"/_control/events/{event_id}/redeliver", {"endpoint": endpoint})

    def deliver_events(self, endpoint_url_or_id: str, event_ids: list[str]) -> list[dict]:
        """Deliver the events to one endpoint in exactly this order; waits for each."""
        return self._post("/_control/deliver", {"endpoint": endpoint_url_or_id,
                                                "event_ids": list(event_ids)})["results"]

    def meter_event_total(self, meter_id_or_event_name: str, customer_id: str,
                          start: int | None = None, end: int | None = None) -> int | float:
        """Aggregated value of recorded meter events (``start`` inclusive, ``end`` exclusive)."""
        params: dict[str, Any] = {"meter": meter_id_or_event_name, "customer": customer_id}
        if start is not None:
            params["start"] = start
        if end is not None:
            params["end"] = end
        resp = self._http.get("/_control/meter_total", params=params)
        resp.raise_for_status()
        return resp.json()["total"]

    def configure(self, **settings: Any) -> dict:
        """Change server settings (`routing.Config`), e.g. `finalization_grace_seconds=0`."""
        return self._post("/_control/config", settings)

    @contextlib.contextmanager
    def configured(self, **settings: Any) -> Iterator[None]:
        """Server settings changed for the block, then put back (the server is shared)."""
        before = self._http.get("/_control/config").json()
        self.configure(**settings)
        try:
            yield
        finally:
            self.configure(**{name: before[name] for name in settings})

    def validate_meter_events(self) -> dict:
        """Run the asynchronous meter event validation now (error reports included)."""
        return self._post("/_control/meter_events/validate")

    def meter_errors(self) -> list[dict]:
        """Events the v2 stream accepted but dropped during asynchronous validation."""
        resp = self._http.get("/_control/meter_errors")
        resp.raise_for_status()
        return resp.json()["data"]

    def close(self) -> None:
        self._http.close()


@contextlib.contextmanager
def running_server(rate_limits: str = "live", config: Config | None = None) -> Iterator[StripeServerHandle]:
    """Run the server in a daemon thread on a free port for the duration of the block."""
    config = config or Config(webhook_retry_seconds=0.05, webhook_max_attempts=4)
    app = create_app(config, rate_limits)
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind(("127.0.0.1", 0))
    port = sock.getsockname()[1]
    server = uvicorn.Server(uvicorn.Config(app, log_level="warning", access_log=False,
                                           lifespan="on"))
    thread = threading.Thread(target=lambda: asyncio.run(server.serve(sockets=[sock])),
                              name="stripe-server", daemon=True)
    thread.start()
    deadline = time.monotonic() + 10
    while not server.started:
        if time.monotonic() > deadline or not thread.is_alive():
            raise RuntimeError("fake Stripe server did not start")
        time.sleep(0.01)
    handle = StripeServerHandle(f"http://127.0.0.1:{port}", app=app)
    try:
        yield handle
    finally:
        handle.close()
        server.should_exit = True
        thread.join(timeout=5)
        sock.close()


@pytest.fixture(scope="session")
def stripe_server() -> Iterator[StripeServerHandle]:
    with running_server() as handle:
        yield handle


@pytest.fixture
def stripe_client(stripe_server: StripeServerHandle) -> stripe.StripeClient:
    return stripe_server.stripe_client()
