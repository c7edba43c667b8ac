"""Fixtures for verified bots: a throwaway CA, a key directory served over HTTPS, the app
trusting that CA, and bot keys."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from asgi_lifespan import LifespanManager
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from httpx import ASGITransport, AsyncClient

from licensing_api.bots.directory import KeyDirectoryFetcher, directory_ssl_context
from licensing_api.bots.runtime import BotsRuntime
from licensing_api.main import create_app
from licensing_api.resources import Resources
from licensing_api.settings import Settings
from tests.support.https_directory import KeyDirectoryServer, ThrowawayCA, make_test_ca, serve_key_directory


@pytest.fixture(scope="session")
def test_ca(tmp_path_factory: pytest.TempPathFactory) -> ThrowawayCA:
    return make_test_ca(tmp_path_factory.mktemp("test-ca"))


@pytest.fixture
def directory_server(test_ca: ThrowawayCA) -> Iterator[KeyDirectoryServer]:
    with serve_key_directory(test_ca) as server:
        yield server


@pytest.fixture
async def fetcher(test_ca: ThrowawayCA) -> AsyncIterator[KeyDirectoryFetcher]:
    trusting = KeyDirectoryFetcher(directory_ssl_context(test_ca.ca_file))
    yield trusting
    await trusting.aclose()


@dataclass
class BotsApp:
    client: AsyncClient
    resources: Resources
    bots: BotsRuntime
    state: dict


@pytest.fixture
async def bots_app(settings: Settings, test_ca: ThrowawayCA) -> AsyncIterator[BotsApp]:
    """The app with the test CA trusted for key directories (`BOT_DIRECTORY_CA_FILE`)."""
    app = create_app(settings.model_copy(update={"bot_directory_ca_file": Path(test_ca.ca_file)}))
    async with LifespanManager(app) as manager:
        state = manager._state  # type: ignore[attr-defined]
        transport = ASGITransport(app=manager.app)  # type: ignore[arg-type]
        async with AsyncClient(transport=transport, base_url="http://testserver") as http:
            yield BotsApp(http, state["resources"], state["bots"], state)


@pytest.fixture
def bot_key() -> Ed25519PrivateKey:
    return Ed25519PrivateKey.generate()
