"""Stripe webhook signatures: ``Stripe-Signature: t=<unix>,v1=<hex HMAC-SHA256>``.

The signed message is ``f"{t}.{raw_body}"`` keyed with the endpoint secret (``whsec_…``),
exactly what ``stripe.Webhook.construct_event`` verifies.
"""

from __future__ import annotations

import hashlib
import hmac
import time


def compute_signature(payload: bytes, secret: str, timestamp: int) -> str:
    message = f"{timestamp}.".encode() + payload
    return hmac.new(secret.encode(), message, hashlib.sha256).hexdigest()


def sign_payload(payload: bytes, secret: str, timestamp: int | None = None) -> str:
    """The ``Stripe-Signature`` header value for ``payload`` signed with ``secret``."""
    if isinstance(payload, str):
        payload = payload.encode()
    t = int(time.time()) if timestamp is None else int(timestamp)
    return f"t={t},v1={compute_signature(payload, secret, t)}"
