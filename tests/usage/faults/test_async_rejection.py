"""Stripe accepting a meter event and rejecting it later: its error report, a thin event sent
to the service's event destination, turns the report `failed` with Stripe's reason, counted in
the metrics and shown by `usage status` and `/admin/usage-reports?state=failed`."""

from __future__ import annotations

import asyncio

import httpx

from licensing_api import metrics
from licensing_api.usage.cli import usage_status
from licensing_api.usage.flusher import flush_once
from licensing_api.usage.meter_errors import ERROR_REPORT_TYPES
from licensing_api.usage.models import ReportState
from licensing_api.usage.stripe_reporter import StripeMeterReporter
from tests.usage.flusher_support import provision, reports_of, serve, units_in_stripe
from tests.webhooks.served import served_app

ADMIN_TOKEN = "admin-token-for-async-rejection-tests-0123"


async def wait_for_state(resources, item, state: str) -> None:  # type: ignore[no-untyped-def]
    for _ in range(200):
        if {r.state for r in await reports_of(resources, item)} == {state}:
            return
        await asyncio.sleep(0.05)
    raise AssertionError(f"the reports never became {state}")


async def test_a_meter_event_rejected_asynchronously_becomes_a_failed_report(
    flush_resources, flush_settings, stripe_server
):
    from pydantic import SecretStr

    settings = flush_settings.model_copy(update={
        "usage_flush_interval_seconds": 3600, "admin_token": SecretStr(ADMIN_TOKEN)})
    item = await provision(flush_resources)
    kept = await provision(flush_resources)
    stripe_server.stripe_client().v1.customers.delete(item.stripe_customer_id)
    await serve(flush_resources, item, 6)
    await serve(flush_resources, kept, 2)
    errors = metrics.USAGE_METER_ERRORS.labels("meter_event_customer_not_found")
    before = errors._value.get()

    with served_app(settings, stripe_server, thin_events=list(ERROR_REPORT_TYPES)) as served:
        report = await flush_once(flush_resources, StripeMeterReporter(stripe_server.stripe_client()))
        assert sorted(due.units for due, _ in report.sent) == [2, 6]  # Stripe said yes, at first
        stripe_server.validate_meter_events()
        stripe_server.deliveries(wait=10)
        await wait_for_state(flush_resources, item, ReportState.FAILED)
        async with httpx.AsyncClient(base_url=served.url) as http:
            listed = (await http.get("/admin/usage-reports", params={"state": "failed"},
                                     headers={"Authorization": f"Bearer {ADMIN_TOKEN}"})).json()

    [failed] = await reports_of(flush_resources, item)
    assert "meter_event_customer_not_found" in (failed.last_error or "")
    assert failed.id in {r["id"] for r in listed["items"]}
    assert errors._value.get() == before + 1
    status = await usage_status(flush_resources)
    assert status[str(item.item_id)]["failed"] == 6 and status[str(item.item_id)]["reported"] == 0
    assert status[str(kept.item_id)]["reported"] == 2
    assert units_in_stripe(stripe_server, kept) == 2
