"""Fixtures for the crawler standards: the app built with chosen settings."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from typing import Any

import pytest
from asgi_lifespan import LifespanManager
from httpx import ASGITransport, AsyncClient

from licensing_api.main import create_app
from licensing_api.settings import Settings


@pytest.fixture
def client_with() -> Callable[..., Any]:
    """`async with client_with(settings, **overrides) as http:` an app on those settings."""

    @asynccontextmanager
    async def open_client(settings: Settings, **overrides: Any) -> AsyncIterator[AsyncClient]:
        app = create_app(settings.model_copy(update=overrides))
        async with LifespanManager(app) as manager:
            transport = ASGITransport(app=manager.app)  # type: ignore[arg-type]
            async with AsyncClient(transport=transport, base_url="http://testserver") as http:
                yield http

    return open_client
