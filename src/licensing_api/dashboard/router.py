"""`/dashboard`: the customer's HTML page. Routes translate forms and cookies; services decide.

Every POST checks the CSRF token of its form; every write commits (and publishes any cache
invalidation) before the response goes out, so the next request already sees it.
"""

from __future__ import annotations

import logging
import uuid
from functools import cache
from typing import Annotated, Any

from fastapi import APIRouter, Depends, FastAPI, Form, Request
from fastapi.responses import FileResponse, HTMLResponse, RedirectResponse, Response
from fastapi.templating import Jinja2Templates

from licensing_api.billing.errors import BillingDisabled, StripeFailure
from licensing_api.billing.pricing import format_amount
from licensing_api.dashboard import service
from licensing_api.dashboard.billing import NoStripeCustomer, billing_portal_url, recent_invoices
from licensing_api.dashboard.chart import daily_bar_chart
from licensing_api.dashboard.sessions import (
    COOKIE_PATH,
    SESSION_COOKIE,
    SESSION_MAX_AGE_SECONDS,
    SIGN_IN_COOKIE,
    SIGN_IN_MAX_AGE_SECONDS,
    DashboardSession,
    SessionCodec,
)
from licensing_api.db import session_scope
from licensing_api.dependencies import ResourcesDep
from licensing_api.errors import ProblemError
from licensing_api.keys.service import (
    KeyAlreadyRevoked,
    KeyNotFound,
    NewKey,
    create_key,
    revoke_key_everywhere,
    rotate_key,
)
from licensing_api.settings import PACKAGE_DIR, Settings
from licensing_api.usage.tally import UsageTally

logger = logging.getLogger(__name__)

STYLESHEET = PACKAGE_DIR / "static" / "dashboard.css"
# CSP, framing and referrer headers come from security/middleware.py for every HTML page;
# these pages also carry secrets (a new key) and per-customer data: never cache them.
NO_STORE = {"Cache-Control": "no-store"}
NOTICES = {
    "key-revoked": "Key revoked. Every worker refuses it within a second.",
    "signed-out": "You are signed out.",
}
HTML = {"content": {"text/html": {}}}
FORM_EXPIRED: dict[int | str, dict[str, Any]] = {
    403: {"description": "Signed out, or the form's anti-forgery token is missing or stale", **HTML}
}

router = APIRouter(prefix="/dashboard", tags=["dashboard"], default_response_class=HTMLResponse)


def install_dashboard(app: FastAPI, settings: Settings) -> None:
    """Mount the dashboard with this process's session codec (secret drawn once per process)."""
    app.state.dashboard_sessions = SessionCodec.from_settings(settings)
    app.add_exception_handler(CsrfRejected, _form_expired_page)
    app.include_router(router)


@cache
def templates() -> Jinja2Templates:
    environment = Jinja2Templates(directory=str(PACKAGE_DIR / "templates" / "dashboard"))
    environment.env.filters["money"] = format_amount
    environment.env.filters["when"] = lambda value: value.strftime("%Y-%m-%d %H:%M UTC") if value else "never"
    environment.env.filters["day"] = lambda value: value.strftime("%Y-%m-%d") if value else "—"
    return environment


def get_codec(request: Request) -> SessionCodec:
    return request.app.state.dashboard_sessions  # type: ignore[no-any-return]


CodecDep = Annotated[SessionCodec, Depends(get_codec)]


async def get_dashboard_session(
    request: Request, codec: CodecDep, resources: ResourcesDep
) -> DashboardSession | None:
    """The signed-in session, or None if absent, forged, expired or its key was revoked."""
    candidate = codec.decode(request.cookies.get(SESSION_COOKIE))
    if candidate is None:
        return None
    async with session_scope(resources.sessionmaker) as db:
        return candidate if await service.session_is_current(db, candidate) else None


SessionCookieDep = Annotated[DashboardSession | None, Depends(get_dashboard_session)]


def _tally(request: Request) -> UsageTally | None:
    """This worker's not-yet-moved usage, as `GET /v1/usage` counts it (None without a hot path)."""
    hot_path = getattr(request.state, "hot_path", None)
    return hot_path.tally if hot_path is not None else None


class CsrfRejected(ProblemError):
    status, slug, title = 403, "csrf-rejected", "Form expired"


async def _form_expired_page(request: Request, exc: Exception) -> Response:
    """A browser gets a page with a way back, not a problem+json document."""
    return _render(request, "form_expired.html", {"detail": getattr(exc, "detail", "")}, 403)


def _require(dashboard_session: DashboardSession | None, codec: SessionCodec, token: str) -> DashboardSession:
    if dashboard_session is None or not codec.csrf_ok(dashboard_session, token):
        raise CsrfRejected("this form is out of date or not from this site; reload the dashboard")
    return dashboard_session


def _render(request: Request, template: str, context: dict[str, Any], status_code: int = 200) -> HTMLResponse:
    response = templates().TemplateResponse(request, template, context, status_code=status_code)
    response.headers.update(NO_STORE)
    return response


def _redirect(to: str = "/dashboard") -> RedirectResponse:
    return RedirectResponse(to, status_code=303, headers=NO_STORE)


def _secure(resources: Any) -> bool:
    return str(resources.settings.public_base_url).startswith("https://")


async def _sign_in_page(
    request: Request, codec: SessionCodec, resources: Any, error: str | None = None,
    notice: str | None = None, status_code: int = 200,
) -> HTMLResponse:
    nonce, cookie = codec.new_sign_in_nonce()
    response = _render(
        request, "sign_in.html", {"nonce": nonce, "error": error, "notice": notice}, status_code
    )
    response.set_cookie(
        SIGN_IN_COOKIE, cookie, max_age=SIGN_IN_MAX_AGE_SECONDS, path=COOKIE_PATH,
        httponly=True, samesite="strict", secure=_secure(resources),
    )
    return response


async def _dashboard_page(
    request: Request, codec: SessionCodec, resources: Any, dashboard_session: DashboardSession,
    new_key: NewKey | None = None, notice: str | None = None, error: str | None = None,
    status_code: int = 200,
) -> HTMLResponse:
    async with session_scope(resources.sessionmaker) as db:
        overview = await service.account_overview(db, resources, dashboard_session, _tally(request))
    invoices_error = None
    try:
        invoices = await recent_invoices(resources.stripe, overview.customer.stripe_customer_id)
    except StripeFailure as exc:
        logger.warning("dashboard_invoices_unavailable", extra={"error": exc.detail})
        invoices, invoices_error = [], "Invoices are unavailable right now; try again in a minute."
    context = {
        "overview": overview,
        "usage": overview.usage,
        "chart": daily_bar_chart(overview.daily),
        "invoices": invoices,
        "invoices_error": invoices_error,
        "billing_enabled": resources.stripe is not None,
        "csrf_token": codec.csrf_token(dashboard_session),
        "new_key": new_key,
        "notice": notice,
        "error": error,
    }
    return _render(request, "dashboard.html", context, status_code)


@router.get(
    "",
    summary="Customer dashboard (sign-in form when signed out)",
    response_class=HTMLResponse,
    responses={200: {"description": "The dashboard, or the sign-in form", **HTML}},
)
async def show_dashboard(
    request: Request, codec: CodecDep, resources: ResourcesDep,
    dashboard_session: SessionCookieDep, done: str | None = None,
) -> HTMLResponse:
    notice = NOTICES.get(done or "")
    if dashboard_session is None:
        return await _sign_in_page(request, codec, resources, notice=notice)
    return await _dashboard_page(request, codec, resources, dashboard_session, notice=notice)


@router.post(
    "/sign-in",
    summary="Exchange an API key for a dashboard session cookie",
    response_class=HTMLResponse,
    responses={
        303: {"description": "Signed in: a session cookie is set, go to /dashboard"},
        401: {"description": "Unknown, malformed or revoked key: the form again", **HTML},
        403: {"description": "The form's anti-forgery token is missing or stale", **HTML},
    },
)
async def sign_in(
    request: Request, codec: CodecDep, resources: ResourcesDep,
    api_key: Annotated[str, Form(max_length=200)], nonce: Annotated[str, Form(max_length=100)] = "",
) -> Response:
    if not codec.sign_in_nonce_ok(request.cookies.get(SIGN_IN_COOKIE), nonce):
        return await _sign_in_page(
            request, codec, resources, error="The form expired. Please try again.", status_code=403
        )
    async with session_scope(resources.sessionmaker) as db:
        key = await service.authenticate_key(db, api_key)
    if key is None:
        logger.info("dashboard_sign_in_refused")
        return await _sign_in_page(
            request, codec, resources, status_code=401,
            error="That key is not valid. Check it, or ask for a new one if it was revoked.",
        )
    _, cookie = codec.issue(key.customer_id, key.id)
    logger.info("dashboard_signed_in", extra={"customer_id": str(key.customer_id), "key_id": str(key.id)})
    response = _redirect()
    _set_session_cookie(response, cookie, resources)
    response.delete_cookie(SIGN_IN_COOKIE, path=COOKIE_PATH)
    return response


@router.post(
    "/sign-out",
    summary="End the dashboard session",
    responses={303: {"description": "Signed out: the cookie is cleared"}, **FORM_EXPIRED},
)
async def sign_out(
    codec: CodecDep, dashboard_session: SessionCookieDep,
    csrf_token: Annotated[str, Form(max_length=200)] = "",
) -> Response:
    _require(dashboard_session, codec, csrf_token)
    response = _redirect("/dashboard?done=signed-out")
    response.delete_cookie(SESSION_COOKIE, path=COOKIE_PATH)
    return response


def _set_session_cookie(response: Response, cookie: str, resources: Any) -> None:
    response.set_cookie(
        SESSION_COOKIE, cookie, max_age=SESSION_MAX_AGE_SECONDS, path=COOKIE_PATH,
        httponly=True, samesite="lax", secure=_secure(resources),
    )


@router.post(
    "/keys",
    summary="Create an API key (its secret is shown once, on the page that answers)",
    responses={200: {"description": "The dashboard with the new secret", **HTML}, **FORM_EXPIRED},
)
async def create_key_from_dashboard(
    request: Request, codec: CodecDep, resources: ResourcesDep, dashboard_session: SessionCookieDep,
    csrf_token: Annotated[str, Form(max_length=200)] = "",
    name: Annotated[str, Form(max_length=100)] = "",
) -> HTMLResponse:
    signed_in = _require(dashboard_session, codec, csrf_token)
    async with session_scope(resources.sessionmaker) as db:
        new_key = await create_key(db, signed_in.customer_id, name=name.strip() or None)
    logger.info("dashboard_key_created", extra={"customer_id": str(signed_in.customer_id), "key_id": str(new_key.key.id)})
    return await _dashboard_page(request, codec, resources, signed_in, new_key=new_key)


@router.post(
    "/keys/{key_id}/rotate",
    summary="Replace a key: a new secret (shown once) and the old key revoked everywhere",
    responses={
        200: {"description": "The dashboard with the new secret", **HTML},
        404: {"description": "No such key of this customer", **HTML},
        409: {"description": "The key is already revoked", **HTML},
        **FORM_EXPIRED,
    },
)
async def rotate_key_from_dashboard(
    request: Request, key_id: uuid.UUID, codec: CodecDep, resources: ResourcesDep,
    dashboard_session: SessionCookieDep, csrf_token: Annotated[str, Form(max_length=200)] = "",
) -> Response:
    signed_in = _require(dashboard_session, codec, csrf_token)
    try:
        async with session_scope(resources.sessionmaker) as db:
            new_key = await rotate_key(
                db, resources.redis, resources.settings.redis_key_prefix, key_id, signed_in.customer_id
            )
    except (KeyNotFound, KeyAlreadyRevoked) as exc:
        return await _dashboard_page(
            request, codec, resources, signed_in, error=exc.detail, status_code=exc.status
        )
    logger.info("dashboard_key_rotated", extra={"customer_id": str(signed_in.customer_id), "key_id": str(key_id)})
    if key_id != signed_in.key_id:
        return await _dashboard_page(request, codec, resources, signed_in, new_key=new_key)
    # The session was opened with the key just replaced: carry it over to the new key.
    renewed, cookie = codec.issue(signed_in.customer_id, new_key.key.id)
    response = await _dashboard_page(request, codec, resources, renewed, new_key=new_key)
    _set_session_cookie(response, cookie, resources)
    return response


@router.post(
    "/keys/{key_id}/revoke",
    summary="Revoke a key; every worker refuses it within a second",
    responses={
        303: {"description": "Revoked: back to the dashboard (or the sign-in form, for the session's own key)"},
        404: {"description": "No such key of this customer", **HTML},
        **FORM_EXPIRED,
    },
)
async def revoke_key_from_dashboard(
    request: Request, key_id: uuid.UUID, codec: CodecDep, resources: ResourcesDep,
    dashboard_session: SessionCookieDep, csrf_token: Annotated[str, Form(max_length=200)] = "",
) -> Response:
    signed_in = _require(dashboard_session, codec, csrf_token)
    try:
        async with session_scope(resources.sessionmaker) as db:
            await revoke_key_everywhere(
                db, resources.redis, resources.settings.redis_key_prefix, key_id, signed_in.customer_id
            )
    except KeyNotFound as exc:
        return await _dashboard_page(
            request, codec, resources, signed_in, error=exc.detail, status_code=exc.status
        )
    logger.info("dashboard_key_revoked", extra={"customer_id": str(signed_in.customer_id), "key_id": str(key_id)})
    # Revoking the key the session was opened with ends the session (the next page asks again).
    return _redirect("/dashboard?done=key-revoked")


@router.post(
    "/billing-portal",
    summary="Open Stripe's billing portal to update the payment method",
    responses={
        303: {"description": "Redirect to a one-time Stripe billing portal page"},
        409: {"description": "No Stripe customer for this account yet", **HTML},
        502: {"description": "Stripe rejected the request", **HTML},
        503: {"description": "Billing is off, or Stripe is unavailable", **HTML},
        **FORM_EXPIRED,
    },
)
async def open_billing_portal(
    request: Request, codec: CodecDep, resources: ResourcesDep, dashboard_session: SessionCookieDep,
    csrf_token: Annotated[str, Form(max_length=200)] = "",
) -> Response:
    signed_in = _require(dashboard_session, codec, csrf_token)
    async with session_scope(resources.sessionmaker) as db:
        customer = await service.customer_of(db, signed_in)
    try:
        url = await billing_portal_url(
            resources.stripe, customer.stripe_customer_id,
            return_url=resources.settings.public_base_url + "/dashboard",
        )
    except (BillingDisabled, NoStripeCustomer, StripeFailure) as exc:
        return await _dashboard_page(
            request, codec, resources, signed_in, error=exc.detail, status_code=exc.status
        )
    return RedirectResponse(url, status_code=303, headers=NO_STORE)


@router.get(
    "/dashboard.css",
    summary="The dashboard's stylesheet",
    response_class=FileResponse,
    responses={200: {"description": "CSS", "content": {"text/css": {}}}},
)
async def stylesheet() -> FileResponse:
    return FileResponse(
        STYLESHEET, media_type="text/css", headers={"Cache-Control": "public, max-age=3600"}
    )
