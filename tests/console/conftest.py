"""Console fixtures: the app with ADMIN_TOKEN over ASGI, and helpers to sign in and post forms."""

from __future__ import annotations

import re
import uuid
from collections.abc import AsyncIterator

import pytest
from asgi_lifespan import LifespanManager
from httpx import ASGITransport, AsyncClient, Response
from pydantic import SecretStr

from licensing_api.billing.provisioning import ProvisionedCustomer, provision_local_customer
from licensing_api.db import session_scope
from licensing_api.main import create_app
from licensing_api.resources import Resources

ADMIN_TOKEN = "console-admin-token-0123456789abcdef"
SESSION_SECRET = "console-tests-session-secret-0123456789"
ARTICLE = "/v1/content/caring-for-cast-iron"


def hidden(html: str, name: str) -> str:
    match = re.search(rf'name="{name}" value="([^"]*)"', html)
    assert match, f"no hidden field {name}"
    return match.group(1)


def value_of(html: str, element_id: str) -> int:
    match = re.search(rf'id="{element_id}"[^>]*data-value="(-?\d+)"', html)
    assert match, f"no #{element_id} with a data-value"
    return int(match.group(1))


class Console:
    def __init__(self, http: AsyncClient, resources: Resources, hot_path=None) -> None:
        self.http = http
        self.resources = resources
        self.hot_path = hot_path
        self.csrf = ""
        self.app = None  # the FastAPI app, when a test needs its state

    async def move_tally(self) -> None:
        """This worker's counted units into Redis now (the per-key-day counters the chart reads)."""
        await self.hot_path.tally.move_once()

    async def sign_in(self, token: str = ADMIN_TOKEN) -> Response:
        form = await self.http.get("/console")
        return await self.http.post("/console/sign-in", data={"token": token, "nonce": hidden(form.text, "nonce")})

    async def signed_in(self) -> str:
        response = await self.sign_in()
        assert response.status_code == 303, response.text
        page = await self.http.get("/console")
        assert page.status_code == 200 and 'id="current-units"' in page.text, page.text
        self.csrf = hidden(page.text, "csrf_token")
        return page.text

    async def post(self, path: str, **fields: str) -> Response:
        return await self.http.post(path, data={"csrf_token": self.csrf, **fields})

    async def provision(self, plan: str = "standard", email: str | None = None) -> ProvisionedCustomer:
        async with session_scope(self.resources.sessionmaker) as session:
            return await provision_local_customer(
                session, email or f"console-{uuid.uuid4().hex[:8]}@example.com", self.resources.catalogue.get(plan)
            )

    async def crawl(self, secret: str, times: int, user_agent: str = "GPTBot/1.2", path: str = ARTICLE) -> list[int]:
        headers = {"Authorization": f"Bearer {secret}", "User-Agent": user_agent}
        return [(await self.http.get(path, headers=headers)).status_code for _ in range(times)]


def console_settings(settings, **overrides):
    return settings.model_copy(update={
        "admin_token": SecretStr(ADMIN_TOKEN), "session_secret": SecretStr(SESSION_SECRET), **overrides,
    })


@pytest.fixture
async def console(settings) -> AsyncIterator[Console]:
    app = create_app(console_settings(settings))
    async with LifespanManager(app) as manager:
        async with AsyncClient(transport=ASGITransport(app=manager.app), base_url="http://t") as http:
            state = manager._state  # type: ignore[attr-defined]
            console = Console(http, state["resources"], state["hot_path"])
            console.app = app
            yield console


from tests.dashboard.conftest import browser  # noqa: E402,F401  (one headless Chromium per module)
