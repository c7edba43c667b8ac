"""The CLI as an operator runs it: subprocesses against real PostgreSQL."""

import os
import subprocess
import sys

import pytest

from licensing_api.keys.service import is_well_formed


def cli(*args: str, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "licensing_api.cli", *args],
        env=env, capture_output=True, text=True, timeout=60,
    )


@pytest.fixture
def cli_env(settings):
    return {
        "PATH": os.environ["PATH"],
        "DATABASE_URL": settings.database_url,
        "REDIS_URL": settings.redis_url,
        "REDIS_KEY_PREFIX": settings.redis_key_prefix,
    }


def test_db_upgrade_is_repeatable(cli_env):
    for _ in range(2):
        result = cli("db", "upgrade", env=cli_env)
        assert result.returncode == 0, result.stderr


def test_customers_create_prints_the_key_once_and_the_id_last(cli_env):
    result = cli("customers", "create", "--email", "cli@example.com", "--plan", "standard", env=cli_env)
    assert result.returncode == 0, result.stderr
    lines = result.stdout.strip().splitlines()
    assert len(lines) == 2
    secret, customer_id = lines
    assert is_well_formed(secret)
    assert len(customer_id) == 36


def test_keys_create_and_revoke(cli_env):
    created = cli("customers", "create", "--email", f"k-{os.getpid()}@example.com", "--plan", "starter", env=cli_env)
    customer_id = created.stdout.strip().splitlines()[-1]

    new_key = cli("keys", "create", "--customer", customer_id, env=cli_env)
    assert new_key.returncode == 0, new_key.stderr
    assert is_well_formed(new_key.stdout.strip())
    key_id = new_key.stderr.split()[1]

    revoked = cli("keys", "revoke", key_id, env=cli_env)
    assert revoked.returncode == 0, revoked.stderr
    assert f"revoked key {key_id}" in revoked.stdout


def test_unknown_plan_customer_and_key_give_one_line_errors(cli_env):
    unknown_plan = cli("customers", "create", "--email", "x@example.com", "--plan", "gold", env=cli_env)
    assert unknown_plan.returncode == 2
    assert unknown_plan.stderr.startswith("error: no plan 'gold'")

    unknown_customer = cli("keys", "create", "--customer", "00000000-0000-0000-0000-000000000000", env=cli_env)
    assert unknown_customer.returncode == 2
    assert "no customer" in unknown_customer.stderr

    unknown_key = cli("keys", "revoke", "00000000-0000-0000-0000-000000000000", env=cli_env)
    assert unknown_key.returncode == 2
    assert "no API key" in unknown_key.stderr


def test_invalid_email_is_refused(cli_env):
    result = cli("customers", "create", "--email", "not-an-email", "--plan", "standard", env=cli_env)
    assert result.returncode == 2
    assert "email" in result.stderr


def _commands(group, path=()):
    yield path
    for name, command in getattr(group, "commands", {}).items():
        yield from _commands(command, (*path, name))


def test_no_help_page_labels_flags_with_a_type():
    import typer.main
    from typer.testing import CliRunner

    from licensing_api.cli import app

    root = typer.main.get_command(app)
    pages = 0
    for path in _commands(root):
        result = CliRunner().invoke(app, [*path, "--help"])
        assert result.exit_code == 0, (path, result.output)
        assert "<bool>" not in result.output, (path, result.output)
        assert "--help" in result.output
        pages += 1
    assert pages > 10


def _one_error_line(result: subprocess.CompletedProcess[str]) -> str:
    assert result.returncode == 2, result.stderr
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    assert lines[0].startswith("error: ")
    return lines[0]


def test_an_unreachable_database_is_one_line_naming_database_url(cli_env):
    from tests.observability.serving import free_port

    url = f"postgresql+asyncpg://postgres:hunter2@127.0.0.1:{free_port()}/licensing"
    for command in (("db", "upgrade"), ("customers", "list")):
        line = _one_error_line(cli(*command, env={**cli_env, "DATABASE_URL": url}))
        assert line.startswith("error: cannot reach the database (DATABASE_URL=postgresql+asyncpg://postgres:***@"), line
        assert "hunter2" not in line


def test_a_missing_database_is_one_line_saying_how_to_create_it(cli_env):
    url = "postgresql+asyncpg://postgres@127.0.0.1:5432/licensing_no_such_database"
    for command in (("db", "upgrade"), ("customers", "list")):
        line = _one_error_line(cli(*command, env={**cli_env, "DATABASE_URL": url}))
        assert "database 'licensing_no_such_database' does not exist" in line
        assert "createdb licensing_no_such_database" in line


async def test_a_database_without_migrations_says_run_db_upgrade(cli_env):
    import asyncio

    from tests.support import infra

    name = await infra.create_database("licensing_unmigrated")
    env = {**cli_env, "DATABASE_URL": infra.async_url(name)}
    try:
        for command in (("customers", "create", "--email", "new@example.com", "--plan", "standard"),
                        ("usage", "status")):
            result = await asyncio.to_thread(cli, *command, env=env)
            line = _one_error_line(result)
            assert line.endswith("; run licensing-api db upgrade"), line
        upgraded = await asyncio.to_thread(cli, "db", "upgrade", env=env)
        assert upgraded.returncode == 0, upgraded.stderr
        status = await asyncio.to_thread(cli, "usage", "status", env=env)
        assert status.returncode == 0, status.stderr
    finally:
        await infra.drop_database(name)


def test_an_unwritable_sqlite_folder_is_one_line(cli_env, tmp_path):
    (tmp_path / "ro").mkdir(mode=0o500)
    url = f"sqlite+aiosqlite:///{tmp_path}/ro/sub/licensing.db"
    line = _one_error_line(cli("usage", "status", env={**cli_env, "DATABASE_URL": url}))
    assert "cannot open the SQLite file" in line
