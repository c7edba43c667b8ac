"""A report left unacknowledged past Stripe's 24 h identifier dedup window is settled from
Stripe's own record (its meter event summaries), never resent blind. Time is the customer's
test clock: Stripe's dedup and the flusher's clock both follow it."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from licensing_api.admin.service import retry_report
from licensing_api.db import session_scope
from licensing_api.usage import reports
from licensing_api.usage.flusher import flush_once
from licensing_api.usage.models import ReportState
from licensing_api.usage.stripe_reporter import StripeMeterReporter
from tests.stripe_server.helpers import advance_clock_async
from tests.usage.flusher_support import provision_on_clock, reports_of, serve, units_in_stripe

T0 = datetime(2027, 3, 10, 12, 0, 30, tzinfo=UTC)
V1 = "/v1/billing/meter_events"


async def unacknowledged_for_25_hours(resources, stripe_server, fault: dict):  # type: ignore[no-untyped-def]
    client = stripe_server.stripe_client()
    clock = await client.v1.test_helpers.test_clocks.create_async({"frozen_time": int(T0.timestamp())})
    item = await provision_on_clock(resources, client, clock.id)
    await serve(resources, item, 7, at=T0)
    reporter = StripeMeterReporter(stripe_server.stripe_client(max_network_retries=0))
    stripe_server.inject_fault("POST", V1, count=1, **fault)
    first = await flush_once(resources, reporter, clock=lambda: T0)
    assert [due.units for due, _ in first.retrying] == [7]  # no acknowledgement

    later = T0 + timedelta(hours=25)
    await advance_clock_async(client, clock.id, int(later.timestamp()))  # Stripe forgets the identifier
    return item, reporter, later


async def test_a_report_stripe_recorded_but_never_acknowledged_is_settled_not_resent(
    flush_resources, stripe_server
):
    item, reporter, later = await unacknowledged_for_25_hours(
        flush_resources, stripe_server, {"kind": "commit_then_fail", "then": "drop"})

    settled = await flush_once(flush_resources, reporter, clock=lambda: later)
    await flush_once(flush_resources, reporter, clock=lambda: later + timedelta(minutes=1))

    assert [due.units for due in settled.settled] == [7] and settled.sent == []
    assert units_in_stripe(stripe_server, item) == 7  # a blind resend would make it 14
    [report] = await reports_of(flush_resources, item)
    assert report.state == ReportState.SENT and report.stripe_response["via"] == "settled"


async def test_a_report_stripe_never_recorded_is_sent_again_after_the_window(flush_resources, stripe_server):
    item, reporter, later = await unacknowledged_for_25_hours(flush_resources, stripe_server, {"kind": "error"})

    reopened = await flush_once(flush_resources, reporter, clock=lambda: later)
    resent = await flush_once(flush_resources, reporter, clock=lambda: later + timedelta(minutes=1))

    assert [due.units for due in reopened.reopened] == [7] and reopened.sent == []
    assert [due.units for due, _ in resent.sent] == [7]
    assert units_in_stripe(stripe_server, item) == 7
    [report] = await reports_of(flush_resources, item)
    assert report.state == ReportState.SENT and report.dedup_from == later


async def test_retry_failed_follows_the_same_rule(flush_resources, stripe_server):
    """An old failed report re-queued by an operator is settled first, not sent blind."""

    item, reporter, later = await unacknowledged_for_25_hours(
        flush_resources, stripe_server, {"kind": "commit_then_fail", "then": "error"})
    [pending] = await reports_of(flush_resources, item)
    async with session_scope(flush_resources.sessionmaker) as session:
        await reports.mark_failed(session, [{"b_id": pending.id, "b_attempts": 1, "b_error": "given up"}])
    async with session_scope(flush_resources.sessionmaker) as session:
        assert (await retry_report(session, pending.id)).state == ReportState.PENDING

    flushed = await flush_once(flush_resources, reporter, clock=lambda: later)

    assert [due.units for due in flushed.settled] == [7] and flushed.sent == []
    assert units_in_stripe(stripe_server, item) == 7
