"""OpenAPI `responses=` for routes behind the access checks (problem+json, with examples)."""

from __future__ import annotations

from typing import Any

from licensing_api.access.responses import (
    AccountRevoked,
    AccountSuspended,
    InvalidApiKey,
    KeyRevoked,
    NoSubscription,
    RateLimited,
    SpendCapReached,
    UsageCapReached,
)
from licensing_api.errors import ProblemError, ServiceUnavailable, problem_responses
from licensing_api.security.failed_lookups import TooManyFailedKeyLookups
from licensing_api.bots.identify import KeylessSignatureInvalid
from licensing_api.standards.offer import LicenseRequired
from licensing_api.standards.paypercrawl import (
    ConflictingPriceHeaders,
    InvalidCrawlerPriceValue,
    PriceNotAccepted,
)
from licensing_api.standards.webbotauth import BotSignatureInvalid, BotSignatureRequired

USAGE_HEADERS: dict[str, dict[str, Any]] = {
    "X-Usage-Units": {
        "description": "units used this billing period, this request included (the period's "
        "included units, cap and end: `GET /v1/usage`)",
        "schema": {"type": "integer", "example": 1042},
    },
    "crawler-charged": {
        "description": "price of this request under the caller's plan (pay-per-crawl form; "
        "0 inside the included allowance)",
        "schema": {"type": "string", "example": "USD 0.001"},
    },
    "Link": {
        "description": 'the governing license (RSL): <…/license.xml>; rel="license"; type="application/rsl+xml"',
        "schema": {"type": "string"},
    },
}
RETRY_AFTER = {"Retry-After": {"description": "seconds to wait", "schema": {"type": "integer"}}}
USAGE_CAP = {
    "X-Usage-Cap": {
        "description": "usage-cap-reached only: the plan's units per period",
        "schema": {"type": "integer", "example": 5000},
    }
}
WWW_AUTHENTICATE = {
    "WWW-Authenticate": {
        "description": "how to authenticate",
        "schema": {"type": "string", "example": 'Bearer realm="licensing-api"'},
    }
}

CRAWLER_PRICE = {
    "crawler-price": {
        "description": "the price of this request: per crawl for a caller without an account, "
        "under its plan when a declared limit refused it (pay-per-crawl form)",
        "schema": {"type": "string", "example": "USD 0.001"},
    },
    "crawler-error": {
        "description": "why a pay-per-crawl request was refused (Cloudflare's codes, e.g. "
        "InvalidCrawlerMaxPrice)",
        "schema": {"type": "string", "example": "InvalidCrawlerMaxPrice"},
    },
    "Link": USAGE_HEADERS["Link"],
}
LINK = {"Link": USAGE_HEADERS["Link"]}
CRAWLER_ERROR = {"crawler-error": CRAWLER_PRICE["crawler-error"]}

EXAMPLE_DETAILS = {
    "LicenseRequired": "this content is licensed: send an API key, or choose a plan and sign up",
    "InvalidApiKey": "unknown API key",
    "KeyRevoked": "this API key was revoked; create another in the dashboard",
    "ServiceUnavailable": "the key could not be checked right now; retry shortly",
    "AccountSuspended": "payment is overdue; pay the open invoice at "
    "https://publisher.example/dashboard to restore access",
    "AccountRevoked": "this account's subscription was revoked; access has ended",
    "NoSubscription": "this account has no subscription; choose a plan to get access",
    "UsageCapReached": "the plan's 5000 requests for this period are used up; "
    "the next period starts at 2026-12-26T00:43:12Z",
    "RateLimited": "at most 50 requests per second per key",
    "SpendCapReached": "this request would take the period's estimated bill past the budget of "
    "15000 (minor units, USD); the next period starts at 2026-12-26T00:43:12Z",
    "TooManyFailedKeyLookups": "too many unknown or malformed API keys from this address; retry in 42 s",
    "BotSignatureRequired": "this key is bound to a bot key: sign the request (Web Bot Auth)",
    "BotSignatureInvalid": "the signature does not verify",
    "KeylessSignatureInvalid": "this signature's nonce was already used; sign each request anew",
    "PriceNotAccepted": "this request costs USD 0.001, above your crawler-max-price of USD 0.0001",
    "ConflictingPriceHeaders": "send either crawler-exact-price or crawler-max-price, not both",
    "InvalidCrawlerPriceValue": "crawler-max-price must be a currency code and an amount, e.g. USD 0.01",
}
AUTHENTICATION_ERRORS = (
    LicenseRequired, InvalidApiKey, TooManyFailedKeyLookups, KeyRevoked,
    BotSignatureRequired, BotSignatureInvalid, ServiceUnavailable,
)
LICENSING_ERRORS = (
    AccountSuspended, AccountRevoked, NoSubscription, SpendCapReached, UsageCapReached, RateLimited,
    PriceNotAccepted, ConflictingPriceHeaders, InvalidCrawlerPriceValue, KeylessSignatureInvalid,
)


def authenticated_responses(*extra: type[ProblemError]) -> dict[int | str, dict[str, Any]]:
    """401, 403 (key) and 503: what any route taking a crawler key can answer."""
    responses = problem_responses(*AUTHENTICATION_ERRORS, *extra, **EXAMPLE_DETAILS)
    responses[401]["headers"] = WWW_AUTHENTICATE | LINK
    responses[402]["headers"] = CRAWLER_PRICE | WWW_AUTHENTICATE  # the offer, or a price refused
    responses[402]["content"]["text/html"] = {"schema": {"type": "string"}}  # for browsers
    if 429 in responses:
        responses[429]["headers"] = RETRY_AFTER | (USAGE_CAP if UsageCapReached in extra else {})
    return responses


def licensed_responses(*extra: type[ProblemError]) -> dict[int | str, dict[str, Any]]:
    """Every refusal of a licensed (metered) request."""
    responses = authenticated_responses(*LICENSING_ERRORS, *extra)
    responses[400]["headers"] = CRAWLER_ERROR
    return responses
