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

import uvicorn
from pydantic import SecretStr

from licensing_api.main import create_app
from licensing_api.settings import Settings
from tests.stripe_server.pytest_plugin import StripeServerHandle


@dataclass(frozen=True, slots=True)
class ServedApp:
    url: str
    endpoint_id: str
    settings: Settings


@contextlib.contextmanager
def served_app(settings: Settings, stripe_server: StripeServerHandle) -> Iterator[ServedApp]:
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind(("127.0.0.1", 0))
    url = f"http://127.0.0.1:{sock.getsockname()[1]}"
    client = stripe_server.stripe_client()
    endpoint = client.v1.webhook_endpoints.create(
        {"url": f"{url}/webhooks/stripe", "enabled_events": ["*"]})
    settings = settings.model_copy(update={"stripe_webhook_secret": SecretStr(endpoint.secret)})
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
        server.should_exit = True
        thread.join(timeout=10)
        sock.close()
