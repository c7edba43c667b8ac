"""Hostile-input testing: schemathesis over the service's own OpenAPI, every operation.

Twice: with valid credentials (a crawler key; the admin token for `/admin/*`; a signed-in
session cookie and its CSRF token for `/dashboard/*`) and with none. Every check schemathesis
has runs (`--checks all`), except the few that contradict the contract (`EXCLUDED`, each
with its reason): above all, no response is a 5xx. Bounded and deterministic:
`MAX_EXAMPLES` per operation, derandomized.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest
import schemathesis
from hypothesis import HealthCheck, settings
from pydantic import SecretStr
from asgi_lifespan import LifespanManager
from httpx import ASGITransport, AsyncClient
from schemathesis.checks import CHECKS, load_all_checks
from schemathesis.config import SchemathesisConfig
from schemathesis.specs.openapi.checks import ignored_auth, negative_data_rejection

from licensing_api.billing.catalogue_sync import sync_catalogue
from licensing_api.billing.provisioning import provision_local_customer
from licensing_api.dashboard.sessions import SESSION_COOKIE
from licensing_api.billing.plans import load_catalogue
from licensing_api.db import session_scope
from licensing_api.main import create_app
from licensing_api.resources import open_resources
from licensing_api.settings import load_settings
from tests.dashboard.pages import hidden, signed_in_page
from tests.support import infra

MAX_EXAMPLES = 25
ADMIN_TOKEN = "schemathesis-admin-token-0123456789"
WEBHOOK_SECRET = "whsec_schemathesis0123456789abcdef"
SESSION_SECRET = "schemathesis-session-secret-0123456789abcdef"
load_all_checks()
# A request without any key is refused with 402, the license offer (CONTRACT.md), before its
# parameters are read; schema-valid requests are also refused for reasons a schema cannot
# state (400: a content path breaking the path rules, an unsigned webhook, an OLP request
# for a license nobody sells). So 402 counts as a refusal and 400/402 as a proper answer;
# a 422 for schema-valid data (validation stricter than documented) is still caught.
ACCEPTED = ["2xx", "3xx", 400, 401, 402, 403, 404, 409, 429, "5xx"]
CONFIG = SchemathesisConfig.from_dict({"checks": {
    "negative_data_rejection": {"expected-statuses": [
        400, 401, 402, 403, 404, 405, 406, 409, 415, 422, 428, 429, "5xx"]},
    "positive_data_acceptance": {"expected-statuses": ACCEPTED},
}, "operations": [{
    # email-validator refuses addresses that `format: email` allows (localhost, special-use
    # domains such as .test): a signup for them could never receive its receipts.
    "include-path": "/v1/signup",
    "checks": {"positive_data_acceptance": {"expected-statuses": [*ACCEPTED, 422]}},
}]})
EXCLUDED = {
    # Expects 401/403 without credentials; the contract answers 402 (the license offer).
    ignored_auth,
}
ALL_CHECKS = [check for check in CHECKS.get_all() if check not in EXCLUDED]
CHECKS_WITH_CREDENTIALS = [check for check in ALL_CHECKS if check is not negative_data_rejection]
BOUNDED = settings(
    max_examples=MAX_EXAMPLES, derandomize=True, deadline=None,
    suppress_health_check=list(HealthCheck), database=None,
)


def _settings(**overrides: object):
    return load_settings(
        admin_token=SecretStr(ADMIN_TOKEN), stripe_webhook_secret=SecretStr(WEBHOOK_SECRET),
        session_secret=SecretStr(SESSION_SECRET), access_log=False, _env_file=None, **overrides,
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
schema = schemathesis.openapi.from_dict(create_app(_settings()).openapi(), config=CONFIG)
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


@pytest.fixture(scope="module")
async def dashboard_session(api_settings, crawler_key) -> tuple[str, str]:
    """(session cookie, CSRF token) of a dashboard signed in with the crawler key (the same
    SESSION_SECRET makes them good for the app under test)."""
    async with LifespanManager(create_app(api_settings)) as manager:
        transport = ASGITransport(app=manager.app)  # type: ignore[arg-type]
        async with AsyncClient(transport=transport, base_url="http://testserver") as http:
            page = await signed_in_page(http, crawler_key)
            return http.cookies[SESSION_COOKIE], hidden(page, "csrf_token")


def credentials_for(case, crawler_key: str, dashboard_session: tuple[str, str]) -> dict[str, str]:
    if case.path.startswith("/dashboard"):
        cookie, csrf_token = dashboard_session
        if isinstance(case.body, dict) and "csrf_token" in case.body:
            case.body["csrf_token"] = csrf_token  # the form's own token; the rest stays hostile
        return {"Cookie": f"{SESSION_COOKIE}={cookie}"}
    token = ADMIN_TOKEN if case.path.startswith("/admin") else crawler_key
    return {"Authorization": f"Bearer {token}"}


@schema.parametrize()
@BOUNDED
def test_api_with_valid_credentials(case, crawler_key, dashboard_session):
    headers = credentials_for(case, crawler_key, dashboard_session)
    case.call_and_validate(headers=headers, checks=CHECKS_WITH_CREDENTIALS)


@schema.parametrize()
@BOUNDED
def test_api_without_credentials(case):
    if case.headers:
        case.headers.pop("Authorization", None)
        case.headers.pop("X-API-Key", None)
    case.call_and_validate(checks=ALL_CHECKS)
