"""The operator console over ASGI: sign-in, CSRF, each page, each action, console off."""

from __future__ import annotations

import csv
import io
import re
import time
import uuid
from datetime import UTC, datetime, timedelta

import pytest
from asgi_lifespan import LifespanManager
from httpx import ASGITransport, AsyncClient
from pydantic import SecretStr
from sqlalchemy import select

from licensing_api.accounts.models import AccountState, AuditLogEntry, Customer
from licensing_api.billing.models import Subscription
from licensing_api.billing.periods import add_interval
from licensing_api.billing.pricing import estimate_bill
from licensing_api.db import session_scope, utcnow
from licensing_api.keys.models import ApiKey, KeyStatus
from licensing_api.main import create_app
from licensing_api.usage.models import ReportState, UsageReport, UsageWatermark
from tests.console.conftest import ADMIN_TOKEN, ARTICLE, Console, console_settings, value_of

SECOND_ARTICLE = "/v1/content/sourdough-chemistry"


async def _customer(console: Console, customer_id) -> Customer:
    async with session_scope(console.resources.sessionmaker) as session:
        return await session.get(Customer, customer_id)


async def _report(console: Console, item_id, state: ReportState, attempts: int = 5) -> str:
    report_id = f"console-{uuid.uuid4().hex}"
    now = utcnow()
    async with session_scope(console.resources.sessionmaker) as session:
        session.add(UsageReport(
            id=report_id, subscription_item_id=item_id, units=7, period_start=now - timedelta(days=1),
            period_end=now + timedelta(days=29), usage_at=now, state=state, attempts=attempts,
            last_error="rejected for good" if state == ReportState.FAILED else None,
        ))
    return report_id


# -- sign-in, sessions, CSRF -------------------------------------------------------------
async def test_signing_in_with_the_admin_token_sets_an_httponly_strict_cookie_without_it(console):
    response = await console.sign_in()
    assert response.status_code == 303 and response.headers["location"] == "/console"
    cookie = next(c for c in response.headers.get_list("set-cookie") if c.startswith("licensing_console="))
    assert "HttpOnly" in cookie and "SameSite=strict" in cookie and "Path=/console" in cookie
    assert ADMIN_TOKEN not in cookie and ADMIN_TOKEN[:12] not in cookie
    page = await console.http.get("/console")
    assert page.status_code == 200 and 'id="current-units"' in page.text


async def test_a_wrong_token_cannot_sign_in(console):
    response = await console.sign_in("not-the-admin-token")
    assert response.status_code == 401
    assert "licensing_console=" not in response.headers.get("set-cookie", "")
    assert 'id="admin-token"' in response.text
    assert 'id="current-units"' not in (await console.http.get("/console")).text


async def test_sign_in_without_the_forms_nonce_is_refused(console):
    await console.http.get("/console")
    response = await console.http.post("/console/sign-in", data={"token": ADMIN_TOKEN})
    assert response.status_code == 403
    assert "licensing_console=" not in response.headers.get("set-cookie", "")


async def test_a_forged_session_cookie_shows_the_sign_in_form(console):
    console.http.cookies.set("licensing_console", "eyJ0IjoiIn0.forged.sig", path="/console")
    page = await console.http.get("/console")
    assert page.status_code == 200 and 'id="admin-token"' in page.text


async def test_a_session_ends_when_the_admin_token_changes(settings):
    app = create_app(console_settings(settings))
    async with LifespanManager(app) as manager:
        async with AsyncClient(transport=ASGITransport(app=manager.app), base_url="http://t") as http:
            console = Console(http, manager._state["resources"])
            await console.signed_in()
            cookie = http.cookies.get("licensing_console")
    app = create_app(console_settings(settings, admin_token=SecretStr("a-new-admin-token-0123456789")))
    async with LifespanManager(app) as manager:
        async with AsyncClient(transport=ASGITransport(app=manager.app), base_url="http://t") as http:
            http.cookies.set("licensing_console", cookie, path="/console")
            page = await http.get("/console")
    assert 'id="admin-token"' in page.text and 'id="current-units"' not in page.text


@pytest.mark.parametrize("action", ["plan", "suspend", "revoke", "reinstate", "keys", "key-revoke",
                                    "retry", "retry-failed", "sign-out"])
async def test_a_post_without_the_sessions_csrf_token_is_refused_and_changes_nothing(console, action):
    provisioned = await console.provision()
    customer_id, key_id = provisioned.customer.id, provisioned.first_key.key.id
    report_id = await _report(console, provisioned.usage_item.id, ReportState.FAILED)
    await console.signed_in()
    path = {
        "plan": f"/console/customers/{customer_id}/plan", "suspend": f"/console/customers/{customer_id}/suspend",
        "revoke": f"/console/customers/{customer_id}/revoke",
        "reinstate": f"/console/customers/{customer_id}/reinstate",
        "keys": f"/console/customers/{customer_id}/keys",
        "key-revoke": f"/console/customers/{customer_id}/keys/{key_id}/revoke",
        "retry": f"/console/billing/reports/{report_id}/retry", "retry-failed": "/console/billing/reports/retry-failed",
        "sign-out": "/console/sign-out",
    }[action]
    for token in ("", "forged-token"):
        response = await console.http.post(path, data={"csrf_token": token, "plan": "premium", "when": "now"})
        assert response.status_code == 403
        assert "This form has expired" in response.text
        assert '<a href="/console">Back to the console</a>' in response.text
    assert (await _customer(console, customer_id)).state == AccountState.ACTIVE
    async with session_scope(console.resources.sessionmaker) as session:
        assert (await session.get(ApiKey, key_id)).status == KeyStatus.ACTIVE
        assert (await session.get(UsageReport, report_id)).state == ReportState.FAILED
        keys = await session.scalars(select(ApiKey).where(ApiKey.customer_id == customer_id))
        assert len(list(keys)) == 1
        subscription = await session.scalar(select(Subscription).where(Subscription.customer_id == customer_id))
        assert subscription.plan_id == "standard"
    assert 'id="current-units"' in (await console.http.get("/console")).text  # still signed in


async def test_signed_out_pages_send_the_browser_to_the_sign_in_form(console):
    for path in ("/console/customers", "/console/content", "/console/billing", "/console/export.csv",
                 f"/console/customers/{uuid.uuid4()}"):
        response = await console.http.get(path)
        assert response.status_code == 303 and response.headers["location"] == "/console", path


async def test_signing_out_clears_the_session(console):
    await console.signed_in()
    response = await console.post("/console/sign-out")
    assert response.status_code == 303
    assert 'id="admin-token"' in (await console.http.get("/console")).text


async def test_pages_carry_the_dashboards_security_headers_and_are_not_cached(console):
    await console.signed_in()
    for path in ("/console", "/console/customers", "/console/content", "/console/billing"):
        response = await console.http.get(path)
        assert response.status_code == 200, path
        assert "default-src 'self'" in response.headers["content-security-policy"]
        assert "frame-ancestors 'none'" in response.headers["content-security-policy"]
        assert response.headers["x-frame-options"] == "DENY"
        assert response.headers["x-content-type-options"] == "nosniff"
        assert response.headers["cache-control"] == "no-store"
        assert "<script" not in response.text and "https://" not in response.text  # no CDN


async def test_without_an_admin_token_the_console_is_off(settings):
    app = create_app(settings)  # ADMIN_TOKEN unset
    async with LifespanManager(app) as manager:
        async with AsyncClient(transport=ASGITransport(app=manager.app), base_url="http://t") as http:
            page = await http.get("/console")
            posted = await http.post("/console/sign-in", data={"token": "anything", "nonce": "x"})
            assert "/console" not in (await http.get("/openapi.json")).json()["paths"]
    assert page.status_code == 404 and 'id="console-off"' in page.text and "ADMIN_TOKEN" in page.text
    assert posted.status_code == 404


# -- overview -----------------------------------------------------------------------------
async def test_the_overview_sums_every_customers_v1_usage(clean_database, console):
    first, second = await console.provision("standard"), await console.provision("premium")
    assert await console.crawl(first.first_key.secret, 3) == [200] * 3
    assert await console.crawl(second.first_key.secret, 5, user_agent="ClaudeBot/1.0") == [200] * 5
    assert (await console.http.get("/v1/content/caring-for-cast-iron", headers={"User-Agent": "GPTBot"})).status_code == 402
    usages = [(await console.http.get("/v1/usage", headers={"X-API-Key": p.first_key.secret})).json()
              for p in (first, second)]
    await console.move_tally()
    page = await console.signed_in()
    assert value_of(page, "current-units") == sum(u["units"] for u in usages) == 8
    assert value_of(page, "current-estimated-usd") == sum(u["estimated_amount"] for u in usages)
    assert value_of(page, "current-customers") == 2
    assert value_of(page, "state-active") == 2 and value_of(page, "state-suspended") == 0
    assert value_of(page, "offers") >= 1
    assert 'id="billing-off"' in page
    assert 'data-crawler="GPTBot"' in page and 'data-crawler="ClaudeBot"' in page
    rects = [int(u) for u in re.findall(r'class="bar"[^>]*data-units="(\d+)"', page)]
    assert len(rects) == 30 and sum(rects) == 8  # the chart: every key's units per day
    assert '<title id="chart-svg-title">Requests served per day, last 30 days</title>' in page
    assert '8 requests in total, at most' in page


async def test_crawler_traffic_splits_licensed_from_refused_requests(console):
    provisioned = await console.provision()
    agent = f"PerplexityBot/{uuid.uuid4().hex[:4]}"
    await console.crawl(provisioned.first_key.secret, 2, user_agent=agent)
    await console.crawl("lk_" + "B" * 43, 1, user_agent=agent)  # an unknown key: refused
    await console.http.get("/v1/content/caring-for-cast-iron", headers={"User-Agent": agent})  # 402
    page = await console.signed_in()
    row = page[page.index('data-crawler="PerplexityBot"'):]
    row = row[:row.index("</tr>")]
    licensed = int(re.search(r'crawler-licensed"[^>]*data-value="(\d+)"', row).group(1))
    refused = int(re.search(r'crawler-refused"[^>]*data-value="(\d+)"', row).group(1))
    assert licensed >= 2 and refused >= 2 and "payment required" in row


# -- customers --------------------------------------------------------------------------
async def test_customers_are_found_by_email_fragment_id_state_and_plan(console):
    marker = uuid.uuid4().hex[:10]
    standard = await console.provision("standard", f"alice-{marker}@example.com")
    premium = await console.provision("premium", f"bob-{marker}@example.com")
    await console.signed_in()
    by_email = (await console.http.get("/console/customers", params={"q": marker})).text
    assert str(standard.customer.id) in by_email and str(premium.customer.id) in by_email
    by_plan = (await console.http.get("/console/customers", params={"q": marker, "plan": "premium"})).text
    assert str(premium.customer.id) in by_plan and str(standard.customer.id) not in by_plan
    by_id = (await console.http.get("/console/customers", params={"q": str(standard.customer.id)})).text
    assert str(standard.customer.id) in by_id and str(premium.customer.id) not in by_id
    any_state = (await console.http.get("/console/customers", params={"q": marker, "state": "", "plan": ""})).text
    assert str(standard.customer.id) in any_state and str(premium.customer.id) in any_state  # the form's "any"
    suspended = (await console.http.get("/console/customers", params={"q": marker, "state": "suspended"})).text
    assert 'id="no-customers"' in suspended
    bad = await console.http.get("/console/customers", params={"state": "sleeping"})
    assert bad.status_code == 422


async def test_a_customers_usage_this_period_is_shown_as_v1_usage_answers(console):
    provisioned = await console.provision()
    await console.crawl(provisioned.first_key.secret, 4)
    usage = (await console.http.get("/v1/usage", headers={"X-API-Key": provisioned.first_key.secret})).json()
    await console.signed_in()
    page = (await console.http.get(f"/console/customers/{provisioned.customer.id}")).text
    assert value_of(page, "units-used") == usage["units"] == 4
    assert value_of(page, "estimated-total") == usage["estimated_amount"]


async def test_an_unknown_customer_is_a_404_page(console):
    await console.signed_in()
    response = await console.http.get(f"/console/customers/{uuid.uuid4()}")
    assert response.status_code == 404 and "Not found" in response.text
    assert (await console.http.get("/console/customers/not-a-uuid")).status_code == 422


async def test_changing_a_customers_plan_now_is_committed_audited_and_redirected(console):
    provisioned = await console.provision("standard")
    await console.signed_in()
    response = await console.post(f"/console/customers/{provisioned.customer.id}/plan", plan="premium", when="now")
    assert response.status_code == 303
    assert response.headers["location"] == f"/console/customers/{provisioned.customer.id}?done=plan-changed"
    async with session_scope(console.resources.sessionmaker) as session:
        subscription = await session.scalar(
            select(Subscription).where(Subscription.customer_id == provisioned.customer.id))
        assert subscription.plan_id == "premium"
    page = (await console.http.get(response.headers["location"])).text
    assert 'data-plan="premium"' in page and "Plan changed" in page


@pytest.mark.parametrize("plan, status", [("standard", 409), ("no-such-plan", 404)])
async def test_a_refused_plan_change_answers_4xx_on_the_customers_page(console, plan, status):
    provisioned = await console.provision("standard")
    await console.signed_in()
    response = await console.post(f"/console/customers/{provisioned.customer.id}/plan", plan=plan, when="now")
    assert response.status_code == status
    assert 'id="error"' in response.text and 'id="customer-email"' in response.text


async def test_suspend_then_reinstate_moves_the_account_and_writes_the_audit_trail(console):
    provisioned = await console.provision()
    customer_id = provisioned.customer.id
    await console.signed_in()
    response = await console.post(f"/console/customers/{customer_id}/suspend", reason="chargeback review")
    assert response.status_code == 303
    assert (await _customer(console, customer_id)).state == AccountState.SUSPENDED
    assert (await console.crawl(provisioned.first_key.secret, 1)) != [200]
    response = await console.post(f"/console/customers/{customer_id}/reinstate", reason="cleared")
    assert response.status_code == 303 and response.headers["location"].endswith("done=reinstated")
    assert (await _customer(console, customer_id)).state == AccountState.ACTIVE
    assert (await console.crawl(provisioned.first_key.secret, 1)) == [200]
    async with session_scope(console.resources.sessionmaker) as session:
        audit = list(await session.scalars(select(AuditLogEntry).where(AuditLogEntry.customer_id == customer_id)
                                           .order_by(AuditLogEntry.id)))
    assert [(a.to_state, a.source) for a in audit] == [
        ("active", "cli"), ("suspended", "console"), ("active", "console")]  # created, then our two
    page = (await console.http.get(f"/console/customers/{customer_id}")).text
    assert "chargeback review" in page and page.count('class="audit-row"') == 3


async def test_reinstating_an_active_account_is_a_409(console):
    provisioned = await console.provision()
    await console.signed_in()
    response = await console.post(f"/console/customers/{provisioned.customer.id}/reinstate")
    assert response.status_code == 409 and 'id="error"' in response.text


async def test_revoking_an_account_refuses_its_keys(console):
    provisioned = await console.provision()
    await console.signed_in()
    response = await console.post(f"/console/customers/{provisioned.customer.id}/revoke", reason="abuse")
    assert response.status_code == 303
    assert (await _customer(console, provisioned.customer.id)).state == AccountState.REVOKED
    assert (await console.crawl(provisioned.first_key.secret, 1)) == [403]


async def test_issuing_a_key_shows_its_secret_once_and_the_key_works(console):
    provisioned = await console.provision()
    await console.signed_in()
    response = await console.post(f"/console/customers/{provisioned.customer.id}/keys", name="eu crawler")
    assert response.status_code == 200
    secret = response.text.split('id="new-key-secret" type="text" readonly value="')[1].split('"')[0]
    assert secret.startswith("lk_")
    assert (await console.crawl(secret, 1)) == [200]
    again = (await console.http.get(f"/console/customers/{provisioned.customer.id}")).text
    assert secret not in again and "eu crawler" in again


async def test_revoking_a_key_refuses_it_and_another_customers_key_is_a_404(console):
    provisioned, other = await console.provision(), await console.provision()
    await console.signed_in()
    key_id = provisioned.first_key.key.id
    wrong = await console.post(f"/console/customers/{other.customer.id}/keys/{key_id}/revoke")
    assert wrong.status_code == 404
    response = await console.post(f"/console/customers/{provisioned.customer.id}/keys/{key_id}/revoke")
    assert response.status_code == 303
    assert (await console.crawl(provisioned.first_key.secret, 1)) == [403]  # a revoked key


# -- content, billing health, export -------------------------------------------------------
LAST_MONTH = datetime(2021, 3, 31, 23, 0, tzinfo=UTC).timestamp()  # fixed days: not today's
THIS_MONTH = datetime(2021, 4, 2, 12, 0, tzinfo=UTC).timestamp()


class ShiftedClock:
    """Real time's pace from a fixed moment (rate limits still see time pass)."""

    def __init__(self, at: float) -> None:
        self.set(at)

    def set(self, at: float) -> None:
        self.offset = at - time.time()

    def __call__(self) -> float:
        return time.time() + self.offset


async def test_the_content_page_shows_items_by_units_this_month_and_the_last(console):
    provisioned = await console.provision()
    other = await console.provision()
    await console.signed_in()
    clock = ShiftedClock(LAST_MONTH)
    console.hot_path.guard.clock = clock
    console.app.state.console_clock = clock
    assert await console.crawl(provisioned.first_key.secret, 2) == [200, 200]
    clock.set(THIS_MONTH)
    assert await console.crawl(provisioned.first_key.secret, 3) == [200] * 3
    assert await console.crawl(other.first_key.secret, 1, path=SECOND_ARTICLE) == [200]
    await console.move_tally()

    page = (await console.http.get("/console/content")).text
    current, last = _month(page, "current"), _month(page, "last")
    assert current[ARTICLE] == 3 and current[SECOND_ARTICLE] == 1
    assert last[ARTICLE] == 2 and SECOND_ARTICLE not in last
    assert list(current)[0] == ARTICLE  # most units first
    assert 'data-first-day="2021-04-01" data-last-day="2021-04-02"' in page
    assert 'data-first-day="2021-03-01" data-last-day="2021-03-31"' in page
    assert "not the billing ledger" in " ".join(page.split())


def _month(page: str, which: str) -> dict[str, int]:
    section = page.split(f'id="content-{which}"', 1)[1].split("</section>", 1)[0]
    return {
        path: int(units)
        for path, units in re.findall(r'data-path="([^"]+)">.*?content-units"[^>]*data-value="(\d+)"', section, re.S)
    }


async def test_billing_health_lists_failed_and_retrying_reports_and_retry_makes_one_pending(console):
    provisioned = await console.provision()
    failed = await _report(console, provisioned.usage_item.id, ReportState.FAILED)
    retrying = await _report(console, provisioned.usage_item.id, ReportState.PENDING, attempts=2)
    await console.signed_in()
    page = (await console.http.get("/console/billing")).text
    assert f'data-report-id="{failed}" data-standing="failed"' in page
    assert f'data-report-id="{retrying}" data-standing="retrying"' in page
    assert value_of(page, "reports-failed") >= 1
    response = await console.post(f"/console/billing/reports/{failed}/retry")
    assert response.status_code == 303 and response.headers["location"] == "/console/billing?done=report-retried"
    async with session_scope(console.resources.sessionmaker) as session:
        report = await session.get(UsageReport, failed)
        assert report.state == ReportState.PENDING and report.attempts == 0
    again = await console.post(f"/console/billing/reports/{failed}/retry")
    assert again.status_code == 409 and 'id="error"' in again.text
    assert (await console.post("/console/billing/reports/no-such-report/retry")).status_code == 404


async def test_retry_failed_sends_every_failed_report_again(console):
    provisioned = await console.provision()
    reports = [await _report(console, provisioned.usage_item.id, ReportState.FAILED) for _ in range(2)]
    await console.signed_in()
    assert (await console.post("/console/billing/reports/retry-failed")).status_code == 303
    async with session_scope(console.resources.sessionmaker) as session:
        for report_id in reports:
            assert (await session.get(UsageReport, report_id)).state == ReportState.PENDING


async def test_the_csv_export_has_each_customers_usage_this_period(console):
    provisioned = await console.provision()
    await console.crawl(provisioned.first_key.secret, 2)
    usage = (await console.http.get("/v1/usage", headers={"X-API-Key": provisioned.first_key.secret})).json()
    await console.signed_in()
    response = await console.http.get("/console/export.csv", params={"period": "current"})
    assert response.status_code == 200 and response.headers["content-type"].startswith("text/csv")
    assert "attachment" in response.headers["content-disposition"]
    rows = {r["customer_id"]: r for r in csv.DictReader(io.StringIO(response.text))}
    row = rows[str(provisioned.customer.id)]
    assert int(row["units"]) == usage["units"] == 2
    assert int(row["estimated_amount"]) == usage["estimated_amount"]
    assert row["plan"] == "standard" and row["currency"] == "usd"
    last = await console.http.get("/console/export.csv", params={"period": "last"})
    assert last.status_code == 200 and str(provisioned.customer.id) not in last.text  # subscribed this period
    assert (await console.http.get("/console/export.csv", params={"period": "next"})).status_code == 422


async def test_last_period_figures_are_the_ledgers_priced_with_the_invoices_tiers(clean_database, console):
    """A customer subscribed before this period: last period's units are its watermark."""
    provisioned = await console.provision("standard")
    item = provisioned.usage_item
    last_start = add_interval(item.current_period_start, "month", -1)
    spec = console.resources.catalogue.get("standard")
    units = spec.included_units + 1234
    async with session_scope(console.resources.sessionmaker) as session:
        subscription = await session.get(Subscription, provisioned.subscription.id)
        subscription.created_at = last_start
        session.add(UsageWatermark(subscription_item_id=item.id, period_start=last_start,
                                   period_end=item.current_period_start, watermark=units))
    page = await console.signed_in()
    expected = estimate_bill(spec, units).total_amount
    assert value_of(page, "last-units") == units
    assert value_of(page, "last-estimated-usd") == expected
    assert value_of(page, "last-customers") == 1
    exported = await console.http.get("/console/export.csv", params={"period": "last"})
    [row] = list(csv.DictReader(io.StringIO(exported.text)))
    assert (int(row["units"]), int(row["estimated_amount"])) == (units, expected)
    assert row["period_end"] == item.current_period_start.isoformat()


async def test_the_overview_renders_when_stripe_cannot_list_invoices(settings, stripe_server):
    app = create_app(console_settings(settings, stripe_api_key=SecretStr(stripe_server.api_key),
                                      stripe_api_base=stripe_server.url))
    async with LifespanManager(app) as manager:
        async with AsyncClient(transport=ASGITransport(app=manager.app), base_url="http://t") as http:
            console = Console(http, manager._state["resources"])
            provisioned = await console.provision()
            async with session_scope(console.resources.sessionmaker) as session:
                customer = await session.get(Customer, provisioned.customer.id)
                customer.stripe_customer_id = f"cus_console{uuid.uuid4().hex[:10]}"
            stripe_server.inject_fault("GET", "/v1/invoices", "error", count=20)
            try:
                page = await console.signed_in()
            finally:
                stripe_server.clear_faults()
    assert 'id="invoices-error"' in page and 'id="current-units"' in page
