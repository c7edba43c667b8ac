"""The ASGI application: resource routers + control routes, one shared :class:`Server`."""

from __future__ import annotations

from contextlib import asynccontextmanager
from typing import Any

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

from . import control, hosted
from .ratelimit import RateLimiter
from .routing import Config, Server, error_response, make_endpoint
from .store import new_id
from .webhooks import Deliverer
from .wire import StripeError

RESOURCE_MODULES = ["customers", "catalog", "meters", "events", "subscriptions", "invoices",
                    "payments", "checkout", "clocks", "event_destinations", "disputes",
                    "invoice_payments", "payment_intents", "schedules"]


def _routers() -> list[Any]:
    import importlib

    out = []
    for name in RESOURCE_MODULES:
        try:
            out.append(importlib.import_module(f".resources.{name}", __package__).router)
        except ModuleNotFoundError as exc:
            if exc.name != f"{__package__}.resources.{name}":
                raise
    return out


class RawSendStash:
    """Outermost ASGI layer: keeps the server's own ``send`` so a fault can drop the socket."""

    def __init__(self, app: Any) -> None:
        self.app = app

    async def __call__(self, scope: dict, receive: Any, send: Any) -> None:
        if scope["type"] == "http":
            scope["stripe_server.raw_send"] = send
        await self.app(scope, receive, send)


def create_app(config: Config | None = None, rate_limits: str = "live") -> Any:
    server = Server(config=config or Config(), limiter=RateLimiter(rate_limits))
    server.deliverer = Deliverer(server)
    server.state.on_event = server.deliverer.on_event

    routes: list[Route] = control.build_routes(server) + hosted.build_routes(server)
    for router in _routers():
        by_path: dict[str, dict[str, Any]] = {}
        for rd in router.routes:
            by_path.setdefault(rd.path, {})[rd.method] = make_endpoint(rd, server)
        for path, methods in by_path.items():
            routes.append(Route(path, _by_method(methods), methods=list(methods)))

    @asynccontextmanager
    async def lifespan(app: Starlette):
        yield
        await server.deliverer.aclose()

    async def not_found(request: Request, exc: Exception) -> JSONResponse:
        return error_response(StripeError(
            f"Unrecognized request URL ({request.method}: {request.url.path}). Please see "
            "https://stripe.com/docs or we can help at https://support.stripe.com/.",
            status=404), new_id("req_"))

    app = Starlette(routes=routes, lifespan=lifespan,
                    exception_handlers={404: not_found, 405: not_found})
    app.state.server = server
    return RawSendStash(app)


def _by_method(methods: dict[str, Any]) -> Any:
    async def endpoint(request: Request) -> Any:
        return await methods[request.method](request)

    return endpoint
