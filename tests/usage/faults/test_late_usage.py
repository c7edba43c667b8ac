"""Late usage on Stripe's timeline (a test clock): units of a closed period land on its draft
invoice while the late-usage grace lasts; a report still unsent after it is re-stamped into
the current period instead of being recorded where no invoice bills it."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from licensing_api.usage.flusher import flush_once
from licensing_api.usage.stripe_reporter import StripeMeterReporter
from tests.stripe_server.helpers import advance_clock_async
from tests.usage.flusher_support import provision_on_clock, reports_of, serve

T0 = datetime(2028, 1, 31, 9, 0, tzinfo=UTC)  # anchored on the 31st; the period ends Feb 29
V1 = "/v1/billing/meter_events"


async def period_end_passed(resources, stripe_server, minutes_after: int):  # type: ignore[no-untyped-def]
    client = stripe_server.stripe_client()
    clock = await client.v1.test_helpers.test_clocks.create_async({"frozen_time": int(T0.timestamp())})
    item = await provision_on_clock(resources, client, clock.id)
    end = datetime(2028, 2, 29, 9, 0, tzinfo=UTC)
    await serve(resources, item, 5, at=end - timedelta(minutes=1))  # counted in the old period
    now = end + timedelta(minutes=minutes_after)
    await advance_clock_async(client, clock.id, int(now.timestamp()))
    return item, end, now, lambda moment: advance_clock_async(client, clock.id, int(moment.timestamp()))


def stripe_units(stripe_server, item, start: datetime, end: datetime) -> int:  # type: ignore[no-untyped-def]
    return int(stripe_server.meter_event_total(item.event_name, item.stripe_customer_id,
                                               int(start.timestamp()), int(end.timestamp())))


async def test_late_units_inside_the_grace_are_billed_on_the_closing_invoice(flush_resources, stripe_server):
    item, end, now, _ = await period_end_passed(flush_resources, stripe_server, minutes_after=20)

    await flush_once(flush_resources, StripeMeterReporter(stripe_server.stripe_client()), clock=lambda: now)

    assert stripe_units(stripe_server, item, T0, end) == 5
    [report] = await reports_of(flush_resources, item)
    assert report.period_end == end and report.usage_at == end - timedelta(seconds=1)


async def test_a_late_report_unsent_past_the_grace_is_billed_in_the_current_period(flush_resources, stripe_server):
    item, end, now, advance_to = await period_end_passed(flush_resources, stripe_server, minutes_after=20)
    reporter = StripeMeterReporter(stripe_server.stripe_client(max_network_retries=0))
    stripe_server.inject_fault("POST", V1, "error", count=1)
    await flush_once(flush_resources, reporter, clock=lambda: now)  # stamped end − 1 s, not sent

    later = end + timedelta(minutes=55)  # past LATE_USAGE_GRACE_MINUTES (50)
    await advance_to(later)
    await flush_once(flush_resources, reporter, clock=lambda: later)

    assert stripe_units(stripe_server, item, T0, end) == 0
    assert stripe_units(stripe_server, item, end, end + timedelta(days=1)) == 5
    [report] = await reports_of(flush_resources, item)
    assert (report.usage_at, report.previous_usage_at) == (later, end - timedelta(seconds=1))
