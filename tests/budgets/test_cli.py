"""`licensing-api budgets set|show|clear`, run in this process through the CLI's entry point."""

from __future__ import annotations

import uuid

import pytest

from tests.test_operator_cli import _create_customer, cli


@pytest.fixture
def cli_env(settings):
    return {"DATABASE_URL": settings.database_url, "REDIS_URL": settings.redis_url,
            "REDIS_KEY_PREFIX": settings.redis_key_prefix}


def test_set_show_and_clear_a_budget(cli_env):
    _, customer = _create_customer(cli_env, f"{uuid.uuid4().hex[:8]}@example.com", "standard")
    # standard: 100.00 base, 1000 units included, then 0.001 each, the line rounded half-up:
    # 50004 billed units are 50.00, 50005 are 50.01
    done = cli("budgets", "set", customer, "--amount", "15000", "--thresholds", "80,50", "--hard-stop", env=cli_env)
    assert done.returncode == 0, done.stderr
    assert "budget 150.00 USD per period, thresholds 50%, 80%, hard stop on" in done.stdout
    assert "refuses requests past 51004 units" in done.stdout
    shown = cli("budgets", "show", customer, env=cli_env)
    assert "estimated 100.00 USD, remaining 50.00 USD" in shown.stdout
    assert "reached: 50%" in shown.stdout
    assert "thresholds 50%, 80%, hard stop on" in shown.stdout  # as saved
    cleared = cli("budgets", "clear", customer, env=cli_env)
    assert cleared.returncode == 0
    assert cli("budgets", "show", customer, env=cli_env).returncode == 2


def test_bad_values_end_with_one_line_and_exit_2(cli_env):
    bad = cli("budgets", "set", str(uuid.uuid4()), "--amount", "0", env=cli_env)
    assert bad.returncode == 2 and bad.stderr.startswith("error: invalid budget")
    bad = cli("budgets", "set", str(uuid.uuid4()), "--amount", "100", "--thresholds", "x", env=cli_env)
    assert bad.returncode == 2 and "whole percentages" in bad.stderr
    unknown = cli("budgets", "set", str(uuid.uuid4()), "--amount", "100", env=cli_env)
    assert unknown.returncode == 2 and unknown.stderr.startswith("error: no customer")
