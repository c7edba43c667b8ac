"""Rendering the dashboard's pages: templates, the two page builders, cookies, redirects."""

from __future__ import annotations

import logging
from functools import cache
from typing import Any

from fastapi import Request
from fastapi.responses import HTMLResponse, Response
from fastapi.templating import Jinja2Templates

from licensing_api.billing.errors import StripeFailure
from licensing_api.dashboard import service
from licensing_api.dashboard.auth import worker_tally
from licensing_api.dashboard.billing import recent_invoices
from licensing_api.dashboard.budget import amount_for_form
from licensing_api.dashboard.chart import daily_bar_chart
from licensing_api.dashboard.sessions import (
    COOKIE_PATH,
    SESSION_COOKIE,
    SESSION_MAX_AGE_SECONDS,
    SIGN_IN_COOKIE,
    DashboardSession,
    SessionCodec,
)
from licensing_api.db import session_scope
from licensing_api.html_pages import NO_STORE, cookies_https_only, page_templates
from licensing_api.keys.service import NewKey
from licensing_api.resources import Resources
from licensing_api.security.signed_forms import SIGN_IN_MAX_AGE_SECONDS

logger = logging.getLogger(__name__)


@cache
def templates() -> Jinja2Templates:
    return page_templates("dashboard", major=amount_for_form)


def render(request: Request, template: str, context: dict[str, Any], status_code: int = 200) -> HTMLResponse:
    response = templates().TemplateResponse(request, template, context, status_code=status_code)
    response.headers.update(NO_STORE)
    return response


def sign_in_page(
    request: Request, codec: SessionCodec, resources: Resources, *, error: str | None = None,
    notice: str | None = None, status_code: int = 200,
) -> HTMLResponse:
    """The sign-in form, with a fresh anti-forgery nonce in the form and in a cookie."""
    nonce, cookie = codec.new_sign_in_nonce()
    context = {"nonce": nonce, "error": error, "notice": notice}
    response = render(request, "sign_in.html", context, status_code)
    response.set_cookie(
        SIGN_IN_COOKIE, cookie, max_age=SIGN_IN_MAX_AGE_SECONDS, path=COOKIE_PATH,
        httponly=True, samesite="strict", secure=cookies_https_only(resources),
    )
    return response


async def dashboard_page(
    request: Request, codec: SessionCodec, resources: Resources, dashboard_session: DashboardSession,
    *, new_key: NewKey | None = None, notice: str | None = None, error: str | None = None,
    status_code: int = 200,
) -> HTMLResponse:
    async with session_scope(resources.sessionmaker) as db:
        overview = await service.account_overview(db, resources, dashboard_session, worker_tally(request))
    invoices_error = None
    try:
        invoices = await recent_invoices(resources.stripe, overview.customer.stripe_customer_id)
    except StripeFailure as exc:
        logger.warning("dashboard_invoices_unavailable", extra={"error": exc.detail})
        invoices, invoices_error = [], "Invoices are unavailable right now; try again in a minute."
    usage = overview.usage
    context = {
        "overview": overview,
        "usage": usage,
        # Plans a change can go to: Stripe keeps one currency per subscription.
        "plans": [spec for spec in resources.catalogue if usage and spec.currency == usage.currency],
        "chart": daily_bar_chart(overview.daily),
        "invoices": invoices,
        "invoices_error": invoices_error,
        "billing_enabled": resources.stripe is not None,
        "csrf_token": codec.csrf_token(dashboard_session),
        "new_key": new_key,
        "notice": notice,
        "error": error,
    }
    return render(request, "dashboard.html", context, status_code)


def form_expired_page(request: Request, exc: Exception) -> Response:
    """A browser gets a page with a way back, not a problem+json document."""
    context = {"detail": getattr(exc, "detail", ""), "home_url": "/dashboard", "home_name": "dashboard"}
    return render(request, "form_expired.html", context, 403)


def set_session_cookie(response: Response, cookie: str, resources: Resources) -> None:
    response.set_cookie(
        SESSION_COOKIE, cookie, max_age=SESSION_MAX_AGE_SECONDS, path=COOKIE_PATH,
        httponly=True, samesite="lax", secure=cookies_https_only(resources),
    )
