"""The usage flusher: Redis → ledger → Stripe Billing Meters, each unit once."""

from __future__ import annotations

from sqlalchemy import select

from licensing_api import metrics
from licensing_api.db import session_scope
from licensing_api.keys.models import ApiKey
from licensing_api.usage import redis_keys
from licensing_api.usage.cli import usage_status
from licensing_api.usage.flusher import flush_once, take_pending
from licensing_api.usage.models import KeyDailyUsage, ReportState
from licensing_api.usage.stripe_reporter import StripeMeterReporter
from tests.usage.flusher_support import (
    opened,
    provision,
    reports_of,
    serve,
    settle,
    units_in_stripe,
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
    assert sorted(r.units for r in await reports_of(flush_resources, item)) == [3, 4]


async def test_a_flush_with_nothing_pending_takes_nothing(flush_resources):
    report = await flush_once(flush_resources)

    assert report.flush_id is None and report.taken_units == 0


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


async def test_a_batch_left_in_flight_by_a_dead_flusher_is_recovered(flush_resources, stripe_server):
    item = await provision(flush_resources)
    await serve(flush_resources, item, 6)
    taken = await take_pending(flush_resources)  # and then the flusher died
    assert taken is not None and taken.units == 6

    report = await flush_once(flush_resources)

    assert report.recovered == [taken.flush_id]
    assert units_in_stripe(stripe_server, item) == 6
    assert not await flush_resources.redis.exists(
        flush_resources.redis_key(redis_keys.inflight_key(taken.flush_id, redis_keys.PENDING)))


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


async def test_a_permanent_rejection_is_kept_as_failed_and_shown_in_status(flush_resources, stripe_server):
    item = await provision(flush_resources)
    kept = await provision(flush_resources)
    stripe_server.stripe_client().v1.customers.delete(item.stripe_customer_id)
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


async def test_status_shows_pending_and_in_flight_units(flush_resources):
    item = await provision(flush_resources)
    await serve(flush_resources, item, 2)
    await take_pending(flush_resources)
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
    stripe_server.stripe_client().v1.customers.delete(gone.stripe_customer_id)
    await serve(flush_resources, item, 3)
    await serve(flush_resources, gone, 2)
    await flush_once(flush_resources)
    await serve(flush_resources, item, 4)

    result = await run_cli(flush_settings, tmp_path, "usage", "status")

    assert result.returncode == 0, result.stderr
    rows = {line.split()[0]: line.split()[1:6] for line in result.stdout.splitlines()}  # then the customer
    assert rows[str(item.item_id)] == ["4", "0", "3", "0", "0"]
    assert rows[str(gone.item_id)] == ["0", "0", "0", "2", "0"]
    assert any(line.startswith("failed report ur_") for line in result.stdout.splitlines())
