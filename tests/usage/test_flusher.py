"""The usage flusher: Redis counters → ledger → Stripe Billing Meters, each unit once."""

from __future__ import annotations

from sqlalchemy import select

from licensing_api import metrics
from licensing_api.db import session_scope
from licensing_api.keys.models import ApiKey
from licensing_api.usage import counters
from licensing_api.usage.cli import usage_status
from licensing_api.usage.flusher import flush_once
from licensing_api.usage.models import KeyDailyUsage, ReportState, UsageWatermark
from licensing_api.usage.stripe_reporter import StripeMeterReporter
from tests.usage.flusher_support import (
    opened,
    period_counter,
    provision,
    reports_of,
    serve,
    settle,
    units_in_stripe,
    unlink_from_stripe,
)


async def test_served_units_reach_stripe_once(flush_resources, stripe_server):
    item = await provision(flush_resources)
    await serve(flush_resources, item, 7)

    reported_before = metrics.UNITS_REPORTED._value.get()

    report = await flush_once(flush_resources)
    await flush_once(flush_resources)

    assert report.taken_units == 7 and report.units_reported == 7
    assert metrics.UNITS_REPORTED._value.get() == reported_before + 7
    assert units_in_stripe(stripe_server, item) == 7
    [ledgered] = await reports_of(flush_resources, item)
    assert ledgered.state == ReportState.SENT and ledgered.units == 7


async def test_units_served_after_a_flush_go_in_the_next_one(flush_resources, stripe_server):
    item = await provision(flush_resources)
    await serve(flush_resources, item, 3)
    await flush_once(flush_resources)
    await serve(flush_resources, item, 4)

    await flush_once(flush_resources)

    assert units_in_stripe(stripe_server, item) == 7
    reports = sorted(await reports_of(flush_resources, item), key=lambda r: r.range_start)
    assert [(r.range_start, r.range_end, r.units) for r in reports] == [(0, 3, 3), (3, 7, 4)]


async def test_a_flush_with_nothing_changed_writes_nothing(flush_resources):
    report = await flush_once(flush_resources)

    assert report.counters_read == 0 and report.taken_units == 0


async def test_fixed_plan_usage_is_kept_local_and_never_sent(flush_resources, stripe_server):
    item = await provision(flush_resources, plan="starter")
    await serve(flush_resources, item, 5)

    report = await flush_once(flush_resources)

    [ledgered] = await reports_of(flush_resources, item)
    assert ledgered.state == ReportState.LOCAL and ledgered.units == 5
    assert report.sent == []


async def test_with_billing_off_usage_is_kept_local(flush_resources, flush_settings):
    item = await provision(flush_resources)
    off = flush_settings.model_copy(update={"stripe_api_key": None})
    async with opened(off) as resources:
        await serve(resources, item, 2)
        await flush_once(resources)

    [ledgered] = await reports_of(flush_resources, item)
    assert ledgered.state == ReportState.LOCAL


async def test_per_key_daily_units_and_last_use_move_to_postgres(flush_resources):
    item = await provision(flush_resources)
    await serve(flush_resources, item, 2)
    await flush_once(flush_resources)
    await serve(flush_resources, item, 3)
    await flush_once(flush_resources)

    async with session_scope(flush_resources.sessionmaker) as session:
        daily = await session.scalars(select(KeyDailyUsage).where(KeyDailyUsage.api_key_id == item.api_key_id))
        key = await session.get(ApiKey, item.api_key_id)
    assert [d.units for d in daily] == [5]
    assert key is not None and key.last_used_at is not None


async def test_a_flusher_that_died_after_reading_leaves_the_counters_for_the_next(flush_resources, stripe_server):
    item = await provision(flush_resources)
    await serve(flush_resources, item, 6)
    prefix = flush_resources.settings.redis_key_prefix
    read = await counters.read_changed(flush_resources.redis, prefix)  # and then the flusher died
    assert read.period_totals == {(item.item_id, int(item.period_start.timestamp())): 6}

    await flush_once(flush_resources)
    await flush_once(flush_resources)

    assert units_in_stripe(stripe_server, item) == 6
    assert await counters.changed_count(flush_resources.redis, prefix) == 0


async def test_the_watermark_moves_with_the_report_in_one_transaction(flush_resources):
    item = await provision(flush_resources)
    await serve(flush_resources, item, 5)
    await flush_once(flush_resources)
    await serve(flush_resources, item, 2)
    await flush_once(flush_resources)

    async with session_scope(flush_resources.sessionmaker) as session:
        mark = await session.get(UsageWatermark, (item.item_id, item.period_start))
    assert mark is not None and mark.watermark == 7 and mark.regressions == 0
    assert await period_counter(flush_resources, item) == 7  # Redis keeps counting up


async def test_many_reports_go_through_the_meter_event_stream(flush_resources, stripe_server):
    items = [await provision(flush_resources) for _ in range(5)]
    for n, item in enumerate(items, start=1):
        await serve(flush_resources, item, n)
    stream_calls = metrics.STRIPE_CALLS.labels("meter_event_stream", "ok")
    before = stream_calls._value.get()
    reporter = StripeMeterReporter(flush_resources.stripe, stream_above=2)

    report = await flush_once(flush_resources, reporter)

    assert {result.via for _, result in report.sent} == {"stream"}
    assert [units_in_stripe(stripe_server, i) for i in items] == [1, 2, 3, 4, 5]
    assert stream_calls._value.get() == before + 1


async def test_an_expired_stream_session_is_renewed(flush_resources, stripe_server):
    items = [await provision(flush_resources) for _ in range(3)]
    for item in items:
        await serve(flush_resources, item, 2)
    reporter = StripeMeterReporter(flush_resources.stripe, stream_above=1)
    await reporter._token()
    reporter._session_token = "mes_tok_no_longer_valid"  # as Stripe sees a token past expiry

    await flush_once(flush_resources, reporter)

    assert [units_in_stripe(stripe_server, i) for i in items] == [2, 2, 2]


async def test_a_report_that_cannot_be_sent_is_kept_as_failed_and_shown_in_status(flush_resources, stripe_server):
    item = await provision(flush_resources)
    kept = await provision(flush_resources)
    await unlink_from_stripe(flush_resources, item)
    await serve(flush_resources, item, 4)
    await serve(flush_resources, kept, 1)
    failed_before = metrics.USAGE_REPORTS.labels("failed")._value.get()

    report = await flush_once(flush_resources)
    await flush_once(flush_resources)

    [failed] = await reports_of(flush_resources, item)
    assert failed.state == ReportState.FAILED and "customer" in (failed.last_error or "")
    assert [r.units for r, _ in report.failed] == [4]
    assert metrics.USAGE_REPORTS.labels("failed")._value.get() == failed_before + 1
    assert metrics.USAGE_UNITS_BY_STATE.labels("failed")._value.get() >= 4
    assert units_in_stripe(stripe_server, kept) == 1
    status = await usage_status(flush_resources)
    assert status[str(item.item_id)]["failed"] == 4
    assert status[str(kept.item_id)]["reported"] == 1


async def test_status_shows_pending_and_in_flight_units(clean_database, flush_resources, stripe_server):
    # clean_database: an earlier test's report whose retry has come due would be sent first
    # and take the one injected error, leaving this report sent, not in flight.
    item = await provision(flush_resources)
    await serve(flush_resources, item, 2)
    stripe_server.inject_fault("POST", "/v1/billing/meter_events", "error", count=1)
    await flush_once(flush_resources, StripeMeterReporter(stripe_server.stripe_client()))
    await serve(flush_resources, item, 5)

    status = await usage_status(flush_resources)

    assert status[str(item.item_id)]["pending_redis"] == 5
    assert status[str(item.item_id)]["in_flight"] == 2
    await settle(flush_resources, item)


async def test_usage_status_command_lists_units_per_item_and_failed_reports(
    flush_resources, flush_settings, stripe_server, tmp_path
):
    from tests.usage.faults.processes import run_cli

    item = await provision(flush_resources)
    gone = await provision(flush_resources)
    await unlink_from_stripe(flush_resources, gone)
    await serve(flush_resources, item, 3)
    await serve(flush_resources, gone, 2)
    await flush_once(flush_resources)
    await serve(flush_resources, item, 4)

    result = await run_cli(flush_settings, tmp_path, "usage", "status")

    assert result.returncode == 0, result.stderr
    rows = {line.split()[0]: line.split()[1:7] for line in result.stdout.splitlines()}  # then the customer
    assert rows[str(item.item_id)] == ["4", "0", "3", "0", "0", "0"]
    assert rows[str(gone.item_id)] == ["0", "0", "0", "2", "0", "0"]
    assert any(line.startswith("failed report ur_") for line in result.stdout.splitlines())
