"""`POST /v1/signup` → Stripe Checkout; `/signup/success` shows the new key once."""

from __future__ import annotations

from html import escape
from typing import Annotated

from fastapi import APIRouter, Query, Request, status
from fastapi.responses import HTMLResponse

from licensing_api.billing.errors import BillingDisabled, StripeRejected, StripeUnavailable
from licensing_api.billing.service import PlanNotFound, PlanNotSynced
from licensing_api.dependencies import ResourcesDep, SessionDep
from licensing_api.errors import problem_responses
from licensing_api.security.failed_lookups import client_address
from licensing_api.signup.limits import SignupLimiterDep, TooManySignups
from licensing_api.signup.schemas import CheckoutLink, SignupRequest
from licensing_api.signup.service import (
    CheckoutSessionNotFound,
    SignupSecretUnreadable,
    SignupStatus,
    start_signup,
    take_signup_secret,
)

router = APIRouter(tags=["signup"])

# The page carries a secret: never cached, never sent on as a referrer.
PRIVATE_PAGE_HEADERS = {"Cache-Control": "no-store", "Referrer-Policy": "no-referrer"}
CheckoutSessionId = Annotated[
    str, Query(pattern=r"^cs_[A-Za-z0-9_]{1,250}$", description="the Checkout Session id")
]


@router.post(
    "/v1/signup",
    summary="Start a signup: email + plan → Stripe Checkout URL",
    response_model=CheckoutLink,
    status_code=status.HTTP_201_CREATED,
    responses=problem_responses(
        PlanNotFound, BillingDisabled, PlanNotSynced, StripeUnavailable, StripeRejected,
        TooManySignups,
        PlanNotFound="no plan 'gold'; choose one of: standard, premium",
        BillingDisabled="billing is off; set STRIPE_API_KEY to use Stripe",
        TooManySignups="too many signups from this address; retry in 1800 s",
    ),
)
async def signup(
    body: SignupRequest, request: Request, session: SessionDep, resources: ResourcesDep,
    attempts: SignupLimiterDep,
) -> CheckoutLink:
    address = client_address(request)
    attempts.check(address)
    attempts.record(address)  # before Stripe is called: a flood counts while in flight
    started = await start_signup(session, resources, str(body.email), body.plan)
    return CheckoutLink(url=started.url, checkout_session_id=started.checkout_session_id)


@router.get(
    "/signup/success",
    summary="After Checkout: the new API key, shown once",
    response_class=HTMLResponse,
    response_model=None,
    responses={
        200: {"description": "the key (first visit), or why it is not shown", "content": {"text/html": {}}},
        **problem_responses(CheckoutSessionNotFound, BillingDisabled, StripeUnavailable,
                            SignupSecretUnreadable),
    },
)
async def signup_success(
    session_id: CheckoutSessionId, session: SessionDep, resources: ResourcesDep
) -> HTMLResponse:
    # The secret is cleared in this request's unit of work, committed before the page is sent.
    result = await take_signup_secret(session, resources, session_id)
    if result.status is SignupStatus.KEY_READY:
        body = (
            "<h1>Welcome</h1><p>Your API key is shown <strong>only this once</strong>; "
            "store it now:</p>"
            f'<pre id="api-key">{escape(result.secret or "")}</pre>'
            "<p>Send it as <code>Authorization: Bearer …</code> with every request.</p>"
        )
    elif result.status is SignupStatus.ALREADY_SHOWN:
        body = (
            "<h1>Key already shown</h1><p>The API key of this signup was already shown and "
            "cannot be displayed again. Sign in to the dashboard with it, or ask us for a new "
            "one.</p>"
        )
    elif result.status is SignupStatus.PENDING:
        body = "<h1>Setting up your account</h1><p>Payment received. This page refreshes in a few seconds.</p>"
        return _page(body, refresh=True)
    else:
        body = "<h1>Payment not completed</h1><p>This checkout has not been paid.</p>"
    return _page(body)


@router.get(
    "/signup/cancelled",
    summary="Checkout cancelled: nothing was charged",
    response_class=HTMLResponse,
    response_model=None,
    responses={200: {"description": "an explanation", "content": {"text/html": {}}}},
)
async def signup_cancelled() -> HTMLResponse:
    return _page("<h1>Signup cancelled</h1><p>Nothing was charged. You can start again any time.</p>")


def _page(body: str, refresh: bool = False) -> HTMLResponse:
    meta = '<meta http-equiv="refresh" content="3">' if refresh else ""
    html = (
        f'<!doctype html><html lang="en"><head><meta charset="utf-8">{meta}'
        f"<title>licensing-api signup</title></head><body>{body}</body></html>"
    )
    return HTMLResponse(html, headers=PRIVATE_PAGE_HEADERS)
