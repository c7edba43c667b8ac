"""Stripe failures as the service's own problems: retryable (`StripeUnavailable`) or not.

Every Stripe call in the service runs inside `translate_stripe_errors(operation)`, so callers
handle two types instead of the SDK's dozen. The SDK has already retried network errors,
409s and 5xx `MAX_NETWORK_RETRIES` times (with the same idempotency key) before we see them.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any, ClassVar

import stripe

from licensing_api.errors import ProblemError, ServiceUnavailable

DEFAULT_RETRY_AFTER_SECONDS = 5


class BillingDisabled(ServiceUnavailable):
    """Billing is off (no `STRIPE_API_KEY`): the operation needs Stripe."""

    slug, title = "billing-disabled", "Billing is not configured"


class StripeFailure(ProblemError):
    """Base of Stripe failures. `retryable` says whether the same call may succeed later."""

    retryable: ClassVar[bool] = False

    def __init__(
        self,
        detail: str,
        *,
        operation: str,
        stripe_code: str | None = None,
        stripe_status: int | None = None,
        request_id: str | None = None,
        headers: dict[str, str] | None = None,
    ) -> None:
        super().__init__(detail, headers=headers, operation=operation)
        self.operation = operation
        self.stripe_code = stripe_code
        self.stripe_status = stripe_status
        self.request_id = request_id


class StripeUnavailable(StripeFailure):
    """Network error, timeout, 429 or 5xx after the SDK's own retries: try again later."""

    status, slug, title = 503, "stripe-unavailable", "Payment provider unavailable"
    retryable = True


class StripeRejected(StripeFailure):
    """Stripe refused the request (4xx): repeating it unchanged fails the same way."""

    status, slug, title = 502, "stripe-rejected", "Payment provider rejected the request"


def translate(exc: stripe.StripeError, operation: str) -> StripeFailure:
    """The service's error for an SDK error raised by `operation` (e.g. "customers.create")."""
    status = exc.http_status
    common: dict[str, Any] = {
        "operation": operation,
        "stripe_code": exc.code,
        "stripe_status": status,
        "request_id": exc.request_id,
    }
    if isinstance(exc, (stripe.APIConnectionError, stripe.RateLimitError)) or (
        status is not None and (status >= 500 or status in (409, 429))
    ):
        retry_after = _retry_after(exc.headers)
        return StripeUnavailable(
            f"Stripe did not complete {operation}; retry in {retry_after} s",
            headers={"Retry-After": str(retry_after)},
            **common,
        )
    message = exc.user_message or str(exc) or type(exc).__name__
    return StripeRejected(f"Stripe rejected {operation}: {message}", **common)


@contextmanager
def translate_stripe_errors(operation: str) -> Iterator[None]:
    """Run a Stripe call; an SDK error leaves as `StripeUnavailable` or `StripeRejected`."""
    try:
        yield
    except stripe.StripeError as exc:
        raise translate(exc, operation) from exc


def _retry_after(headers: Any) -> int:
    raw = headers.get("Retry-After") if headers is not None else None
    try:
        return max(1, int(float(raw))) if raw is not None else DEFAULT_RETRY_AFTER_SECONDS
    except ValueError:
        return DEFAULT_RETRY_AFTER_SECONDS
