"""`/console`: the operator's HTML pages. Routes translate forms and cookies; services decide.

Off (404) without `ADMIN_TOKEN`. Every POST checks its form's CSRF token; every write commits
before the answer (POST → redirect → GET), so the next page already shows it. Not in the
public OpenAPI: an operator surface, documented in the README.
"""

from __future__ import annotations

import logging
import time
import uuid
from datetime import UTC, datetime
from typing import Annotated, Literal

from fastapi import APIRouter, Depends, FastAPI, Form, Query, Request
from fastapi.responses import HTMLResponse, Response

from licensing_api.accounts.models import AccountState
from licensing_api.admin.service import UsageReportNotFound, ReportNotFailed, retry_failed_reports, retry_report
from licensing_api.billing.plan_change import ChangeWhen
from licensing_api.console import customers
from licensing_api.console.auth import (
    AdminTokenDep,
    CodecDep,
    ConsoleCsrfRejected,
    ConsoleOff,
    ConsoleSessionDep,
    require_console_on,
    require_csrf,
    token_matches,
)
from licensing_api.console.billing_health import billing_health
from licensing_api.console.content import content_by_units
from licensing_api.console.export import usage_csv
from licensing_api.console.overview import overview
from licensing_api.console.pages import (
    console_off_page,
    form_expired_page,
    render,
    set_session_cookie,
    sign_in_page,
)
from licensing_api.console.sessions import COOKIE_PATH, SESSION_COOKIE, SIGN_IN_COOKIE, ConsoleCodec, ConsoleSession
from licensing_api.dashboard.auth import worker_tally
from licensing_api.dashboard.chart import daily_bar_chart
from licensing_api.db import session_scope
from licensing_api.dependencies import ResourcesDep, unit_of_work
from licensing_api.html_pages import NO_STORE, redirect
from licensing_api.errors import ProblemError
from licensing_api.keys.service import NewKey
from licensing_api.plain_text import plain_text
from licensing_api.resources import Resources
from licensing_api.security.failed_lookups import (
    FailedKeyLookupLimiterDep,
    TooManyFailedKeyLookups,
    client_address,
)
from licensing_api.settings import Settings

logger = logging.getLogger(__name__)

NOTICES = {
    "signed-out": "You are signed out.",
    "plan-changed": "Plan changed. Requests from now on count under the new plan.",
    "plan-scheduled": "Plan change scheduled for the end of the billing period.",
    "plan-change-canceled": "The scheduled plan change is canceled.",
    "suspended": "Account suspended. Every worker refuses its keys within a second.",
    "revoked": "Account revoked. Every worker refuses its keys within a second.",
    "reinstated": "Account reinstated. Its keys work again.",
    "reinstated-new-subscription": "Account reinstated on a new subscription. Its keys work again.",
    "key-revoked": "Key revoked. Every worker refuses it within a second.",
    "report-retried": "Report queued: the next flush sends it again.",
    "reports-retried": "Failed reports queued: the next flush sends them again.",
}
Csrf = Annotated[plain_text(200), Form()]
Reason = Annotated[plain_text(500), Form()]
Done = Annotated[str | None, Query(max_length=64)]

router = APIRouter(
    prefix="/console", tags=["console"], include_in_schema=False,
    default_response_class=HTMLResponse, dependencies=[Depends(require_console_on)],
)


def install_console(app: FastAPI, settings: Settings) -> None:
    """Mount the console with this process's session codec and start time."""
    app.state.console_sessions = ConsoleCodec.from_settings(settings)
    app.state.console_started_at = datetime.now(UTC)
    app.state.console_clock = time.time  # which UTC day is "today" (tests set their own)
    app.add_exception_handler(ConsoleCsrfRejected, form_expired_page)
    app.add_exception_handler(ConsoleOff, console_off_page)
    app.include_router(router)


# -- sign-in ---------------------------------------------------------------------------
@router.get("", summary="Operator console overview (sign-in form when signed out)")
async def show_overview(
    request: Request, codec: CodecDep, resources: ResourcesDep, session: ConsoleSessionDep,
    done: Done = None,
) -> Response:
    if session is None:
        return sign_in_page(request, codec, resources, notice=NOTICES.get(done or ""))
    async with session_scope(resources.sessionmaker) as db:
        figures = await overview(db, resources, worker_tally(request), request.app.state.request_counters,
                                 request.app.state.console_started_at)
    return _page(request, codec, session, "overview.html", "overview",
                 {"overview": figures, "chart": daily_bar_chart(figures.daily)})


@router.post("/sign-in", summary="Exchange ADMIN_TOKEN for a console session cookie")
async def sign_in(
    request: Request, codec: CodecDep, resources: ResourcesDep, admin_token: AdminTokenDep,
    failed_lookups: FailedKeyLookupLimiterDep,
    token: Annotated[plain_text(500, min_length=1), Form()], nonce: Annotated[plain_text(100), Form()] = "",
) -> Response:
    if not codec.sign_in_nonce_ok(request.cookies.get(SIGN_IN_COOKIE), nonce):
        return sign_in_page(request, codec, resources, error="The form expired. Please try again.", status_code=403)
    address = client_address(request)
    try:
        failed_lookups.check(address)
    except TooManyFailedKeyLookups as exc:
        return sign_in_page(request, codec, resources, error=exc.detail, status_code=exc.status)
    if not token_matches(token, admin_token):
        failed_lookups.record_failure(address)
        logger.info("console_sign_in_refused")
        return sign_in_page(request, codec, resources, error="That is not the admin token.", status_code=401)
    _, cookie = codec.issue(admin_token)
    logger.info("console_signed_in")
    response = redirect("/console")
    set_session_cookie(response, cookie, resources)
    response.delete_cookie(SIGN_IN_COOKIE, path=COOKIE_PATH)
    return response


@router.post("/sign-out", summary="End the console session")
async def sign_out(codec: CodecDep, session: ConsoleSessionDep, csrf_token: Csrf = "") -> Response:
    require_csrf(session, codec, csrf_token)
    response = redirect("/console?done=signed-out")
    response.delete_cookie(SESSION_COOKIE, path=COOKIE_PATH)
    return response


# -- customers -------------------------------------------------------------------------
@router.get("/customers", summary="Search customers")
async def list_customers(
    request: Request, codec: CodecDep, resources: ResourcesDep, session: ConsoleSessionDep,
    q: Annotated[plain_text(320), Query()] = "",
    state: Annotated[AccountState | Literal[""] | None, Query(description='"" (the form\'s "any") or a state')] = None,
    plan: Annotated[plain_text(64) | None, Query()] = None,
    offset: Annotated[int, Query(ge=0, le=10_000_000)] = 0,
) -> Response:
    if session is None:
        return redirect("/console")
    search = customers.CustomerSearch(q, state or None, plan or None, offset)
    async with session_scope(resources.sessionmaker) as db:
        rows, next_offset = await customers.search_customers(db, resources, search, worker_tally(request))
    return _page(request, codec, session, "customers.html", "customers", {
        "rows": rows, "search": search, "next_offset": next_offset,
        "states": list(AccountState), "plans": list(resources.catalogue),
    })


@router.get("/customers/{customer_id}", summary="One customer: usage, keys, actions, audit trail")
async def show_customer(
    request: Request, customer_id: uuid.UUID, codec: CodecDep, resources: ResourcesDep,
    session: ConsoleSessionDep, done: Done = None,
) -> Response:
    if session is None:
        return redirect("/console")
    try:
        return await _customer_page(request, codec, resources, session, customer_id,
                                    notice=NOTICES.get(done or ""))
    except customers.CustomerNotFound as exc:
        return _page(request, codec, session, "not_found.html", "customers", {"error": exc.detail}, exc.status)


@router.post("/customers/{customer_id}/plan", summary="Change a customer's plan")
async def change_plan(
    request: Request, customer_id: uuid.UUID, codec: CodecDep, resources: ResourcesDep,
    session: ConsoleSessionDep, csrf_token: Csrf = "",
    plan: Annotated[plain_text(64, min_length=1), Form()] = "",
    when: Annotated[ChangeWhen, Form()] = ChangeWhen.PERIOD_END,
) -> Response:
    signed_in = require_csrf(session, codec, csrf_token)
    try:
        async with unit_of_work(resources) as db:
            result = await customers.change_customer_plan(db, resources, customer_id, plan, when)
    except ProblemError as exc:
        return await _customer_error(request, codec, resources, signed_in, customer_id, exc)
    logger.info("console_plan_changed", extra={"customer_id": str(customer_id), "plan": result.to_plan,
                                               "when": str(when)})
    done = ("plan-change-canceled" if result.canceled_scheduled_change
            else "plan-changed" if when is ChangeWhen.NOW else "plan-scheduled")
    return redirect(f"/console/customers/{customer_id}?done={done}")


@router.post("/customers/{customer_id}/suspend", summary="Suspend an account")
async def suspend(
    request: Request, customer_id: uuid.UUID, codec: CodecDep, resources: ResourcesDep,
    session: ConsoleSessionDep, csrf_token: Csrf = "", reason: Reason = "",
) -> Response:
    signed_in = require_csrf(session, codec, csrf_token)
    try:
        async with unit_of_work(resources) as db:
            await customers.suspend_customer(db, resources, customer_id, _reason(reason, "suspended"))
    except ProblemError as exc:
        return await _customer_error(request, codec, resources, signed_in, customer_id, exc)
    return redirect(f"/console/customers/{customer_id}?done=suspended")


@router.post("/customers/{customer_id}/revoke", summary="Revoke an account")
async def revoke(
    request: Request, customer_id: uuid.UUID, codec: CodecDep, resources: ResourcesDep,
    session: ConsoleSessionDep, csrf_token: Csrf = "", reason: Reason = "",
) -> Response:
    signed_in = require_csrf(session, codec, csrf_token)
    try:
        async with unit_of_work(resources) as db:
            await customers.revoke_customer(db, resources, customer_id, _reason(reason, "revoked"))
    except ProblemError as exc:
        return await _customer_error(request, codec, resources, signed_in, customer_id, exc)
    return redirect(f"/console/customers/{customer_id}?done=revoked")


@router.post("/customers/{customer_id}/reinstate", summary="Reinstate a suspended or revoked account")
async def reinstate(
    request: Request, customer_id: uuid.UUID, codec: CodecDep, resources: ResourcesDep,
    session: ConsoleSessionDep, csrf_token: Csrf = "", reason: Reason = "",
) -> Response:
    signed_in = require_csrf(session, codec, csrf_token)
    try:
        async with unit_of_work(resources) as db:
            done = await customers.reinstate_customer(db, resources, customer_id, _reason(reason, "reinstated"))
    except ProblemError as exc:
        return await _customer_error(request, codec, resources, signed_in, customer_id, exc)
    notice = "reinstated-new-subscription" if done.new_subscription else "reinstated"
    return redirect(f"/console/customers/{customer_id}?done={notice}")


@router.post("/customers/{customer_id}/keys", summary="Issue an API key (its secret shown once)")
async def issue_key(
    request: Request, customer_id: uuid.UUID, codec: CodecDep, resources: ResourcesDep,
    session: ConsoleSessionDep, csrf_token: Csrf = "", name: Annotated[plain_text(100), Form()] = "",
) -> Response:
    signed_in = require_csrf(session, codec, csrf_token)
    try:
        async with unit_of_work(resources) as db:
            new_key = await customers.issue_key(db, customer_id, name.strip() or None)
    except ProblemError as exc:
        return await _customer_error(request, codec, resources, signed_in, customer_id, exc)
    logger.info("console_key_issued", extra={"customer_id": str(customer_id), "key_id": str(new_key.key.id)})
    # Committed above; the secret exists only in this answer, so it is the one page not redirected.
    return await _customer_page(request, codec, resources, signed_in, customer_id, new_key=new_key)


@router.post("/customers/{customer_id}/keys/{key_id}/revoke", summary="Revoke one of a customer's keys")
async def revoke_key(
    request: Request, customer_id: uuid.UUID, key_id: uuid.UUID, codec: CodecDep, resources: ResourcesDep,
    session: ConsoleSessionDep, csrf_token: Csrf = "",
) -> Response:
    signed_in = require_csrf(session, codec, csrf_token)
    try:
        async with unit_of_work(resources) as db:
            await customers.revoke_customer_key(db, resources, customer_id, key_id)
    except ProblemError as exc:
        return await _customer_error(request, codec, resources, signed_in, customer_id, exc)
    return redirect(f"/console/customers/{customer_id}?done=key-revoked")


# -- content, billing health, export -----------------------------------------------------
@router.get("/content", summary="Content items and gateway paths by units served, this UTC month and the last")
async def show_content(
    request: Request, codec: CodecDep, resources: ResourcesDep, session: ConsoleSessionDep,
) -> Response:
    if session is None:
        return redirect("/console")
    today = datetime.fromtimestamp(request.app.state.console_clock(), UTC).date()
    figures = await content_by_units(resources.redis, resources.settings.redis_key_prefix, today)
    return _page(request, codec, session, "content.html", "content",
                 {"content": figures, "flush_ms": resources.settings.tally_flush_interval_ms})


@router.get("/billing", summary="Billing health: unsent usage reports, flush lag, webhooks")
async def show_billing(
    request: Request, codec: CodecDep, resources: ResourcesDep, session: ConsoleSessionDep, done: Done = None,
) -> Response:
    if session is None:
        return redirect("/console")
    return await _billing_page(request, codec, resources, session, notice=NOTICES.get(done or ""))


@router.post("/billing/reports/retry-failed", summary="Send every failed usage report again")
async def retry_all(
    request: Request, codec: CodecDep, resources: ResourcesDep, session: ConsoleSessionDep, csrf_token: Csrf = "",
) -> Response:
    require_csrf(session, codec, csrf_token)
    async with unit_of_work(resources) as db:
        await retry_failed_reports(db)
    return redirect("/console/billing?done=reports-retried")


@router.post("/billing/reports/{report_id}/retry", summary="Send one failed usage report again")
async def retry_one(
    request: Request, report_id: str, codec: CodecDep, resources: ResourcesDep, session: ConsoleSessionDep,
    csrf_token: Csrf = "",
) -> Response:
    signed_in = require_csrf(session, codec, csrf_token)
    try:
        async with unit_of_work(resources) as db:
            await retry_report(db, report_id[:100])
    except (UsageReportNotFound, ReportNotFailed) as exc:
        return await _billing_page(request, codec, resources, signed_in, error=exc.detail, status_code=exc.status)
    return redirect("/console/billing?done=report-retried")


@router.get("/export.csv", summary="Customers' usage in the current or last period, as CSV",
            response_class=Response)
async def export_csv(
    request: Request, resources: ResourcesDep, session: ConsoleSessionDep,
    period: Annotated[Literal["current", "last"], Query()] = "current",
) -> Response:
    if session is None:
        return redirect("/console")
    async with session_scope(resources.sessionmaker) as db:
        body = await usage_csv(db, resources, period, worker_tally(request))
    stamp = time.strftime("%Y%m%d", time.gmtime())
    return Response(body, media_type="text/csv; charset=utf-8", headers={
        **NO_STORE, "Content-Disposition": f'attachment; filename="usage-{period}-{stamp}.csv"',
    })


# -- helpers ---------------------------------------------------------------------------
def _page(
    request: Request, codec: ConsoleCodec, session: ConsoleSession, template: str, section: str,
    context: dict, status_code: int = 200,
) -> HTMLResponse:
    return render(request, template, {"section": section, **context}, status_code, codec=codec, session=session)


async def _customer_page(
    request: Request, codec: ConsoleCodec, resources: Resources, session: ConsoleSession,
    customer_id: uuid.UUID, *, new_key: NewKey | None = None, notice: str | None = None,
    error: str | None = None, status_code: int = 200,
) -> HTMLResponse:
    async with session_scope(resources.sessionmaker) as db:
        page = await customers.customer_page(db, resources, customer_id, worker_tally(request))
    return _page(request, codec, session, "customer.html", "customers", {
        "page": page, "new_key": new_key, "notice": notice, "error": error,
        "billing_enabled": resources.stripe is not None,
    }, status_code)


async def _customer_error(
    request: Request, codec: ConsoleCodec, resources: Resources, session: ConsoleSession,
    customer_id: uuid.UUID, exc: ProblemError,
) -> HTMLResponse:
    """The customer's page with the refusal, under its status; a page of its own if the
    customer does not exist."""
    try:
        return await _customer_page(request, codec, resources, session, customer_id,
                                    error=exc.detail, status_code=exc.status)
    except customers.CustomerNotFound as missing:
        return _page(request, codec, session, "not_found.html", "customers",
                     {"error": missing.detail}, missing.status)


async def _billing_page(
    request: Request, codec: ConsoleCodec, resources: Resources, session: ConsoleSession,
    *, notice: str | None = None, error: str | None = None, status_code: int = 200,
) -> HTMLResponse:
    async with session_scope(resources.sessionmaker) as db:
        health = await billing_health(db)
    return _page(request, codec, session, "billing.html", "billing",
                 {"health": health, "notice": notice, "error": error}, status_code)


def _reason(given: str, action: str) -> str:
    return given.strip() or f"{action} from the operator console"
