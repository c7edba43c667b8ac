"""The publisher's site behind the gateway: one pooled httpx client per worker (its pool:
origin_pool.py), and what the gateway changes in a request on its way there and in the
answer on its way back.

To the origin: the method, path and query as received (`raw_path`, not re-encoded), every
end-to-end header except this service's own credentials (an API key or license token is
ours, not the site's), `Host` kept (`ORIGIN_PRESERVE_HOST`, the default) or the origin's,
and `X-Forwarded-For` / `-Proto` / `-Host`. Hop-by-hop headers (RFC 9110 §7.6.1: `Connection`
and the fields it names, `Keep-Alive`, `TE`, `Transfer-Encoding`, `Upgrade`, …) stay on their
hop. Bodies stream both ways (`aiter_raw`: the origin's exact bytes, content coding kept).

A failure before the origin's answer starts is the gateway's own answer, never billed:
`502 origin-unreachable` (refused, reset, not HTTP) or `504 origin-timeout` (no connection or
no answer in time).
"""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import httpx
from starlette.types import Receive, Scope

from licensing_api.errors import ProblemError
from licensing_api.gateway.origin_pool import origin_transport
from licensing_api.gateway.policy import our_credential
from licensing_api.settings import Settings

logger = logging.getLogger(__name__)

HOP_BY_HOP = frozenset({
    b"connection", b"keep-alive", b"proxy-authenticate", b"proxy-authorization", b"proxy-connection",
    b"te", b"trailer", b"transfer-encoding", b"upgrade",
})


class OriginUnreachable(ProblemError):
    status, slug, title = 502, "origin-unreachable", "The site did not answer"


class OriginTimeout(ProblemError):
    status, slug, title = 504, "origin-timeout", "The site did not answer in time"


class ClientGone(Exception):
    """The client disconnected while its request body was being sent to the origin."""


def end_to_end(headers: list[tuple[bytes, bytes]]) -> list[tuple[bytes, bytes]]:
    """`headers` (lowercase names) without hop-by-hop fields, those `Connection` names included."""
    named = {
        token.strip().lower()
        for name, value in headers if name == b"connection"
        for token in value.split(b",")
    }
    return [(name, value) for name, value in headers if name not in HOP_BY_HOP and name not in named]


def forwarded_chain(received: bytes | None, client: tuple[str, int] | None) -> bytes:
    """`X-Forwarded-For` with the client appended, unless the server already took the client
    from the received chain (uvicorn does, from `FORWARDED_ALLOW_IPS` peers): then it is in it."""
    address = (client[0] if client else "unknown").encode()
    if not received:
        return address
    if address in (hop.strip() for hop in received.split(b",")):
        return received
    return received + b", " + address


class Origin:
    def __init__(self, settings: Settings, client: httpx.AsyncClient) -> None:
        assert settings.origin_url is not None
        self.base = settings.origin_url
        self.preserve_host = settings.origin_preserve_host
        self.client = client

    def request(self, scope: Scope, receive: Receive) -> httpx.Request:
        """The request to send to the origin for this one (its body streamed from `receive`)."""
        headers: list[tuple[bytes, bytes]] = []
        host = forwarded_for = None
        has_body = False
        for name, value in end_to_end(scope["headers"]):
            if name == b"host":
                host = value
            elif name == b"x-forwarded-for":
                forwarded_for = value
            elif name in (b"x-forwarded-proto", b"x-forwarded-host") or our_credential(name, value):
                continue
            else:
                if name == b"content-length" or name == b"transfer-encoding":
                    has_body = True
                headers.append((name, value))
        if any(name == b"transfer-encoding" for name, _ in scope["headers"]):
            has_body = True  # chunked: the body streams on, without a length
        headers.append((b"x-forwarded-for", forwarded_chain(forwarded_for, scope.get("client"))))
        headers.append((b"x-forwarded-proto", scope.get("scheme", "http").encode()))
        if host is not None:
            headers.append((b"x-forwarded-host", host))
            if self.preserve_host:
                headers.append((b"host", host))
        target = self.base + scope.get("raw_path", scope["path"].encode()).decode("latin-1")
        if scope.get("query_string"):
            target += "?" + scope["query_string"].decode("latin-1")
        return httpx.Request(
            scope["method"], target, headers=headers, content=request_body(receive) if has_body else None
        )

    async def open(self, request: httpx.Request) -> httpx.Response:
        """The origin's answer, its body not yet read; `OriginUnreachable` / `OriginTimeout`
        (`ClientGone`, raised by the request body, passes through)."""
        try:
            return await self.client.send(request, stream=True)
        except httpx.TimeoutException as exc:
            logger.warning("origin_timeout", extra={"error": type(exc).__name__, "path": request.url.path})
            raise OriginTimeout("the site behind this gateway did not answer in time; retry later",
                                headers={"Retry-After": "5"}) from None
        except httpx.TransportError as exc:
            logger.warning("origin_unreachable", extra={"error": type(exc).__name__, "path": request.url.path})
            raise OriginUnreachable("the site behind this gateway cannot be reached; retry later",
                                    headers={"Retry-After": "5"}) from None


async def request_body(receive: Receive) -> AsyncIterator[bytes]:
    while True:
        message = await receive()
        if message["type"] == "http.disconnect":
            raise ClientGone
        body = message.get("body", b"")
        if body:
            yield body
        if not message.get("more_body", False):
            return


def response_headers(response: httpx.Response) -> list[tuple[bytes, bytes]]:
    """The origin's answer's end-to-end headers, names lowercase."""
    return end_to_end([(name.lower(), value) for name, value in response.headers.raw])


@asynccontextmanager
async def open_origin(settings: Settings) -> AsyncIterator[Origin]:
    timeout = httpx.Timeout(
        settings.origin_timeout_seconds,
        connect=settings.origin_connect_timeout_seconds,
        pool=settings.origin_connect_timeout_seconds,
    )
    # trust_env off: an HTTP_PROXY meant for the outside world must not sit between us and the site.
    async with httpx.AsyncClient(
        transport=origin_transport(settings.origin_max_connections),
        timeout=timeout, trust_env=False, follow_redirects=False,
    ) as client:
        yield Origin(settings, client)
