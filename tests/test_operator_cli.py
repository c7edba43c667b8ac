"""The operator's everyday commands (customers list|show, keys list|revoke, usage status),
run in this process through the CLI's own entry point (a subprocess per call costs seconds
of imports on a loaded machine; `tests/test_cli.py` runs the CLI as real processes)."""

from __future__ import annotations

import os
from dataclasses import dataclass

import pytest
from typer.testing import CliRunner

from licensing_api.cli import app


@dataclass(frozen=True, slots=True)
class Ran:
    returncode: int
    stdout: str
    stderr: str


def cli(*args: str, env: dict[str, str]) -> Ran:
    result = CliRunner().invoke(app, list(args), env=env, catch_exceptions=False)
    return Ran(result.exit_code, result.stdout, result.stderr)


@pytest.fixture
def cli_env(settings):
    return {
        "DATABASE_URL": settings.database_url,
        "REDIS_URL": settings.redis_url,
        "REDIS_KEY_PREFIX": settings.redis_key_prefix,
    }


def _create_customer(cli_env, email: str, plan: str = "standard") -> tuple[str, str]:
    created = cli("customers", "create", "--email", email, "--plan", plan, env=cli_env)
    assert created.returncode == 0, created.stderr
    secret, customer_id = created.stdout.strip().splitlines()
    return secret, customer_id


def test_customers_list_shows_email_state_plan_and_units_this_period(cli_env):
    email = f"list-{os.getpid()}@example.com"
    _, customer_id = _create_customer(cli_env, email, "starter")

    listed = cli("customers", "list", env=cli_env)

    assert listed.returncode == 0, listed.stderr
    header, *rows, summary = listed.stdout.strip().splitlines()
    assert header.split() == ["id", "state", "plan", "units", "email"]
    assert customer_id + "  active     starter" in next(r for r in rows if r.startswith(customer_id))
    assert next(r for r in rows if r.startswith(customer_id)).split()[3:] == ["0", email]
    assert summary == f"{len(rows)} customers"
    only_revoked = cli("customers", "list", "--state", "revoked", env=cli_env)
    assert customer_id not in only_revoked.stdout


def test_customers_show_gives_state_subscription_usage_keys_and_audit(cli_env):
    email = f"show-{os.getpid()}@example.com"
    _, customer_id = _create_customer(cli_env, email)

    shown = cli("customers", "show", customer_id, env=cli_env)

    assert shown.returncode == 0, shown.stderr
    out = shown.stdout
    assert f"customer   {customer_id}  {email}" in out
    assert "state      active" in out
    assert "plan       standard: subscription " in out
    assert "usage      0 units this period" in out
    assert "keys       1" in out and "  active   last used -  first key" in out
    assert "- → active  customer provisioned (cli)" in out
    missing = cli("customers", "show", "00000000-0000-0000-0000-000000000000", env=cli_env)
    assert missing.returncode == 2 and missing.stderr.startswith("error: no customer")


def test_keys_list_shows_id_prefix_status_and_last_use(cli_env):
    secret, customer_id = _create_customer(cli_env, f"keys-list-{os.getpid()}@example.com")
    cli("keys", "create", "--customer", customer_id, "--name", "second", env=cli_env)

    listed = cli("keys", "list", "--customer", customer_id, env=cli_env)

    assert listed.returncode == 0, listed.stderr
    header, first, second, summary = listed.stdout.strip().splitlines()
    assert header.split() == ["id", "prefix", "status", "last_used", "created", "name"]
    assert first.split()[1] == secret[:11] + "…"
    assert first.split()[2:4] == ["active", "-"]
    assert first.endswith("first key") and second.endswith("second")
    assert summary == "2 keys, 2 active"
    assert secret not in listed.stdout


def test_keys_revoke_takes_a_unique_prefix_and_says_when_already_revoked(cli_env):
    secret, _ = _create_customer(cli_env, f"revoke-prefix-{os.getpid()}@example.com")

    revoked = cli("keys", "revoke", secret[:11], env=cli_env)
    assert revoked.returncode == 0, revoked.stderr
    assert revoked.stdout.startswith("revoked key ")
    again = cli("keys", "revoke", secret[:11], env=cli_env)
    assert again.returncode == 0, again.stderr
    assert "was already revoked at " in again.stdout and "nothing changed" in again.stdout

    ambiguous = cli("keys", "revoke", "lk_", env=cli_env)
    assert ambiguous.returncode == 2
    assert "keys start with lk_" in ambiguous.stderr
    nonsense = cli("keys", "revoke", "hello", env=cli_env)
    assert nonsense.returncode == 2 and "neither a key id nor a key prefix" in nonsense.stderr


def test_keys_revoke_with_redis_unreachable_says_saved_but_not_propagated(cli_env):
    from tests.observability.serving import free_port

    secret, customer_id = _create_customer(cli_env, f"revoke-offline-{os.getpid()}@example.com")
    offline = {**cli_env, "REDIS_URL": f"redis://127.0.0.1:{free_port()}/0"}

    revoked = cli("keys", "revoke", secret[:11], env=offline)

    assert revoked.returncode == 1
    assert "Traceback" not in revoked.stderr
    assert revoked.stdout.startswith("revoked key ")
    warning = revoked.stderr.strip().splitlines()
    assert len(warning) == 1 and warning[0].startswith(
        "warning: the revocation is saved but not yet propagated: Redis (REDIS_URL=redis://127.0.0.1:")
    assert "ACCESS_CACHE_TTL_SECONDS=30 s" in warning[0]
    listed = cli("keys", "list", "--customer", customer_id, env=cli_env)
    assert " revoked " in listed.stdout  # saved
    retried = cli("keys", "revoke", secret[:11], env=cli_env)  # Redis back: published now
    assert retried.returncode == 0 and retried.stderr == ""


def test_on_embedded_redis_usage_and_customer_commands_say_what_they_cannot_see(cli_env):
    embedded = {**cli_env, "REDIS_URL": "memory://"}
    _, customer_id = _create_customer(cli_env, f"embedded-{os.getpid()}@example.com")
    for command in (("usage", "status"), ("usage", "flush"), ("customers", "list"),
                    ("customers", "show", customer_id)):
        result = cli(*command, env=embedded)
        assert result.returncode == 0, result.stderr
        assert result.stderr.startswith(
            "note: REDIS_URL=memory:// lives inside the running service, out of this command's reach"
        ), (command, result.stderr)
    listed = cli("customers", "list", env=embedded)
    assert next(r for r in listed.stdout.splitlines() if r.startswith(customer_id)).split()[3] == "?"
    status = cli("usage", "status", env=embedded)
    total = next(line for line in status.stdout.splitlines() if line.startswith("total "))
    assert total.split()[1] == "?"  # pending_redis


def test_usage_status_names_the_customer_of_each_item(cli_env, settings):
    import redis as redis_sync

    from licensing_api.usage import redis_keys

    email = f"status-{os.getpid()}@example.com"
    _, customer_id = _create_customer(cli_env, email)
    shown = cli("customers", "show", customer_id, env=cli_env).stdout
    assert "plan       standard" in shown
    item_id = _usage_item_of(settings, customer_id)
    client = redis_sync.Redis.from_url(settings.redis_url)
    counted = f"{item_id}:1764547200"  # in Redis above the (absent) watermark: pending_redis
    client.hincrby(settings.redis_key_prefix + redis_keys.period_totals_of(counted), counted, 3)
    client.close()

    status = cli("usage", "status", env=cli_env)

    row = next(line for line in status.stdout.splitlines() if line.startswith(item_id))
    assert row.split()[1] == "3" and row.split()[-1] == email


def _usage_item_of(settings, customer_id: str) -> str:
    import asyncio

    from sqlalchemy import select

    from licensing_api.billing.models import Subscription, SubscriptionItem
    from licensing_api.db import create_engine

    async def read() -> str:
        engine = create_engine(settings.database_url)
        async with engine.connect() as connection:
            item = await connection.scalar(
                select(SubscriptionItem.id).join(Subscription)
                .where(Subscription.customer_id == customer_id, SubscriptionItem.kind == "metered"))
        await engine.dispose()
        return str(item)

    return asyncio.run(read())


def test_keys_create_refuses_a_name_with_a_control_character_in_one_line(cli_env):
    _, customer_id = _create_customer(cli_env, f"nul-name-{os.getpid()}@example.com")

    result = cli("keys", "create", "--customer", customer_id, "--name", "a\x00b", env=cli_env)

    assert result.returncode == 2
    assert result.stderr.strip().splitlines() == [
        "error: key name: control characters (NUL, line breaks, tabs, escapes) are not allowed; "
        "found U+0000 at position 1"
    ]


def test_customers_create_for_an_existing_email_says_so_instead_of_a_second_customer(cli_env):
    email = f"twice-{os.getpid()}@example.com"
    _, customer_id = _create_customer(cli_env, email, "standard")

    again = cli("customers", "create", "--email", email.upper(), "--plan", "standard", env=cli_env)
    assert again.returncode == 0, again.stderr
    assert again.stdout.strip() == customer_id  # no new secret: its keys are left alone
    assert "already existed" in again.stderr

    other_plan = cli("customers", "create", "--email", email, "--plan", "premium", env=cli_env)
    assert other_plan.returncode == 2
    assert other_plan.stderr.strip().splitlines() == [
        f"error: {email} is already customer {customer_id} (standard); change its plan with "
        f"`licensing-api customers change-plan {customer_id} --plan premium`, or use another email"
    ]
    listed = cli("customers", "list", env=cli_env).stdout
    assert listed.count(email) == 1
