"""The answers the request path gives a crawler it does not serve (CONTRACT.md status codes).

`no_credentials_response` is deliberately one small function: it hands a keyless request to
the crawler standards' 402 license offer (a human page for browsers).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from fastapi import FastAPI, Request
from starlette.responses import Response

from licensing_api.errors import ProblemError
from licensing_api.standards.offer import BEARER_REALM as REALM
from licensing_api.standards.service import get_standards

if TYPE_CHECKING:
    from licensing_api.resources import Resources

# RFC 6750 and the RSL crawler guide: the key (Bearer) or the license token (License) failed.
INVALID_CREDENTIALS_CHALLENGE = (
    REALM + ', error="invalid_token", License error="invalid_token", '
    'error_description="The API key or license token is unknown, expired, revoked or malformed"'
)


class RespondWith(Exception):
    """Raised by an access dependency to answer with a ready-made response."""

    def __init__(self, response: Response) -> None:
        super().__init__(response.status_code)
        self.response = response


class InvalidApiKey(ProblemError):
    status, slug, title = 401, "invalid-api-key", "Unknown or malformed API key"

    def __init__(self, detail: str) -> None:
        super().__init__(detail, headers={"WWW-Authenticate": INVALID_CREDENTIALS_CHALLENGE})


class AccountSuspended(ProblemError):
    status, slug, title = 402, "account-suspended", "Account suspended for non-payment"


class KeyRevoked(ProblemError):
    status, slug, title = 403, "key-revoked", "API key revoked"


class AccountRevoked(ProblemError):
    status, slug, title = 403, "account-revoked", "Subscription revoked"


class NoSubscription(ProblemError):
    status, slug, title = 403, "no-subscription", "No active subscription"


class UsageCapReached(ProblemError):
    status, slug, title = 429, "usage-cap-reached", "Plan usage cap reached"


class SpendCapReached(ProblemError):
    """The customer's budget with its hard stop on (`GET/PUT /v1/budget`): carries
    `budget`, `amount_so_far` (minor units), `currency` and `period_end`."""

    status, slug, title = 429, "spend-cap-reached", "Spend cap reached"


class RateLimited(ProblemError):
    status, slug, title = 429, "rate-limited", "Rate limit exceeded"


def no_credentials_response(request: Request, resources: Resources) -> Response:
    """The answer to a request that carries no API key at all: the 402 license offer."""
    return get_standards(request).offer_response(request)


def install_respond_with_handler(app: FastAPI) -> None:
    @app.exception_handler(RespondWith)
    async def _respond_with(request: Request, exc: RespondWith) -> Response:
        return exc.response
