"""Request size limit (pure ASGI middleware) and the security headers of every response."""

from __future__ import annotations

import json
from http import HTTPStatus

from fastapi import FastAPI
from starlette.exceptions import HTTPException
from starlette.middleware.cors import CORSMiddleware
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from licensing_api.errors import PROBLEM_MEDIA_TYPE, PROBLEM_TYPE_BASE
from licensing_api.settings import Settings

# Pages of our own (dashboard): only our own scripts, never framed, no plugins.
HTML_CSP = (
    "default-src 'self'; script-src 'self'; style-src 'self' 'unsafe-inline'; "
    "img-src 'self' data:; object-src 'none'; base-uri 'none'; form-action 'self'; "
    "frame-ancestors 'none'"
)
# The dashboard's "update payment method" form redirects to Stripe's billing portal, and
# browsers apply form-action to a form's redirects too.
STRIPE_BILLING_PORTAL_ORIGIN = "https://billing.stripe.com"


def html_csp(settings: Settings) -> str:
    """`HTML_CSP` with the billing portal's origin (a local Stripe server's, if configured)."""
    portal = settings.stripe_api_base or STRIPE_BILLING_PORTAL_ORIGIN
    origin = "/".join(portal.split("/", 3)[:3])
    return HTML_CSP.replace("form-action 'self'", f"form-action 'self' {origin}")


# Swagger UI and ReDoc load FastAPI's pinned assets from a CDN: framing is still refused.
DOCS_CSP = "frame-ancestors 'none'; object-src 'none'; base-uri 'none'"
DOCS_PATHS = ("/docs", "/redoc")

ALWAYS = [(b"x-content-type-options", b"nosniff"), (b"referrer-policy", b"same-origin")]
HTML_ONLY = [(b"x-frame-options", b"DENY"), (b"cross-origin-opener-policy", b"same-origin")]


class SecurityHeaders:
    """The security headers every response gets, added by the request edge
    (observability/middleware.py) as the response starts."""

    def __init__(self, html_csp: str = HTML_CSP) -> None:
        self.html_csp = html_csp

    def add_to(self, headers: list[tuple[bytes, bytes]], path: str) -> None:
        """Add what `headers` (raw, lowercase names) lack; HTML pages get the CSP set too."""
        # A route's own value wins (e.g. `Referrer-Policy: no-referrer` on a page that shows
        # a secret): a second header could weaken it.
        present = {name for name, _ in headers}
        for name, value in ALWAYS:
            if name not in present:
                headers.append((name, value))
        content_type = next((value for name, value in headers if name == b"content-type"), b"")
        if content_type.startswith(b"text/html"):
            csp = DOCS_CSP if path.startswith(DOCS_PATHS) else self.html_csp
            for name, value in (*HTML_ONLY, (b"content-security-policy", csp.encode())):
                if name not in present:
                    headers.append((name, value))


class RequestSizeLimitMiddleware:
    """413 problem+json for a body over `max_bytes`: declared (Content-Length) or streamed."""

    def __init__(self, app: ASGIApp, *, max_bytes: int) -> None:
        self.app = app
        self.max_bytes = max_bytes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        for name, value in scope["headers"]:
            if name == b"content-length":
                if not value.isdigit() or int(value) > self.max_bytes:
                    await self._refuse(scope, send)
                    return
                break
        received = 0

        async def receive_limited() -> Message:
            nonlocal received
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > self.max_bytes:
                    # FastAPI re-raises HTTPException from body reading; our handler renders it.
                    raise HTTPException(413, self._detail())
            return message

        await self.app(scope, receive_limited, send)

    def _detail(self) -> str:
        return f"request body larger than {self.max_bytes} bytes"

    async def _refuse(self, scope: Scope, send: Send) -> None:
        body = json.dumps(
            {
                "type": PROBLEM_TYPE_BASE + "payload-too-large",
                "title": HTTPStatus(413).phrase,
                "status": 413,
                "detail": self._detail(),
                "instance": scope["path"],
            }
        ).encode()
        await send(
            {
                "type": "http.response.start",
                "status": 413,
                "headers": [
                    (b"content-type", PROBLEM_MEDIA_TYPE.encode()),
                    (b"content-length", str(len(body)).encode()),
                    (b"connection", b"close"),
                ],
            }
        )
        await send({"type": "http.response.body", "body": body})


def install_security(app: FastAPI, settings: Settings) -> None:
    """Add CORS (if configured) and the size limit; the request edge adds the headers."""
    origins = settings.cors_origin_list
    if origins:
        app.add_middleware(
            CORSMiddleware,
            allow_origins=origins,
            allow_methods=["GET", "POST", "DELETE"],
            allow_headers=["Authorization", "X-API-Key", "Content-Type", "X-Request-ID"],
            expose_headers=["X-Request-ID", "Retry-After"],
            allow_credentials=False,
            max_age=600,
        )
    app.add_middleware(RequestSizeLimitMiddleware, max_bytes=settings.max_request_bytes)
