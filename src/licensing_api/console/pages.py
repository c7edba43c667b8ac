"""Rendering the console's pages: templates, cookies, redirects, the sign-in form."""

from __future__ import annotations

from functools import cache
from typing import Any

from fastapi import Request
from fastapi.responses import HTMLResponse, Response
from fastapi.templating import Jinja2Templates

from licensing_api.console.sessions import (
    COOKIE_PATH,
    SESSION_COOKIE,
    SESSION_MAX_AGE_SECONDS,
    SIGN_IN_COOKIE,
    ConsoleCodec,
    ConsoleSession,
)
from licensing_api.html_pages import NO_STORE, cookies_https_only, page_templates
from licensing_api.resources import Resources
from licensing_api.security.signed_forms import SIGN_IN_MAX_AGE_SECONDS


@cache
def templates() -> Jinja2Templates:
    return page_templates("console")


def render(
    request: Request, template: str, context: dict[str, Any], status_code: int = 200,
    *, codec: ConsoleCodec | None = None, session: ConsoleSession | None = None,
) -> HTMLResponse:
    full = {"csrf_token": codec.csrf_token(session) if codec and session else None,
            "notice": None, "error": None, **context}
    response = templates().TemplateResponse(request, template, full, status_code=status_code)
    response.headers.update(NO_STORE)
    return response


def sign_in_page(
    request: Request, codec: ConsoleCodec, resources: Resources, *, error: str | None = None,
    notice: str | None = None, status_code: int = 200,
) -> HTMLResponse:
    nonce, cookie = codec.new_sign_in_nonce()
    response = render(request, "sign_in.html", {"nonce": nonce, "error": error, "notice": notice}, status_code)
    response.set_cookie(
        SIGN_IN_COOKIE, cookie, max_age=SIGN_IN_MAX_AGE_SECONDS, path=COOKIE_PATH,
        httponly=True, samesite="strict", secure=cookies_https_only(resources),
    )
    return response


def set_session_cookie(response: Response, cookie: str, resources: Resources) -> None:
    # Strict: an operator session never rides along on a link from another site.
    response.set_cookie(
        SESSION_COOKIE, cookie, max_age=SESSION_MAX_AGE_SECONDS, path=COOKIE_PATH,
        httponly=True, samesite="strict", secure=cookies_https_only(resources),
    )


def form_expired_page(request: Request, exc: Exception) -> Response:
    context = {"detail": getattr(exc, "detail", ""), "home_url": "/console", "home_name": "console"}
    return render(request, "form_expired.html", context, 403)


def console_off_page(request: Request, exc: Exception) -> Response:
    return render(request, "console_off.html", {"detail": getattr(exc, "detail", "")}, 404)
