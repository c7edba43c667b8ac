from __future__ import annotations

from collections.abc import AsyncIterator

import pytest
from asgi_lifespan import LifespanManager
from httpx import ASGITransport, AsyncClient
from pydantic import SecretStr

from licensing_api.billing.provisioning import ProvisionedCustomer, provision_local_customer
from licensing_api.db import session_scope
from licensing_api.main import create_app
from licensing_api.resources import Resources

ADMIN_TOKEN = "test-admin-token-0123456789abcdef"


class Admin:
    def __init__(self, http: AsyncClient, resources: Resources) -> None:
        self.http = http
        self.resources = resources
        self.auth = {"Authorization": f"Bearer {ADMIN_TOKEN}"}

    async def get(self, path: str, **params: object):
        return await self.http.get(path, headers=self.auth, params=params)

    async def post(self, path: str, json: object | None = None):
        return await self.http.post(path, headers=self.auth, json=json)

    async def provision(self, email: str, plan: str = "standard") -> ProvisionedCustomer:
        async with session_scope(self.resources.sessionmaker) as session:
            return await provision_local_customer(session, email, self.resources.catalogue.get(plan))


@pytest.fixture
async def admin(settings) -> AsyncIterator[Admin]:
    app = create_app(settings.model_copy(update={"admin_token": SecretStr(ADMIN_TOKEN)}))
    async with LifespanManager(app) as manager:
        async with AsyncClient(transport=ASGITransport(app=manager.app), base_url="http://t") as http:
            yield Admin(http, manager._state["resources"])  # type: ignore[attr-defined]
