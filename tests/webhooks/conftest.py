"""Webhook tests run the app with signing secrets and billing pointed at the local Stripe
server (used when a handler must ask Stripe, e.g. a dispute's charge)."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from licensing_api.billing.catalogue_sync import sync_catalogue
from licensing_api.resources import Resources
from licensing_api.settings import Settings, load_settings
from tests.support import infra
from tests.webhooks.builders import ROTATED_SECRET, WEBHOOK_SECRET

# One secret for the served app and the test's own resources, as several workers share one.
SESSION_SECRET = "webhook-tests-session-secret-0123456789abcdef"
from tests.webhooks.served import ServedApp, served_app


@pytest.fixture
def settings(database_url: str, redis_prefix: str, stripe_server) -> Settings:  # type: ignore[no-untyped-def]
    return load_settings(
        database_url=database_url,
        redis_url=infra.TEST_REDIS_URL,
        redis_key_prefix=redis_prefix,
        stripe_api_key=stripe_server.api_key,
        stripe_api_base=stripe_server.url,
        stripe_webhook_secret=f"{WEBHOOK_SECRET},{ROTATED_SECRET}",
        grace_check_interval_seconds=3600,
        session_secret=SESSION_SECRET,
        _env_file=None,
    )


@pytest.fixture(scope="module")
def served(database_url: str, redis_prefix: str, stripe_server) -> Iterator[ServedApp]:  # type: ignore[no-untyped-def]
    """The app under uvicorn, receiving the local Stripe server's deliveries."""
    settings = load_settings(
        database_url=database_url, redis_url=infra.TEST_REDIS_URL, redis_key_prefix=redis_prefix,
        stripe_api_key=stripe_server.api_key, stripe_api_base=stripe_server.url,
        stripe_webhook_secret="whsec_replaced_by_the_endpoint_secret",
        grace_check_interval_seconds=0.2, session_secret=SESSION_SECRET,
        admin_token="webhook-tests-admin-token-0123456789abcdef", _env_file=None,
    )
    with served_app(settings, stripe_server) as app:
        yield app


@pytest.fixture
async def synced(resources: Resources) -> Resources:
    """Resources whose plans exist in the local Stripe server (`plans sync`)."""
    assert resources.stripe is not None
    await sync_catalogue(resources, resources.stripe)
    return resources
