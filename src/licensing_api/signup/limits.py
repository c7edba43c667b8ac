"""Signups per client address: each one creates a Stripe Checkout Session, so an anonymous
client must not be able to spend the account's Stripe rate limit (or fill its test mode).

The same per-address sliding window as failed key lookups (`security/failed_lookups.py`),
per worker and in memory; `SIGNUP_LIMIT` attempts per `SIGNUP_WINDOW_SECONDS`.
"""

from __future__ import annotations

import math
from typing import Annotated

from fastapi import Depends, FastAPI, Request

from licensing_api.errors import ProblemError
from licensing_api.security.failed_lookups import AddressLimiter, retry_headers


class TooManySignups(ProblemError):
    status, slug, title = 429, "too-many-signups", "Too many signups from this address"


def _too_many_signups(wait: float) -> ProblemError:
    return TooManySignups(
        f"too many signups from this address; retry in {math.ceil(wait)} s",
        headers=retry_headers(wait),
    )


def install_signup_limiter(app: FastAPI, limit: int, window_seconds: float) -> None:
    app.state.signup_attempts = AddressLimiter(limit, window_seconds, refuse=_too_many_signups)


def get_signup_limiter(request: Request) -> AddressLimiter:
    return request.app.state.signup_attempts  # type: ignore[no-any-return]


SignupLimiterDep = Annotated[AddressLimiter, Depends(get_signup_limiter)]
