"""Fixtures shared by every test: real PostgreSQL and Redis, the app over ASGI."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator

import pytest
from asgi_lifespan import LifespanManager
from httpx import ASGITransport, AsyncClient
from redis.asyncio import Redis
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncSession

from licensing_api.db import session_scope
from licensing_api.main import create_app
from licensing_api.models import Base
from licensing_api.resources import Resources
from licensing_api.settings import Settings, load_settings
from tests.support import infra

pytest_plugins = ["tests.stripe_server.pytest_plugin", "tests.support.redis_cluster"]


@pytest.fixture(scope="session")
async def database_url() -> AsyncIterator[str]:
    """A database of our own for this test run, migrated to head, dropped at the end."""
    name = await infra.create_database()
    url = infra.async_url(name)
    await asyncio.to_thread(infra.migrate, url)
    yield url
    await infra.drop_database(name)


@pytest.fixture(scope="session")
async def redis_prefix() -> AsyncIterator[str]:
    """A Redis key prefix of our own for this test run, its keys deleted at the end."""
    prefix = f"test:{uuid.uuid4().hex[:12]}:"
    yield prefix
    redis = Redis.from_url(infra.TEST_REDIS_URL)
    async for key in redis.scan_iter(match=prefix + "*", count=1000):
        await redis.delete(key)
    await redis.aclose()


@pytest.fixture
def prefix(redis_prefix: str) -> str:
    """A key prefix of one test's own, under the run's (its keys deleted with the run's)."""
    return f"{redis_prefix}{uuid.uuid4().hex[:8]}:"


@pytest.fixture
async def redis() -> AsyncIterator[Redis]:
    """A client of the test Redis, to read and set what the code under test finds there."""
    client = Redis.from_url(infra.TEST_REDIS_URL)
    yield client
    await client.aclose()


@pytest.fixture
def settings(database_url: str, redis_prefix: str) -> Settings:
    return load_settings(
        database_url=database_url,
        redis_url=infra.TEST_REDIS_URL,
        redis_key_prefix=redis_prefix,
        _env_file=None,
    )


@pytest.fixture
async def clean_database(database_url: str) -> None:
    """Empty every table, for tests that count rows."""
    from licensing_api.db import create_engine

    engine = create_engine(database_url)
    async with engine.begin() as connection:
        names = ", ".join(f'"{t.name}"' for t in Base.metadata.sorted_tables)
        await connection.execute(text(f"TRUNCATE {names} CASCADE"))
    await engine.dispose()


@pytest.fixture
async def app_resources(settings: Settings) -> AsyncIterator[tuple[object, Resources]]:
    app = create_app(settings)
    async with LifespanManager(app) as manager:
        yield manager.app, manager._state["resources"]  # type: ignore[attr-defined]


@pytest.fixture
async def resources(app_resources: tuple[object, Resources]) -> Resources:
    return app_resources[1]


@pytest.fixture
async def client(app_resources: tuple[object, Resources]) -> AsyncIterator[AsyncClient]:
    transport = ASGITransport(app=app_resources[0])  # type: ignore[arg-type]
    async with AsyncClient(transport=transport, base_url="http://testserver") as http:
        yield http


@pytest.fixture
async def session(resources: Resources) -> AsyncIterator[AsyncSession]:
    """A committed unit of work for arranging test data."""
    async with session_scope(resources.sessionmaker) as db_session:
        yield db_session
