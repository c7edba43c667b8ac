"""The one Stripe client of a process: the official SDK's `StripeClient`, async over httpx.

`None` when billing is off (no `STRIPE_API_KEY`). `STRIPE_API_BASE` points every base
address (api, meter events, files, connect) at a Stripe-compatible server.
"""

from __future__ import annotations

import hashlib
import json
from typing import Any

import stripe

from licensing_api.settings import Settings

# The SDK pins the API version it was generated for (stripe 16.x: 2026-10-28.endive).
MAX_NETWORK_RETRIES = 2
REQUEST_TIMEOUT_SECONDS = 20


def create_stripe_client(
    settings: Settings, http_client: stripe.HTTPXClient | None = None
) -> stripe.StripeClient | None:
    """The process's client; pass `http_client` to close its connections at shutdown."""
    if settings.stripe_api_key is None:
        return None
    base_addresses = None
    if settings.stripe_api_base:
        base = settings.stripe_api_base
        base_addresses = {"api": base, "meter_events": base, "files": base, "connect": base}
    return stripe.StripeClient(
        settings.stripe_api_key.get_secret_value(),
        base_addresses=base_addresses,  # type: ignore[arg-type]
        max_network_retries=MAX_NETWORK_RETRIES,
        http_client=http_client or new_http_client(),
    )


def new_http_client() -> stripe.HTTPXClient:
    return stripe.HTTPXClient(timeout=REQUEST_TIMEOUT_SECONDS)


def require_stripe(client: stripe.StripeClient | None) -> stripe.StripeClient:
    """The client, or `BillingDisabled` (503) when billing is off."""
    from licensing_api.billing.errors import BillingDisabled

    if client is None:
        raise BillingDisabled("billing is off; set STRIPE_API_KEY to use Stripe")
    return client


def field(obj: Any, key: str, default: Any = None) -> Any:
    """`obj[key]` for a StripeObject or a plain dict (StripeObject has no `.get`)."""
    if obj is None:
        return default
    try:
        value = obj[key]
    except KeyError:
        return default
    return default if value is None else value


def idempotency_key(operation: str, params: dict[str, Any]) -> str:
    """Same operation + same parameters = same key: a re-run after a crash is replayed by
    Stripe (for 24 hours) instead of creating a second object."""
    digest = hashlib.sha256(json.dumps(params, sort_keys=True, default=str).encode()).hexdigest()
    return f"licensing-{operation}-{digest[:40]}"
