"""The gateway's request edge: every request to the site passes here (pure ASGI).

    /robots.txt, /license.xml                → answered here (terms.py)
    not licensed (policy.py: a browser, a free path)  → streamed to and from the origin, untouched
    licensed → the access decision (decision.py: the same steps as /v1/content)
             → refused: the refusal (402 offer, 401, 429, …), the origin never asked
             → granted: streamed from the origin; metered (access/meter.py) only if the
               origin answers 2xx, once its status is known, with the usage headers added

Only a 2xx answer to a method that carries content is metered (`HEAD` and `OPTIONS` never
are); a 3xx/4xx/5xx passes through unbilled, and so does the 502/504 of an origin that
cannot be reached. A 2xx is billed when its status arrives, as `/v1/content` bills a 200:
whether the crawler then reads the whole body is its own affair. Bodies are never buffered:
each chunk is sent on as it arrives, and the client's pace (ASGI flow control) paces the
reads from the origin, so memory stays flat however large the file; a client that goes away
ends the origin stream too.
"""

from __future__ import annotations

import asyncio
import logging
import os
import time

import httpx
from starlette.types import Receive, Scope, Send

from licensing_api.access.dispatch import Answer, refused, server_error
from licensing_api.gateway.decision import UNMETERED_METHODS, decide
from licensing_api.gateway.origin import ClientGone, Origin, OriginTimeout, OriginUnreachable, response_headers
from licensing_api.gateway.policy import GatewayPolicy
from licensing_api.gateway.terms import SiteTerms
from licensing_api.logging import REQUEST_ID
from licensing_api.observability.access_log import AccessLog
from licensing_api.observability.middleware import _ACCEPTABLE_REQUEST_ID as ACCEPTABLE_REQUEST_ID
from licensing_api.observability.middleware import REQUEST_ID_HEADER
from licensing_api.security.middleware import SecurityHeaders

logger = logging.getLogger("licensing_api.gateway")

CLIENT_CLOSED = 499  # the access log's status of a request its client abandoned (nginx's)


class OriginStreamBroken(Exception):
    """The origin's body ended early: the client's connection is closed, not completed."""


class GatewayEdge:
    def __init__(
        self, *, policy: GatewayPolicy, terms: SiteTerms, access_log: AccessLog | None, security: SecurityHeaders
    ) -> None:
        self.policy = policy
        self.terms = terms
        self.access_log = access_log
        self.security = security

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        started = time.perf_counter()
        incoming_id = user_agent = None
        for name, value in scope["headers"]:
            if name == b"user-agent":
                user_agent = value
            elif name == b"x-request-id" and incoming_id is None:
                incoming_id = value
        if incoming_id is not None and ACCEPTABLE_REQUEST_ID.fullmatch(incoming_id):
            request_id = incoming_id.decode()
        else:
            request_id = os.urandom(16).hex()
        token = REQUEST_ID.set(request_id)
        raw_id = request_id.encode()
        status, label, answered = 500, "origin", False

        async def send_noted(message: dict) -> None:  # type: ignore[type-arg]
            nonlocal answered
            answered = True
            await send(message)

        try:
            state = scope["state"]
            origin: Origin = state["origin"]
            own = self.terms.answer(scope, origin)
            if own is not None:
                label = scope["path"]
                reply = await own
                status = reply[0]
                await self._send_answer(send_noted, reply, raw_id, scope["path"])
            else:
                status = await self._proxy(scope, receive, send_noted, origin, raw_id)
        except OriginStreamBroken:
            raise  # logged where it happened; the server closes the connection
        except Exception:
            logger.exception("unhandled_error", extra={"path": scope["path"]})
            if not answered:
                await self._send_answer(send, server_error(), raw_id, scope["path"])
            raise
        finally:
            elapsed = time.perf_counter() - started
            if self.access_log is not None:
                self.access_log.add((
                    time.time(), request_id, scope["method"], scope["path"], label, status, elapsed,
                    scope.get("client"), user_agent or b"",
                ))
            REQUEST_ID.reset(token)

    async def _proxy(self, scope: Scope, receive: Receive, send: Send, origin: Origin, raw_id: bytes) -> int:
        """Decide (if licensed), stream from the origin; the status answered."""
        hot_path = scope["state"]["hot_path"]
        grant = None
        licensed = self.policy.licenses(scope["headers"], scope["path"])
        if licensed:
            grant, refusal = await decide(scope, hot_path)
            if refusal is not None:
                await self._send_answer(send, refusal, raw_id, scope["path"])
                return refusal[0]
        try:
            response = await origin.open(origin.request(scope, receive))
        except (OriginUnreachable, OriginTimeout) as failure:
            reply = refused(failure, scope)
            await self._send_answer(send, reply, raw_id, scope["path"])
            return reply[0]
        except ClientGone:
            return CLIENT_CLOSED
        try:
            status = response.status_code
            headers = response_headers(response)
            if grant is not None:
                if 200 <= status < 300 and scope["method"] not in UNMETERED_METHODS:
                    headers += hot_path.guard.meter(grant, scope["path"])
                else:
                    headers.append(hot_path.guard.metering.link_header)
            headers.append((REQUEST_ID_HEADER, raw_id))
            await send({"type": "http.response.start", "status": status, "headers": headers})
            if not await self._stream(response, receive, send):
                return CLIENT_CLOSED
            return status
        finally:
            await response.aclose()

    async def _stream(self, response: httpx.Response, receive: Receive, send: Send) -> bool:
        """Send the origin's body on, chunk by chunk; False if the client went away first."""
        gone = asyncio.ensure_future(disconnected(receive))
        try:
            async for chunk in response.aiter_raw():
                if gone.done():
                    return False
                await send({"type": "http.response.body", "body": chunk, "more_body": True})
        except httpx.HTTPError as exc:
            logger.warning("origin_stream_broken", extra={"error": type(exc).__name__, "path": response.url.path})
            raise OriginStreamBroken from None  # the server closes the connection: no false end
        finally:
            gone.cancel()
        await send({"type": "http.response.body", "body": b"", "more_body": False})
        return True

    async def _send_answer(self, send: Send, reply: Answer, raw_id: bytes, path: str) -> None:
        status, headers, body = reply
        headers = [*headers, (REQUEST_ID_HEADER, raw_id)]
        self.security.add_to(headers, path)
        await send({"type": "http.response.start", "status": status, "headers": headers})
        await send({"type": "http.response.body", "body": body})


async def disconnected(receive: Receive) -> None:
    """Returns when the client disconnects (whatever is left of its request body is dropped)."""
    while (await receive())["type"] != "http.disconnect":
        pass
