"""Rendering the console's pages: templates, cookies, redirects, the sign-in form."""

from __future__ import annotations

from functools import cache
from typing import Any

from fastapi import Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from fastapi.templating import Jinja2Templates

from licensing_api.billing.pricing import format_amount
from licensing_api.console.sessions import (
    COOKIE_PATH,
    SESSION_COOKIE,
    SESSION_MAX_AGE_SECONDS,
    SIGN_IN_COOKIE,
    ConsoleCodec,
    ConsoleSession,
)
from licensing_api.resources import Resources
from licensing_api.security.signed_forms import SIGN_IN_MAX_AGE_SECONDS
from licensing_api.settings import PACKAGE_DIR

# The security headers (CSP, framing, referrer) come from security/middleware.py for every
# HTML page, as for the dashboard; operator data is never cached.
NO_STORE = {"Cache-Control": "no-store"}


@cache
def templates() -> Jinja2Templates:
    environment = Jinja2Templates(directory=str(PACKAGE_DIR / "templates" / "console"))
    environment.env.filters["money"] = format_amount
    environment.env.filters["when"] = lambda value: value.strftime("%Y-%m-%d %H:%M UTC") if value else "never"
    environment.env.filters["day"] = lambda value: value.strftime("%Y-%m-%d") if value else "—"
    environment.env.filters["count"] = lambda value: f"{value:,}"
    return environment


def render(
    request: Request, template: str, context: dict[str, Any], status_code: int = 200,
    *, codec: ConsoleCodec | None = None, session: ConsoleSession | None = None,
) -> HTMLResponse:
    full = {"csrf_token": codec.csrf_token(session) if codec and session else None,
            "notice": None, "error": None, **context}
    response = templates().TemplateResponse(request, template, full, status_code=status_code)
    response.headers.update(NO_STORE)
    return response


def redirect(to: str) -> RedirectResponse:
    return RedirectResponse(to, status_code=303, headers=NO_STORE)


def sign_in_page(
    request: Request, codec: ConsoleCodec, resources: Resources, *, error: str | None = None,
    notice: str | None = None, status_code: int = 200,
) -> HTMLResponse:
    nonce, cookie = codec.new_sign_in_nonce()
    response = render(request, "sign_in.html", {"nonce": nonce, "error": error, "notice": notice}, status_code)
    response.set_cookie(
        SIGN_IN_COOKIE, cookie, max_age=SIGN_IN_MAX_AGE_SECONDS, path=COOKIE_PATH,
        httponly=True, samesite="strict", secure=_https(resources),
    )
    return response


def set_session_cookie(response: Response, cookie: str, resources: Resources) -> None:
    # Strict: an operator session never rides along on a link from another site.
    response.set_cookie(
        SESSION_COOKIE, cookie, max_age=SESSION_MAX_AGE_SECONDS, path=COOKIE_PATH,
        httponly=True, samesite="strict", secure=_https(resources),
    )


def form_expired_page(request: Request, exc: Exception) -> Response:
    return render(request, "form_expired.html", {"detail": getattr(exc, "detail", "")}, 403)


def console_off_page(request: Request, exc: Exception) -> Response:
    return render(request, "console_off.html", {"detail": getattr(exc, "detail", "")}, 404)


def _https(resources: Resources) -> bool:
    return resources.settings.public_base_url.startswith("https://")
