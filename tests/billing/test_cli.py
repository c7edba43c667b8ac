"""`plans sync` and `customers create` with billing on, run as an operator runs them."""

from __future__ import annotations

import os
import subprocess
import sys
import uuid

from licensing_api.keys.service import is_well_formed


def cli(*args: str, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "licensing_api.cli", *args],
        env=env, capture_output=True, text=True, timeout=120,
    )


def test_plans_sync_then_customers_create_through_stripe(billing_settings, plan_ids, stripe_client):
    env = {
        "PATH": os.environ["PATH"],
        "DATABASE_URL": billing_settings.database_url,
        "REDIS_URL": billing_settings.redis_url,
        "REDIS_KEY_PREFIX": billing_settings.redis_key_prefix,
        "STRIPE_API_KEY": billing_settings.stripe_api_key.get_secret_value(),
        "STRIPE_API_BASE": billing_settings.stripe_api_base,
        "PLANS_FILE": str(billing_settings.plans_file),
    }
    first = cli("plans", "sync", env=env)
    second = cli("plans", "sync", env=env)
    email = f"cli-{uuid.uuid4().hex[:8]}@example.com"
    created = cli("customers", "create", "--email", email, "--plan", plan_ids["standard"], env=env)
    again = cli("customers", "create", "--email", email, "--plan", plan_ids["standard"], env=env)

    assert first.returncode == 0, first.stderr
    progress = [line.split() for line in first.stderr.splitlines()]
    assert ["created", plan_ids["standard"], "metered", "price"] in [line[:4] for line in progress]
    assert first.stdout.strip() == "20 created, 0 updated, 0 replaced, 0 kept"
    assert second.stdout.strip() == "0 created, 0 updated, 0 replaced, 20 kept"
    assert created.returncode == 0, created.stderr
    secret, customer_id = created.stdout.strip().splitlines()
    assert is_well_formed(secret) and len(customer_id) == 36
    assert again.returncode == 0, again.stderr
    assert again.stdout.strip() == customer_id  # the same customer, no second key printed
    assert len(stripe_client.v1.customers.list({"email": email}).data) == 1
