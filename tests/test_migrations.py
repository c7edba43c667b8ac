"""Migrations run up, down and up again on PostgreSQL and SQLite, and match the models."""

import asyncio

import pytest
from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext

from licensing_api.db import create_engine
from licensing_api.db_cli import alembic_config
from licensing_api.models import Base
from tests.support import infra


@pytest.fixture(params=["postgresql", "sqlite"])
async def empty_database_url(request, tmp_path):
    if request.param == "sqlite":
        yield f"sqlite+aiosqlite:///{tmp_path}/migrations.db"
        return
    name = await infra.create_database("licensing_migrations")
    yield infra.async_url(name)
    await infra.drop_database(name)


async def test_upgrade_downgrade_upgrade(empty_database_url):
    config = alembic_config(empty_database_url)
    await asyncio.to_thread(command.upgrade, config, "head")
    await asyncio.to_thread(command.downgrade, config, "base")
    assert await _table_names(empty_database_url) == {"alembic_version"}
    await asyncio.to_thread(command.upgrade, config, "head")
    assert {t.name for t in Base.metadata.sorted_tables} <= await _table_names(empty_database_url)


async def test_models_match_migrations(empty_database_url):
    await asyncio.to_thread(command.upgrade, alembic_config(empty_database_url), "head")
    engine = create_engine(empty_database_url)
    async with engine.connect() as connection:
        diff = await connection.run_sync(
            lambda sync: compare_metadata(
                MigrationContext.configure(sync, opts={"compare_type": True}), Base.metadata
            )
        )
    await engine.dispose()
    assert diff == []


async def _table_names(url: str) -> set[str]:
    from sqlalchemy import inspect

    engine = create_engine(url)
    async with engine.connect() as connection:
        names = await connection.run_sync(lambda sync: set(inspect(sync).get_table_names()))
    await engine.dispose()
    return names
