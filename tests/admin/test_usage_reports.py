"""Usage reports: listed by state; failed ones go back to pending, due now, on retry."""

from __future__ import annotations

import uuid
from datetime import timedelta

from licensing_api.db import session_scope, utcnow
from licensing_api.usage.models import ReportState, UsageReport


async def _report(admin, item_id, state: ReportState) -> str:
    report_id = f"test-{uuid.uuid4().hex}"
    now = utcnow()
    async with session_scope(admin.resources.sessionmaker) as session:
        session.add(UsageReport(
            id=report_id, subscription_item_id=item_id, units=7, period_start=now - timedelta(days=1),
            period_end=now + timedelta(days=29), usage_at=now, state=state, attempts=5,
            last_error="customer deleted" if state == ReportState.FAILED else None,
        ))
    return report_id


async def test_reports_are_listed_by_state(admin):
    provisioned = await admin.provision(f"reports-{uuid.uuid4().hex[:6]}@example.com")
    failed = await _report(admin, provisioned.usage_item.id, ReportState.FAILED)
    sent = await _report(admin, provisioned.usage_item.id, ReportState.SENT)
    response = await admin.get(
        "/admin/usage-reports", state="failed", subscription_item_id=str(provisioned.usage_item.id)
    )
    assert [r["id"] for r in response.json()["items"]] == [failed]
    assert sent not in response.text


async def test_retrying_a_failed_report_makes_it_pending_and_due_now(admin):
    provisioned = await admin.provision(f"retry-{uuid.uuid4().hex[:6]}@example.com")
    failed = await _report(admin, provisioned.usage_item.id, ReportState.FAILED)
    before = utcnow()
    response = await admin.post(f"/admin/usage-reports/{failed}/retry")
    assert response.status_code == 200
    body = response.json()
    assert body["state"] == "pending"
    assert body["attempts"] == 0
    assert body["units"] == 7
    async with session_scope(admin.resources.sessionmaker) as session:
        report = await session.get(UsageReport, failed)
        assert report.state == ReportState.PENDING
        assert before - timedelta(seconds=1) <= report.next_attempt_at <= utcnow()


async def test_only_failed_reports_can_be_retried(admin):
    provisioned = await admin.provision(f"sent-{uuid.uuid4().hex[:6]}@example.com")
    sent = await _report(admin, provisioned.usage_item.id, ReportState.SENT)
    response = await admin.post(f"/admin/usage-reports/{sent}/retry")
    assert response.status_code == 409
    assert (await admin.post("/admin/usage-reports/no-such-report/retry")).status_code == 404


async def test_retry_failed_sets_every_failed_report_back_to_pending(admin):
    provisioned = await admin.provision(f"retry-all-{uuid.uuid4().hex[:6]}@example.com")
    ids = [await _report(admin, provisioned.usage_item.id, ReportState.FAILED) for _ in range(2)]
    response = await admin.post("/admin/usage-reports/retry-failed")
    assert response.status_code == 200
    assert response.json()["retried"] >= 2
    async with session_scope(admin.resources.sessionmaker) as session:
        for report_id in ids:
            assert (await session.get(UsageReport, report_id)).state == ReportState.PENDING
