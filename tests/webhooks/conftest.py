"""Webhook tests run the app with signing secrets and billing pointed at the local Stripe
server (used when a handler must ask Stripe, e.g. a dispute's charge)."""

from __future__ import annotations

import pytest

from licensing_api.settings import Settings, load_settings
from tests.support import infra
from tests.webhooks.builders import ROTATED_SECRET, WEBHOOK_SECRET


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
        _env_file=None,
    )
