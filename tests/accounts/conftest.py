"""Account tests use the webhook tests' settings (billing on the local Stripe server)."""

from tests.webhooks.conftest import settings, synced  # noqa: F401 - fixtures
