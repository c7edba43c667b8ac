"""Plan changes with billing off: the API, the dashboard form, the admin API and the CLI;
units before a change stay on the old item, units after it count on the new one."""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
import uuid

import pytest
from sqlalchemy import select

from licensing_api.accounts.models import AccountState, AuditLogEntry
from licensing_api.billing.models import Subscription, SubscriptionItem
from licensing_api.billing.pricing import estimate_bill
from licensing_api.billing.renewals import roll_over_local_periods
from licensing_api.db import session_scope
from licensing_api.settings import Settings, load_settings
from licensing_api.usage.redis_keys import item_period_field, period_totals_of
from tests.access.helpers import Crawler, new_crawler, set_account_state
from tests.dashboard.conftest import SESSION_SECRET
from tests.dashboard.pages import hidden, signed_in_page
from tests.support import infra

ITEM = "/v1/content/repairing-a-bicycle-chain"
ADMIN_TOKEN = "admin-token-for-plan-change-tests-0123456789"


@pytest.fixture
def settings(database_url: str, redis_prefix: str) -> Settings:
    return load_settings(database_url=database_url, redis_url=infra.TEST_REDIS_URL,
                         redis_key_prefix=redis_prefix, admin_token=ADMIN_TOKEN,
                         session_secret=SESSION_SECRET, _env_file=None)


async def serve(client, crawler: Crawler, count: int) -> None:  # type: ignore[no-untyped-def]
    for _ in range(count):
        response = await client.get(ITEM, headers=crawler.headers)
        assert response.status_code == 200, response.text


async def items_of(resources, crawler: Crawler) -> list[SubscriptionItem]:  # type: ignore[no-untyped-def]
    async with session_scope(resources.sessionmaker) as session:
        subscription = await session.scalar(select(Subscription).where(
            Subscription.customer_id == crawler.customer_id))
        return list(await session.scalars(select(SubscriptionItem).where(
            SubscriptionItem.subscription_id == subscription.id).order_by(SubscriptionItem.created_at)))


TALLY_MOVED_SECONDS = 0.4  # the worker moves its tally into Redis every 200 ms


async def units_on(resources, item: SubscriptionItem) -> int:  # type: ignore[no-untyped-def]
    """Units of the item's period in Redis, after the worker's tally has moved there."""
    await asyncio.sleep(TALLY_MOVED_SECONDS)
    field = item_period_field(item.id, item.current_period_start)
    raw = await resources.redis.hget(resources.redis_key(period_totals_of(field)), field)
    return int(raw or 0)


async def test_a_change_now_keeps_earlier_units_on_the_old_item_and_counts_later_ones_on_the_new(client, resources):
    crawler = await new_crawler(resources, plan="standard")
    await serve(client, crawler, 3)
    response = await client.post("/v1/subscription/plan", json={"plan": "premium", "when": "now"},
                                 headers=crawler.headers)
    assert response.status_code == 200, response.text
    body = response.json()
    assert (body["from_plan"], body["plan"], body["when"], body["scheduled"]) == ("standard", "premium", "now", False)
    assert body["invoice_now"] is None  # billing off: nothing is invoiced
    await asyncio.sleep(0.1)  # the invalidation reaches this worker's subscriber
    await serve(client, crawler, 2)
    old_base, old_metered, *new_items = await items_of(resources, crawler)
    assert old_metered.ended_at is not None and old_metered.meter_event_name == "licensed_requests.standard"
    new_metered = next(i for i in new_items if i.kind == "metered")
    assert new_metered.meter_event_name == "licensed_requests.premium" and new_metered.ended_at is None
    assert (await units_on(resources, old_metered), await units_on(resources, new_metered)) == (3, 2)
    usage = (await client.get("/v1/usage", headers=crawler.headers)).json()
    assert (usage["plan_id"], usage["units"], usage["included_units"]) == ("premium", 2, 100_000)
    standard, premium = resources.catalogue.get("standard"), resources.catalogue.get("premium")
    assert usage["earlier_usage_amount"] == estimate_bill(standard, 3).usage_amount
    assert usage["next_invoice_amount"] == premium.base_amount  # usage within both allowances


async def test_a_change_at_the_period_end_waits_and_starts_with_the_next_period(client, resources):
    crawler = await new_crawler(resources, plan="standard")
    response = await client.post("/v1/subscription/plan", json={"plan": "premium"}, headers=crawler.headers)
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["scheduled"] is True and body["when"] == "period_end"
    usage = (await client.get("/v1/usage", headers=crawler.headers)).json()
    assert usage["plan_id"] == "standard"
    assert usage["scheduled_change"] == {"plan_id": "premium", "plan_name": "Premium",
                                         "effective_at": usage["period_end"]}
    assert usage["next_invoice_amount"] == resources.catalogue.get("premium").base_amount
    page = await signed_in_page(client, crawler.secret)
    assert 'id="scheduled-change" data-plan="premium"' in page

    end = (await items_of(resources, crawler))[0].current_period_end
    assert crawler.customer_id in await roll_over_local_periods(resources, end)
    await asyncio.sleep(0.1)  # the invalidation reaches this worker's subscriber
    usage = (await client.get("/v1/usage", headers=crawler.headers)).json()
    assert usage["plan_id"] == "premium" and usage["scheduled_change"] is None
    assert usage["period_start"] == end.isoformat().replace("+00:00", "Z")


async def test_asking_for_the_current_plan_cancels_a_waiting_change(client, resources):
    crawler = await new_crawler(resources, plan="standard")
    await client.post("/v1/subscription/plan", json={"plan": "premium"}, headers=crawler.headers)
    response = await client.post("/v1/subscription/plan", json={"plan": "standard"}, headers=crawler.headers)
    assert response.status_code == 200 and response.json()["canceled_scheduled_change"] is True
    assert (await client.get("/v1/usage", headers=crawler.headers)).json()["scheduled_change"] is None
    again = await client.post("/v1/subscription/plan", json={"plan": "standard"}, headers=crawler.headers)
    assert again.status_code == 409 and again.json()["type"].endswith("/same-plan")


@pytest.mark.parametrize("plan, when, status, slug", [
    ("gold", "now", 404, "plan-not-found"),
    ("pay-per-crawl-eur", "period_end", 409, "plan-change-refused"),  # another currency
    ("standard-annual", "now", 409, "plan-change-refused"),  # yearly: only at the period end
    ("premium", "tomorrow", 422, "validation-error"),
])
async def test_changes_that_cannot_be_made_are_refused_with_a_problem(client, resources, plan, when, status, slug):
    crawler = await new_crawler(resources, plan="standard")
    response = await client.post("/v1/subscription/plan", json={"plan": plan, "when": when},
                                 headers=crawler.headers)
    assert response.status_code == status, response.text
    assert response.headers["content-type"] == "application/problem+json"
    assert response.json()["type"].endswith(slug)


async def test_a_suspended_account_cannot_change_its_plan(client, resources):
    crawler = await new_crawler(resources, plan="standard")
    await set_account_state(resources, crawler.customer_id, AccountState.SUSPENDED)
    response = await client.post("/v1/subscription/plan", json={"plan": "premium"}, headers=crawler.headers)
    assert response.status_code == 409


async def test_the_dashboard_form_changes_the_plan(client, resources):
    crawler = await new_crawler(resources, plan="standard")
    page = await signed_in_page(client, crawler.secret)
    assert 'id="plan-change-form"' in page and 'value="pay-per-crawl-eur"' not in page
    response = await client.post("/dashboard/plan", data={
        "csrf_token": hidden(page, "csrf_token"), "plan": "premium", "when": "now"})
    assert response.status_code == 303 and response.headers["location"] == "/dashboard?done=plan-changed"
    usage = (await client.get("/v1/usage", headers=crawler.headers)).json()
    assert usage["plan_id"] == "premium"


async def test_the_admin_api_changes_the_plan_and_the_audit_log_says_so(client, resources):
    crawler = await new_crawler(resources, plan="standard")
    response = await client.post(f"/admin/customers/{crawler.customer_id}/plan",
                                 json={"plan": "starter", "when": "now"},
                                 headers={"Authorization": f"Bearer {ADMIN_TOKEN}"})
    assert response.status_code == 200, response.text
    async with session_scope(resources.sessionmaker) as session:
        reasons = list(await session.scalars(select(AuditLogEntry.reason).where(
            AuditLogEntry.customer_id == crawler.customer_id)))
    assert "plan standard → starter (now)" in reasons
    usage = (await client.get("/v1/usage", headers=crawler.headers)).json()
    assert (usage["plan_id"], usage["cap_units"]) == ("starter", 5000)


def test_the_cli_changes_the_plan(settings):
    env = {"PATH": os.environ["PATH"], "DATABASE_URL": settings.database_url,
           "REDIS_URL": settings.redis_url, "REDIS_KEY_PREFIX": settings.redis_key_prefix}

    def cli(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run([sys.executable, "-m", "licensing_api.cli", *args], env=env,
                              capture_output=True, text=True, timeout=60)

    created = cli("customers", "create", "--email", f"{uuid.uuid4().hex[:8]}@example.com", "--plan", "standard")
    customer_id = created.stdout.strip().splitlines()[-1]
    scheduled = cli("customers", "change-plan", customer_id, "--plan", "premium")
    assert scheduled.returncode == 0, scheduled.stderr
    assert "standard → premium from" in scheduled.stdout
    now = cli("customers", "change-plan", customer_id, "--plan", "starter", "--now")
    assert now.returncode == 0, now.stderr
    assert "standard → starter now" in now.stdout
    unknown = cli("customers", "change-plan", customer_id, "--plan", "gold")
    assert unknown.returncode != 0 and "no plan 'gold'" in unknown.stderr


async def test_the_dashboard_says_when_a_canceled_subscription_ends(client, resources):
    crawler = await new_crawler(resources, plan="standard")
    async with session_scope(resources.sessionmaker) as session:
        subscription = await session.scalar(select(Subscription).where(
            Subscription.customer_id == crawler.customer_id))
        subscription.cancel_at = subscription.current_period_end
        ends = subscription.current_period_end
    page = await signed_in_page(client, crawler.secret)
    assert f'id="ends-on"><time datetime="{ends.isoformat()}"' in page
    usage = (await client.get("/v1/usage", headers=crawler.headers)).json()
    assert usage["ends_at"] == usage["period_end"] and usage["next_invoice_amount"] == 0


async def test_an_operator_reinstates_a_revoked_local_account(client, resources):
    crawler = await new_crawler(resources, plan="standard")
    admin = {"Authorization": f"Bearer {ADMIN_TOKEN}"}
    active = await client.post(f"/admin/customers/{crawler.customer_id}/reinstate",
                               json={"reason": "nothing to do"}, headers=admin)
    assert active.status_code == 409 and active.json()["type"].endswith("/not-reinstatable")
    await set_account_state(resources, crawler.customer_id, AccountState.REVOKED)
    assert (await client.get(ITEM, headers=crawler.headers)).status_code == 403
    done = await client.post(f"/admin/customers/{crawler.customer_id}/reinstate",
                             json={"reason": "revoked by mistake"}, headers=admin)
    assert done.status_code == 200, done.text
    assert done.json()["new_subscription"] is False  # the local subscription never ended
    await asyncio.sleep(0.1)  # the invalidation reaches this worker's subscriber
    assert (await client.get(ITEM, headers=crawler.headers)).status_code == 200
    async with session_scope(resources.sessionmaker) as session:
        reasons = list(await session.scalars(select(AuditLogEntry.reason).where(
            AuditLogEntry.customer_id == crawler.customer_id, AuditLogEntry.to_state == "active")))
    assert "reinstated: revoked by mistake" in reasons


async def test_the_cli_reinstates(settings, resources):
    env = {"PATH": os.environ["PATH"], "DATABASE_URL": settings.database_url,
           "REDIS_URL": settings.redis_url, "REDIS_KEY_PREFIX": settings.redis_key_prefix}

    def cli(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run([sys.executable, "-m", "licensing_api.cli", *args], env=env,
                              capture_output=True, text=True, timeout=60)

    crawler = await new_crawler(resources, plan="starter")
    refused = await asyncio.to_thread(cli, "customers", "reinstate", str(crawler.customer_id))
    assert refused.returncode != 0 and "only a suspended or revoked account" in refused.stderr
    await set_account_state(resources, crawler.customer_id, AccountState.SUSPENDED)
    done = await asyncio.to_thread(cli, "customers", "reinstate", str(crawler.customer_id),
                                   "--reason", "paid by bank transfer")
    assert done.returncode == 0, done.stderr
    assert f"customer {crawler.customer_id} is active again on starter" in done.stdout
