"""Request context: an id per request (X-Request-ID in and out), request metrics, access log.

A pure ASGI middleware (no per-request task or body buffering) so the hot path stays cheap.
"""

from __future__ import annotations

import logging
import re
import time
import uuid

from starlette.datastructures import MutableHeaders
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from licensing_api import metrics
from licensing_api.logging import REQUEST_ID

logger = logging.getLogger("licensing_api.access")

REQUEST_ID_HEADER = "x-request-id"
# An incoming id is kept only if it is short and plain, so it cannot forge log lines.
_ACCEPTABLE_REQUEST_ID = re.compile(r"[A-Za-z0-9._:-]{1,128}")
UNMATCHED_ROUTE = "unmatched"


def incoming_request_id(scope: Scope) -> str | None:
    for name, value in scope["headers"]:
        if name == b"x-request-id":
            text = value.decode("latin-1")
            return text if _ACCEPTABLE_REQUEST_ID.fullmatch(text) else None
    return None


def route_label(scope: Scope) -> str:
    """The route's path template (`/v1/content/{path}`), never the raw path: bounded labels."""
    route = scope.get("route")
    if route is not None:
        return getattr(route, "path", UNMATCHED_ROUTE)
    if "endpoint" in scope:  # a plain Starlette route (/docs, /openapi.json): a fixed path
        return scope["path"] if not scope.get("path_params") else scope["endpoint"].__name__
    return UNMATCHED_ROUTE


class RequestContextMiddleware:
    def __init__(self, app: ASGIApp, *, access_log: bool = True) -> None:
        self.app = app
        self.access_log = access_log

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        request_id = incoming_request_id(scope) or uuid.uuid4().hex
        token = REQUEST_ID.set(request_id)
        started = time.perf_counter()
        status = 500

        async def send_with_request_id(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
                MutableHeaders(scope=message).append(REQUEST_ID_HEADER, request_id)
            await send(message)

        try:
            await self.app(scope, receive, send_with_request_id)
        except Exception:
            logger.exception("unhandled_error", extra={"path": scope["path"]})
            raise
        finally:
            elapsed = time.perf_counter() - started
            route = route_label(scope)
            metrics.REQUESTS.labels(route, str(status)).inc()
            metrics.REQUEST_DURATION.labels(route).observe(elapsed)
            if self.access_log:
                self._log(scope, route, status, elapsed)
            REQUEST_ID.reset(token)

    @staticmethod
    def _log(scope: Scope, route: str, status: int, elapsed: float) -> None:
        client = scope.get("client")
        user_agent = ""
        for name, value in scope["headers"]:
            if name == b"user-agent":
                user_agent = value.decode("latin-1")[:256]
                break
        # The path only: query strings can carry credentials a careless client put there.
        logger.info(
            "http_request",
            extra={
                "method": scope["method"],
                "path": scope["path"],
                "route": route,
                "status": status,
                "duration_ms": round(elapsed * 1000, 2),
                "client": client[0] if client else None,
                "user_agent": user_agent,
            },
        )
