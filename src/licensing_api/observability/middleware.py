"""The request edge: the one pure-ASGI layer every HTTP request passes first.

For every request: an id (the caller's `X-Request-ID` if plain, else a new one; returned and
carried by every log line of the request), the security headers, the request metrics and
known-crawler counts (plain integers: observability/request_metrics.py), one access-log line
(handed to the batched writer: observability/access_log.py).

The licensed routes (`GET /v1/content…`) are answered here, before FastAPI's router and
dependency machinery: access/dispatch.py runs the access decision and the route's serve step
and returns the whole answer, which this layer sends with its own headers in two messages.
So is forward-auth (`GET /v1/authorize`, gateway/forward_auth.py), through `answered`.
Everything else (and a licensed route asked with CORS on and an `Origin`, which CORS must
see) goes to the FastAPI app, whose response start this layer completes the same way.
"""

from __future__ import annotations

import logging
import os
import random
import re
import time
from collections.abc import Awaitable, Callable, Mapping
from typing import TYPE_CHECKING, Any

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from licensing_api.access.dispatch import Answer, LicensedRoutes, answer, answer_now, server_error
from licensing_api.logging import REQUEST_ID
from licensing_api.observability.access_log import AccessLog
from licensing_api.observability.request_metrics import RequestCounters
from licensing_api.security.middleware import ALWAYS, SecurityHeaders

if TYPE_CHECKING:
    from licensing_api.standards.crawlers import CrawlerDirectory

logger = logging.getLogger("licensing_api.access")

REQUEST_ID_HEADER = b"x-request-id"
# An incoming id is kept only if it is short and plain, so it cannot forge log lines.
_ACCEPTABLE_REQUEST_ID = re.compile(rb"[A-Za-z0-9._:-]{1,128}")
UNMATCHED_ROUTE = "unmatched"
# Request ids need to be unique, not secret: 16 random bytes from a generator seeded from the
# OS once per process (again in a forked child), not a system call per request (os.urandom).
_ids = random.Random(os.urandom(32))
_new_ids = _ids.randbytes
os.register_at_fork(after_in_child=lambda: _ids.seed(os.urandom(32)))
OwnAnswer = Callable[[Scope, Any], Awaitable[Answer]]  # (scope, the worker's HotPath) → the answer


def route_label(scope: Scope) -> str:
    """The route's path template (`/v1/content/{path}`), never the raw path: bounded labels."""
    route = scope.get("route")
    if route is not None:
        return getattr(route, "path", UNMATCHED_ROUTE)
    if "endpoint" in scope:  # a plain Starlette route (/docs, /openapi.json): a fixed path
        return scope["path"] if not scope.get("path_params") else scope["endpoint"].__name__
    return UNMATCHED_ROUTE


class RequestEdge:
    def __init__(
        self,
        app: ASGIApp,
        *,
        licensed: LicensedRoutes,
        counters: RequestCounters,
        access_log: AccessLog | None,
        crawlers: CrawlerDirectory,
        security: SecurityHeaders,
        cors: bool,
        answered: Mapping[str, OwnAnswer] | None = None,
    ) -> None:
        self.app = app
        self.licensed = licensed
        self.answered = answered or {}  # other GET paths answered here: forward-auth
        self.counters = counters
        self.access_log = access_log
        self.crawlers = crawlers
        self.security = security
        self.cors = cors

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = time.perf_counter()
        incoming_id = user_agent = None
        origin = False
        for name, value in scope["headers"]:
            if name == b"user-agent":
                if user_agent is None:
                    user_agent = value
            elif name == b"x-request-id":
                if incoming_id is None:
                    incoming_id = value
            elif name == b"origin":
                origin = True
        if incoming_id is not None and _ACCEPTABLE_REQUEST_ID.fullmatch(incoming_id):
            request_id = incoming_id.decode()
        else:
            request_id = _new_ids(16).hex()
        token = REQUEST_ID.set(request_id)
        crawler = self.crawlers.identify(user_agent.decode("latin-1")) if user_agent else None
        route = own = None
        if scope["method"] == "GET" and not (origin and self.cors):
            route = self.licensed.match(scope["path"])
            if route is None:
                own = self.answered.get(scope["path"])
        status = 500
        label = UNMATCHED_ROUTE if route is None else route.template
        try:
            if route is not None:
                hot_path = scope["state"]["hot_path"]
                reply = answer_now(route, scope, hot_path) or await answer(route, scope, hot_path)
                status = reply[0]
                await self._send(send, reply, request_id, scope["path"])
            elif own is not None:
                label = scope["path"]
                reply = await own(scope, scope["state"]["hot_path"])
                status = reply[0]
                await self._send(send, reply, request_id, scope["path"])
            else:
                raw_id, security, path = request_id.encode(), self.security, scope["path"]

                async def send_completed(message: Message) -> None:
                    nonlocal status
                    if message["type"] == "http.response.start":
                        status = message["status"]
                        headers = message["headers"] = list(message.get("headers", ()))
                        headers.append((REQUEST_ID_HEADER, raw_id))
                        security.add_to(headers, path)
                    await send(message)

                try:
                    await self.app(scope, receive, send_completed)
                finally:
                    label = route_label(scope)
        except Exception:
            logger.exception("unhandled_error", extra={"path": scope["path"]})
            if (route is not None or own is not None) and status == 500:
                await self._send(send, server_error(), request_id, scope["path"])
            raise
        finally:
            elapsed = time.perf_counter() - started
            self.counters.observe(label, status, elapsed, crawler)
            if self.access_log is not None:
                self.access_log.add((
                    time.time(), request_id, scope["method"], scope["path"], label, status, elapsed,
                    scope.get("client"), user_agent or b"",
                ))
            REQUEST_ID.reset(token)

    async def _send(self, send: Send, reply: Answer, request_id: str, path: str) -> None:
        status, headers, body = reply
        headers.append((REQUEST_ID_HEADER, request_id.encode()))
        if status == 200:
            headers += ALWAYS  # a served licensed answer is JSON with no header of these
        else:
            self.security.add_to(headers, path)
        await send({"type": "http.response.start", "status": status, "headers": headers})
        await send({"type": "http.response.body", "body": body})
