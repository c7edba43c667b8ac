"""Hostile-input testing: schemathesis over the service's own OpenAPI, every operation.

Twice: with valid credentials (a crawler key; the admin token for `/admin/*`) and with none.
Each response must be a non-5xx, with a documented status code, content type, headers and
body schema. Bounded and deterministic: `MAX_EXAMPLES` per operation, derandomized.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest
import schemathesis
from hypothesis import HealthCheck, settings
from pydantic import SecretStr
from schemathesis.checks import (
    content_type_conformance,
    not_a_server_error,
    response_headers_conformance,
    response_schema_conformance,
    status_code_conformance,
)

from licensing_api.billing.provisioning import provision_local_customer
from licensing_api.billing.catalogue_sync import sync_catalogue
from licensing_api.billing.plans import load_catalogue
from licensing_api.db import session_scope
from licensing_api.main import create_app
from licensing_api.resources import open_resources
from licensing_api.settings import load_settings
from tests.support import infra

MAX_EXAMPLES = 25
ADMIN_TOKEN = "schemathesis-admin-token-0123456789"
WEBHOOK_SECRET = "whsec_schemathesis0123456789abcdef"
CHECKS = [not_a_server_error, status_code_conformance, content_type_conformance,
          response_headers_conformance, response_schema_conformance]
BOUNDED = settings(
    max_examples=MAX_EXAMPLES, derandomize=True, deadline=None,
    suppress_health_check=list(HealthCheck), database=None,
)


def _settings(**overrides: object):
    return load_settings(
        admin_token=SecretStr(ADMIN_TOKEN), stripe_webhook_secret=SecretStr(WEBHOOK_SECRET),
        access_log=False, _env_file=None, **overrides,
    )


class AppUnderTest:
    """Where schemathesis sends each case: the app a module fixture built on the test database.

    The schema itself is read at import (pytest collects one test per operation from it),
    before the database fixtures exist; building an app opens no connection, so that is safe.
    """

    app = None

    async def __call__(self, scope, receive, send) -> None:
        await self.app(scope, receive, send)


APP_UNDER_TEST = AppUnderTest()
schema = schemathesis.openapi.from_dict(create_app(_settings()).openapi())
schema.app = APP_UNDER_TEST


@pytest.fixture(scope="module")
def api_settings(database_url, redis_prefix, stripe_server):
    # Billing on, against the local Stripe-compatible server: signup and checkout are real.
    return _settings(
        database_url=database_url, redis_url=infra.TEST_REDIS_URL, redis_key_prefix=redis_prefix,
        stripe_api_key=SecretStr(stripe_server.api_key), stripe_api_base=stripe_server.url,
    )


@pytest.fixture(scope="module")
async def crawler_key(api_settings) -> str:
    """A valid crawler key, after `plans sync` has created the catalogue in Stripe."""
    catalogue = load_catalogue(api_settings.plans_file)
    async with open_resources(api_settings, catalogue) as resources:
        await sync_catalogue(resources, resources.stripe)
        async with session_scope(resources.sessionmaker) as session:
            provisioned = await provision_local_customer(
                session, "schemathesis@example.com", catalogue.get("standard")
            )
    return provisioned.first_key.secret


@pytest.fixture(scope="module", autouse=True)
def app_under_test(api_settings) -> Iterator[None]:
    # Schemathesis starts the app's lifespan once, in its own event-loop thread.
    APP_UNDER_TEST.app = create_app(api_settings)
    yield
    from schemathesis.python.asgi import shutdown_lifespans

    shutdown_lifespans()
    APP_UNDER_TEST.app = None


def credentials_for(path: str, crawler_key: str) -> dict[str, str]:
    token = ADMIN_TOKEN if path.startswith("/admin") else crawler_key
    return {"Authorization": f"Bearer {token}"}


@schema.parametrize()
@BOUNDED
def test_api_with_valid_credentials(case, crawler_key):
    case.call_and_validate(headers=credentials_for(case.path, crawler_key), checks=CHECKS)


@schema.parametrize()
@BOUNDED
def test_api_without_credentials(case):
    if case.headers:
        case.headers.pop("Authorization", None)
        case.headers.pop("X-API-Key", None)
    case.call_and_validate(checks=CHECKS)
