"""Secrets never reach a log line: every formatted line passes through `redact`.

Covered: API keys (`lk_…`), Stripe secret and restricted keys (`sk_…`, `rk_…`), webhook
signing secrets (`whsec_…`), bearer tokens (API keys, ADMIN_TOKEN), Stripe-Signature
signatures, and the values of credential headers (Authorization, X-API-Key, Cookie,
Set-Cookie, Stripe-Signature) whether logged as text, a dict or a header list.
"""

from __future__ import annotations

import re
from typing import Any

REDACTED = "[redacted]"

SENSITIVE_NAMES = frozenset(
    {
        "authorization", "x-api-key", "cookie", "set-cookie", "stripe-signature",
        "stripe_signature", "x_api_key", "api_key", "secret", "password", "token",
        "admin_token", "session",
    }
)

# An `lk_` display prefix (8 characters after `lk_`) is public; anything longer is a secret.
_SECRET_TOKENS = re.compile(
    r"(?<![A-Za-z0-9])(lk_|sk_|rk_|whsec_)[A-Za-z0-9_\-+/=]{9,}"
    r"|(?i:\b(bearer)\s+)[^\s\"'\\,;\]\)}]+"
    r"|(?i:\b(v[01])=)[0-9a-fA-F]{16,}"
)
# `name: value`, `"name": "value"`, `name=value`, `(b'name', b'value')`.
_SENSITIVE_HEADER = re.compile(
    r"(?i)\b(authorization|x-api-key|set-cookie|cookie|stripe-signature)"
    r"(\\?[\"']?\s*(?::|=|,)\s*(?-i:b)?\\?[\"']?)"
    r"[^\"'\\\r\n]*"  # the value, up to a quote or a JSON escape (`\n`, `\"`)
)

_HEADER_TRIGGERS = ("authorization", "x-api-key", "cookie", "stripe-signature")
_TOKEN_TRIGGERS = ("lk_", "sk_", "rk_", "whsec_", "bearer", "v1=", "v0=")
# Text without any of these (lowercased) and without a known secret is returned unchanged.
REDACTION_TRIGGERS = _HEADER_TRIGGERS + _TOKEN_TRIGGERS


def _replace_token(match: re.Match[str]) -> str:
    if match.group(1):
        return match.group(1) + REDACTED
    if match.group(2):
        return match.group(2) + " " + REDACTED
    return match.group(3) + "=" + REDACTED


def redact(text: str, known_secrets: tuple[str, ...] = ()) -> str:
    """`text` with every secret it contains replaced by `[redacted]`.

    `known_secrets` are this deployment's own secret values (ADMIN_TOKEN, SESSION_SECRET, …),
    replaced wherever they appear, with or without a recognisable shape.
    """
    for secret in known_secrets:
        if secret in text:
            text = text.replace(secret, REDACTED)
    # Cheap substring tests first: most lines (an access line per request) contain none.
    lowered = text.lower()
    if any(trigger in lowered for trigger in _HEADER_TRIGGERS):
        text = _SENSITIVE_HEADER.sub(lambda m: m.group(1) + m.group(2) + REDACTED, text)
        lowered = text.lower()
    if any(trigger in lowered for trigger in _TOKEN_TRIGGERS):
        text = _SECRET_TOKENS.sub(_replace_token, text)
    return text


def redact_fields(value: Any) -> Any:
    """A structure with the values of sensitive names (headers, `api_key`, …) replaced."""
    if isinstance(value, dict):
        return {
            k: REDACTED if isinstance(k, str) and k.lower() in SENSITIVE_NAMES else redact_fields(v)
            for k, v in value.items()
        }
    if isinstance(value, (list, tuple)):
        if len(value) == 2 and isinstance(value[0], (str, bytes)):
            name = value[0].decode("latin-1") if isinstance(value[0], bytes) else value[0]
            if name.lower() in SENSITIVE_NAMES:
                return (name, REDACTED)
        return [redact_fields(v) for v in value]
    return value
