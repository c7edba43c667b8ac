"""`/dashboard`: the customer's HTML page. Routes translate forms and cookies; services decide.

Every POST checks the CSRF token of its form; every write commits (and publishes any cache
invalidation) before the response goes out, so the next request already sees it.
"""

from __future__ import annotations

import logging
import uuid
from typing import Annotated, Any

from fastapi import APIRouter, FastAPI, Form, Request
from fastapi.responses import FileResponse, HTMLResponse, RedirectResponse, Response

from licensing_api.billing.errors import BillingDisabled, StripeFailure
from licensing_api.bots.service import (
    BotKeyTaken,
    BotNotFound,
    InvalidBotRegistration,
    TooManyBots,
    delete_bot,
    jwks_from_json,
    register_bot,
)
from licensing_api.billing.plan_change import (
    ChangeWhen,
    NoSubscriptionToChange,
    PlanChangeRefused,
    SamePlan,
    change_plan,
)
from licensing_api.billing.service import PlanNotFound, PlanNotSynced
from licensing_api.budgets.service import BudgetNotSet, clear_budget, set_budget
from licensing_api.dashboard import service
from licensing_api.dashboard.auth import CodecDep, CsrfRejected, SessionCookieDep, require_csrf
from licensing_api.dashboard.billing import NoStripeCustomer, billing_portal_url
from licensing_api.dashboard.budget import InvalidBudgetForm, budget_change_from_form
from licensing_api.dashboard.pages import (
    dashboard_page,
    form_expired_page,
    set_session_cookie,
    sign_in_page,
)
from licensing_api.dashboard.sessions import COOKIE_PATH, SESSION_COOKIE, SIGN_IN_COOKIE, SessionCodec
from licensing_api.dependencies import ResourcesDep, unit_of_work
from licensing_api.html_pages import NO_STORE, redirect
from licensing_api.keys.service import (
    KeyAlreadyRevoked,
    KeyNotFound,
    TooManyKeys,
    create_customer_key,
    revoke_key_everywhere,
    rotate_key,
)
from licensing_api.plain_text import plain_text
from licensing_api.security.failed_lookups import (
    FailedKeyLookupLimiterDep,
    TooManyFailedKeyLookups,
    client_address,
)
from licensing_api.settings import PACKAGE_DIR, Settings

logger = logging.getLogger(__name__)

STYLESHEET = PACKAGE_DIR / "static" / "dashboard.css"
NOTICES = {
    "key-revoked": "Key revoked. Every worker refuses it within a second.",
    "bot-registered": "Bot registered. Its signed requests are now this account's.",
    "bot-deleted": "Bot deleted. Every worker refuses its signatures within a second.",
    "plan-changed": "Plan changed. Requests from now on count under the new plan.",
    "plan-scheduled": "Plan change scheduled for the end of this billing period.",
    "plan-change-canceled": "The scheduled plan change is canceled.",
    "signed-out": "You are signed out.",
    "budget-saved": "Budget saved. Every worker applies it within a second.",
    "budget-removed": "Budget removed: no more notices, no hard stop.",
}
HTML = {"content": {"text/html": {}}}
FORM_EXPIRED: dict[int | str, dict[str, Any]] = {
    403: {"description": "Signed out, or the form's anti-forgery token is missing or stale", **HTML}
}

router = APIRouter(prefix="/dashboard", tags=["dashboard"], default_response_class=HTMLResponse)


def install_dashboard(app: FastAPI, settings: Settings) -> None:
    """Mount the dashboard with this process's session codec (secret drawn once per process)."""
    app.state.dashboard_sessions = SessionCodec.from_settings(settings)
    app.add_exception_handler(CsrfRejected, form_expired_page)
    app.include_router(router)


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
        return sign_in_page(request, codec, resources, notice=notice)
    return await dashboard_page(request, codec, resources, dashboard_session, notice=notice)


@router.post(
    "/sign-in",
    summary="Exchange an API key for a dashboard session cookie",
    response_class=HTMLResponse,
    responses={
        303: {"description": "Signed in: a session cookie is set, go to /dashboard"},
        401: {"description": "Unknown, malformed or revoked key: the form again", **HTML},
        403: {"description": "The form's anti-forgery token is missing or stale", **HTML},
        429: {"description": "Too many unknown keys from this address: the form again", **HTML},
    },
)
async def sign_in(
    request: Request, codec: CodecDep, resources: ResourcesDep,
    failed_lookups: FailedKeyLookupLimiterDep,
    api_key: Annotated[plain_text(200, min_length=1), Form()], nonce: Annotated[plain_text(100), Form()] = "",
) -> Response:
    if not codec.sign_in_nonce_ok(request.cookies.get(SIGN_IN_COOKIE), nonce):
        return sign_in_page(
            request, codec, resources, error="The form expired. Please try again.", status_code=403
        )
    address = client_address(request)
    try:
        failed_lookups.check(address)
    except TooManyFailedKeyLookups as exc:
        return sign_in_page(request, codec, resources, error=exc.detail, status_code=exc.status)
    async with unit_of_work(resources) as db:
        key = await service.authenticate_key(db, api_key)
    if key is None:
        failed_lookups.record_failure(address)
        logger.info("dashboard_sign_in_refused")
        return sign_in_page(
            request, codec, resources, status_code=401,
            error="That key is not valid. Check it, or ask for a new one if it was revoked.",
        )
    _, cookie = codec.issue(key.customer_id, key.id)
    logger.info("dashboard_signed_in", extra=_ids(key.customer_id, key.id))
    response = redirect("/dashboard")
    set_session_cookie(response, cookie, resources)
    response.delete_cookie(SIGN_IN_COOKIE, path=COOKIE_PATH)
    return response


@router.post(
    "/sign-out",
    summary="End the dashboard session",
    responses={303: {"description": "Signed out: the cookie is cleared"}, **FORM_EXPIRED},
)
async def sign_out(
    codec: CodecDep, dashboard_session: SessionCookieDep,
    csrf_token: Annotated[plain_text(200), Form()] = "",
) -> Response:
    require_csrf(dashboard_session, codec, csrf_token)
    response = redirect("/dashboard?done=signed-out")
    response.delete_cookie(SESSION_COOKIE, path=COOKIE_PATH)
    return response


@router.post(
    "/keys",
    summary="Create an API key (its secret is shown once, on the page that answers)",
    responses={
        200: {"description": "The dashboard with the new secret", **HTML},
        409: {"description": "Too many active keys: revoke one first", **HTML},
        **FORM_EXPIRED,
    },
)
async def create_key_from_dashboard(
    request: Request, codec: CodecDep, resources: ResourcesDep, dashboard_session: SessionCookieDep,
    csrf_token: Annotated[plain_text(200), Form()] = "",
    name: Annotated[plain_text(100), Form()] = "",
) -> Response:
    signed_in = require_csrf(dashboard_session, codec, csrf_token)
    try:
        async with unit_of_work(resources) as db:
            new_key = await create_customer_key(db, signed_in.customer_id, name=name.strip() or None)
    except TooManyKeys as exc:
        return await dashboard_page(
            request, codec, resources, signed_in, error=exc.detail, status_code=exc.status
        )
    logger.info("dashboard_key_created", extra=_ids(signed_in.customer_id, new_key.key.id))
    return await dashboard_page(request, codec, resources, signed_in, new_key=new_key)


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
    dashboard_session: SessionCookieDep, csrf_token: Annotated[plain_text(200), Form()] = "",
) -> Response:
    signed_in = require_csrf(dashboard_session, codec, csrf_token)
    try:
        async with unit_of_work(resources) as db:
            new_key = await rotate_key(
                db, resources.redis, resources.settings.redis_key_prefix, key_id, signed_in.customer_id
            )
    except (KeyNotFound, KeyAlreadyRevoked) as exc:
        return await dashboard_page(
            request, codec, resources, signed_in, error=exc.detail, status_code=exc.status
        )
    logger.info("dashboard_key_rotated", extra=_ids(signed_in.customer_id, key_id))
    if key_id != signed_in.key_id:
        return await dashboard_page(request, codec, resources, signed_in, new_key=new_key)
    # The session was opened with the key just replaced: carry it over to the new key.
    renewed, cookie = codec.issue(signed_in.customer_id, new_key.key.id)
    response = await dashboard_page(request, codec, resources, renewed, new_key=new_key)
    set_session_cookie(response, cookie, resources)
    return response


@router.post(
    "/keys/{key_id}/revoke",
    summary="Revoke a key; every worker refuses it within a second",
    responses={
        303: {"description": "Revoked: to the dashboard (the sign-in form if it was the session's key)"},
        404: {"description": "No such key of this customer", **HTML},
        **FORM_EXPIRED,
    },
)
async def revoke_key_from_dashboard(
    request: Request, key_id: uuid.UUID, codec: CodecDep, resources: ResourcesDep,
    dashboard_session: SessionCookieDep, csrf_token: Annotated[plain_text(200), Form()] = "",
) -> Response:
    signed_in = require_csrf(dashboard_session, codec, csrf_token)
    try:
        async with unit_of_work(resources) as db:
            await revoke_key_everywhere(
                db, resources.redis, resources.settings.redis_key_prefix, key_id, signed_in.customer_id
            )
    except KeyNotFound as exc:
        return await dashboard_page(
            request, codec, resources, signed_in, error=exc.detail, status_code=exc.status
        )
    logger.info("dashboard_key_revoked", extra=_ids(signed_in.customer_id, key_id))
    # Revoking the key the session was opened with ends the session (the next page asks again).
    return redirect("/dashboard?done=key-revoked")


@router.post(
    "/bots",
    summary="Register a verified bot by its key directory or public key",
    responses={
        303: {"description": "Registered: to the dashboard"},
        400: {"description": "Unusable directory or key: the dashboard with the reason", **HTML},
        409: {"description": "The key is another bot's, or too many bots", **HTML},
        **FORM_EXPIRED,
    },
)
async def register_bot_from_dashboard(
    request: Request, codec: CodecDep, resources: ResourcesDep, dashboard_session: SessionCookieDep,
    csrf_token: Annotated[str, Form(max_length=200)] = "",
    name: Annotated[str, Form(max_length=100)] = "",
    directory_url: Annotated[str, Form(max_length=500)] = "",
    jwk: Annotated[str, Form(max_length=20_000)] = "",
) -> Response:
    signed_in = require_csrf(dashboard_session, codec, csrf_token)
    try:
        jwks = jwks_from_json(jwk) if jwk.strip() else None
        async with unit_of_work(resources) as db:
            await register_bot(
                db, resources.redis, resources.settings.redis_key_prefix, request.state.bots.fetcher,
                signed_in.customer_id, name=name.strip() or "bot",
                directory_url=directory_url.strip() or None, jwks=jwks,
            )
    except (InvalidBotRegistration, BotKeyTaken, TooManyBots) as exc:
        return await dashboard_page(
            request, codec, resources, signed_in, error=exc.detail, status_code=exc.status
        )
    logger.info("dashboard_bot_registered", extra={"customer_id": str(signed_in.customer_id)})
    return redirect("/dashboard?done=bot-registered")


@router.post(
    "/bots/{bot_id}/delete",
    summary="Delete a verified bot; every worker refuses its signatures within a second",
    responses={
        303: {"description": "Deleted: to the dashboard"},
        404: {"description": "No such bot of this customer", **HTML},
        **FORM_EXPIRED,
    },
)
async def delete_bot_from_dashboard(
    request: Request, bot_id: uuid.UUID, codec: CodecDep, resources: ResourcesDep,
    dashboard_session: SessionCookieDep, csrf_token: Annotated[str, Form(max_length=200)] = "",
) -> Response:
    signed_in = require_csrf(dashboard_session, codec, csrf_token)
    try:
        async with unit_of_work(resources) as db:
            await delete_bot(db, resources.redis, resources.settings.redis_key_prefix, bot_id, signed_in.customer_id)
    except BotNotFound as exc:
        return await dashboard_page(
            request, codec, resources, signed_in, error=exc.detail, status_code=exc.status
        )
    return redirect("/dashboard?done=bot-deleted")


@router.post(
    "/plan",
    summary="Change the plan (at the period end, or now with prorations)",
    responses={
        303: {"description": "Changed or scheduled: to the dashboard with a notice"},
        404: {"description": "No such plan", **HTML},
        409: {"description": "Already on that plan, or the change is not possible", **HTML},
        502: {"description": "Stripe rejected the change", **HTML},
        503: {"description": "Stripe is unavailable, or the plan is not set up in Stripe", **HTML},
        **FORM_EXPIRED,
    },
)
async def change_plan_from_dashboard(
    request: Request, codec: CodecDep, resources: ResourcesDep, dashboard_session: SessionCookieDep,
    csrf_token: Annotated[str, Form(max_length=200)] = "",
    plan: Annotated[str, Form(max_length=64)] = "",
    when: Annotated[ChangeWhen, Form()] = ChangeWhen.PERIOD_END,
) -> Response:
    signed_in = require_csrf(dashboard_session, codec, csrf_token)
    try:
        async with unit_of_work(resources) as db:
            result = await change_plan(db, resources, signed_in.customer_id, plan, when,
                                       source=f"dashboard:key:{signed_in.key_id}")
    except (PlanNotFound, NoSubscriptionToChange, SamePlan, PlanChangeRefused, PlanNotSynced,
            StripeFailure) as exc:
        return await dashboard_page(
            request, codec, resources, signed_in, error=exc.detail, status_code=exc.status
        )
    logger.info("dashboard_plan_changed", extra={**_ids(signed_in.customer_id, signed_in.key_id),
                                                 "plan": result.to_plan, "when": str(when)})
    if result.canceled_scheduled_change:
        return redirect("/dashboard?done=plan-change-canceled")
    return redirect("/dashboard?done=" + ("plan-changed" if when is ChangeWhen.NOW else "plan-scheduled"))


@router.post(
    "/budget",
    summary="Set the budget per period, its alert thresholds and the hard stop",
    responses={
        303: {"description": "Saved: to the dashboard with a notice"},
        400: {"description": "A bad amount or threshold: the dashboard with the reason", **HTML},
        **FORM_EXPIRED,
    },
)
async def set_budget_from_dashboard(
    request: Request, codec: CodecDep, resources: ResourcesDep, dashboard_session: SessionCookieDep,
    csrf_token: Annotated[str, Form(max_length=200)] = "",
    amount: Annotated[str, Form(max_length=40)] = "",
    thresholds: Annotated[str, Form(max_length=200)] = "",
    hard_stop: Annotated[str, Form(max_length=10)] = "",
) -> Response:
    signed_in = require_csrf(dashboard_session, codec, csrf_token)
    try:
        async with unit_of_work(resources) as db:
            currency = await service.plan_currency(db, resources, signed_in.customer_id)
            change = budget_change_from_form(amount, thresholds, hard_stop == "on", currency)
            await set_budget(db, resources, signed_in.customer_id, change)
    except InvalidBudgetForm as exc:
        return await dashboard_page(request, codec, resources, signed_in, error=exc.detail, status_code=exc.status)
    logger.info("dashboard_budget_saved", extra=_ids(signed_in.customer_id, signed_in.key_id))
    return redirect("/dashboard?done=budget-saved")


@router.post(
    "/budget/remove",
    summary="Remove the budget (no more notices, no hard stop)",
    responses={303: {"description": "Removed: to the dashboard with a notice"},
               404: {"description": "No budget set", **HTML}, **FORM_EXPIRED},
)
async def remove_budget_from_dashboard(
    request: Request, codec: CodecDep, resources: ResourcesDep, dashboard_session: SessionCookieDep,
    csrf_token: Annotated[str, Form(max_length=200)] = "",
) -> Response:
    signed_in = require_csrf(dashboard_session, codec, csrf_token)
    try:
        async with unit_of_work(resources) as db:
            await clear_budget(db, resources, signed_in.customer_id)
    except BudgetNotSet as exc:
        return await dashboard_page(request, codec, resources, signed_in, error=exc.detail, status_code=exc.status)
    return redirect("/dashboard?done=budget-removed")


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
    csrf_token: Annotated[plain_text(200), Form()] = "",
) -> Response:
    signed_in = require_csrf(dashboard_session, codec, csrf_token)
    async with unit_of_work(resources) as db:
        customer = await service.customer_of(db, signed_in)
    try:
        url = await billing_portal_url(
            resources.stripe, customer.stripe_customer_id,
            return_url=resources.settings.public_base_url + "/dashboard",
        )
    except (BillingDisabled, NoStripeCustomer, StripeFailure) as exc:
        return await dashboard_page(
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


def _ids(customer_id: uuid.UUID, key_id: uuid.UUID) -> dict[str, str]:
    return {"customer_id": str(customer_id), "key_id": str(key_id)}
