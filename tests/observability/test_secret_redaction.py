"""No secret reaches a log line: API keys, Stripe keys, webhook secrets, credential headers."""

from __future__ import annotations

import logging

import pytest
from asgi_lifespan import LifespanManager
from httpx import ASGITransport, AsyncClient
from pydantic import SecretStr

from licensing_api.keys.service import generate_secret
from licensing_api.logging import secret_values
from licensing_api.main import create_app
from licensing_api.observability.redaction import redact
from tests.observability.conftest import capture_logs

API_KEY = generate_secret()
STRIPE_KEY = "sk_test_51NsecretStripeKeyValue0123456789"
RESTRICTED_KEY = "rk_live_51NrestrictedKeyValue0123456789"
WEBHOOK_SECRET = "whsec_c2VjcmV0U2lnbmluZ1NlY3JldDAxMjM0NTY3"
ADMIN_TOKEN = "admin-token-0123456789abcdefghijklmn"
SESSION_COOKIE = "eyJjdXN0b21lciI6IjEyMyJ9.Zx1Y2w.signaturepartofthecookie"
SIGNATURE = "t=1732580000,v1=5257a869e7ecebeda32affa62cdca3fa51cad7e77a0e56ff536d0ce8e108d8bd"
SESSION_SECRET = "session-secret-0123456789abcdefghijklmnopqrstuv"
SECRETS = [API_KEY, STRIPE_KEY, RESTRICTED_KEY, WEBHOOK_SECRET, ADMIN_TOKEN, SESSION_COOKIE,
           SESSION_SECRET, SIGNATURE.split("v1=")[1]]


@pytest.fixture
def secret_settings(settings):
    """A deployment with every secret setting set (billing on, against an unreachable Stripe)."""
    return settings.model_copy(update={
        "admin_token": SecretStr(ADMIN_TOKEN),
        "stripe_api_key": SecretStr(STRIPE_KEY),
        "stripe_api_base": "http://127.0.0.1:9",
        "stripe_webhook_secret": SecretStr(WEBHOOK_SECRET),
        "session_secret": SecretStr(SESSION_SECRET),
    })


@pytest.fixture
def production_logs(secret_settings):
    """Logs formatted as `licensing-api serve` formats them (knowing the deployment's secrets)."""
    with capture_logs(secret_values(secret_settings)) as logs:
        yield logs


@pytest.fixture
async def secret_client(secret_settings):
    app = create_app(secret_settings)
    async with LifespanManager(app) as manager:
        async with AsyncClient(transport=ASGITransport(app=manager.app), base_url="http://t") as http:
            yield http


def assert_no_secret_in(text: str) -> None:
    for secret in SECRETS:
        assert secret not in text, f"secret {secret[:6]}… found in the logs"
    # Not even a recognisable stretch of an API key's random part.
    assert API_KEY[3:20] not in text


async def test_requests_carrying_credentials_leave_no_secret_in_the_logs(secret_client, production_logs):
    client, captured_logs = secret_client, production_logs
    credentials = [
        {"Authorization": f"Bearer {API_KEY}"},
        {"X-API-Key": API_KEY},
        {"Authorization": f"Bearer {ADMIN_TOKEN}"},
        {"Cookie": f"session={SESSION_COOKIE}"},
        {"Stripe-Signature": SIGNATURE, "Content-Type": "application/json"},
    ]
    for headers in credentials:
        for path in ("/v1/content", f"/v1/content/x?api_key={API_KEY}", "/admin/customers", "/dashboard"):
            await client.get(path, headers=headers)
        await client.post(
            "/webhooks/stripe", headers=headers,
            content=f'{{"secret": "{WEBHOOK_SECRET}", "key": "{STRIPE_KEY}"}}',
        )
        await client.post("/v1/keys", headers=headers, json={"name": API_KEY})
    assert len(await captured_logs.access_lines(30)) == 30  # one per request, all written
    assert captured_logs.entries(), "the requests wrote no log line at all"
    assert_no_secret_in(captured_logs.text)


def test_secrets_in_messages_fields_and_tracebacks_are_redacted(production_logs):
    captured_logs = production_logs
    logger = logging.getLogger("licensing_api.test")
    logger.info("calling Stripe with %s", STRIPE_KEY, extra={"webhook_secret": WEBHOOK_SECRET})
    logger.warning(
        "request_rejected",
        extra={"headers": {"authorization": f"Bearer {API_KEY}", "cookie": f"session={SESSION_COOKIE}"},
               "raw_headers": [(b"x-api-key", API_KEY.encode()), (b"stripe-signature", SIGNATURE.encode())],
               "note": f"restricted key {RESTRICTED_KEY}, admin {ADMIN_TOKEN}, {SESSION_SECRET}"},
    )
    try:
        raise ValueError(f"bad key {API_KEY} with Authorization: Bearer {ADMIN_TOKEN}")
    except ValueError:
        logger.exception("failed")
    assert len(captured_logs.entries()) == 3
    assert_no_secret_in(captured_logs.text)


def test_redaction_keeps_the_public_key_prefix_and_plain_text():
    assert redact("key lk_abcd1234 revoked") == "key lk_abcd1234 revoked"
    assert redact("bulk_operations_total task_abcdefghijkl") == "bulk_operations_total task_abcdefghijkl"
    assert redact(f"key {API_KEY} revoked") == "key lk_[redacted] revoked"
    assert redact(f"X-API-Key: {API_KEY}") == "X-API-Key: [redacted]"
