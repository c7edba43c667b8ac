"""The flush ledger: watermark ranges written once, deterministic report ids, Redis
regressions counted, late usage and period bounds at month ends."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import func, select

from licensing_api.billing.periods import add_interval
from licensing_api.db import session_scope, utcnow
from licensing_api.usage import ledger
from licensing_api.usage.counters import ChangedCounters
from licensing_api.usage.flusher import new_flush_id
from licensing_api.usage.ledger import report_id
from licensing_api.usage.models import UsageReport, UsageWatermark
from licensing_api.usage.periods import meter_event_time, period_end, too_late_for_its_period
from tests.usage.flusher_support import provision

START = datetime(2026, 10, 1, tzinfo=UTC)
END = datetime(2026, 11, 1, tzinfo=UTC)
GRACE = timedelta(minutes=50)


def at(text: str) -> datetime:
    return datetime.fromisoformat(text).replace(tzinfo=UTC)


def test_usage_in_an_open_period_is_stamped_now():
    now = START + timedelta(days=3)
    assert meter_event_time(START, END, now, GRACE) == now


def test_late_usage_within_the_late_usage_grace_is_stamped_just_before_the_period_ended():
    assert meter_event_time(START, END, END + timedelta(minutes=20), GRACE) == END - timedelta(seconds=1)


def test_late_usage_after_the_late_usage_grace_is_stamped_now():
    now = END + timedelta(hours=2)
    assert meter_event_time(START, END, now, GRACE) == now


def test_the_late_usage_grace_is_a_setting_not_a_constant():
    three_hours = timedelta(hours=3)
    assert meter_event_time(START, END, END + timedelta(hours=2), three_hours) == END - timedelta(seconds=1)
    assert too_late_for_its_period(END - timedelta(seconds=1), END, END + timedelta(hours=2), GRACE)
    assert not too_late_for_its_period(END - timedelta(seconds=1), END, END + timedelta(hours=2), three_hours)


@pytest.mark.parametrize(("previous_start", "current_start", "current_end", "expected_end"), [
    # Anchored on the 31st: the period before Mar 31 is Feb 28 (or 29) → Mar 31, not → Mar 28.
    ("2027-02-28T09:00:00", "2027-03-31T09:00:00", "2027-04-30T09:00:00", "2027-03-31T09:00:00"),
    ("2028-02-29T09:00:00", "2028-03-31T09:00:00", "2028-04-30T09:00:00", "2028-03-31T09:00:00"),
    # Leap day as the current start (anchor 31): the period before it is Jan 31 → Feb 29.
    ("2028-01-31T00:00:00", "2028-02-29T00:00:00", "2028-03-31T00:00:00", "2028-02-29T00:00:00"),
    # Across the year end.
    ("2026-11-30T12:00:00", "2026-12-31T12:00:00", "2027-01-31T12:00:00", "2026-12-31T12:00:00"),
    ("2026-12-31T23:59:59", "2027-01-31T23:59:59", "2027-02-28T23:59:59", "2027-01-31T23:59:59"),
])
def test_an_older_period_ends_where_the_next_began_at_month_ends(
    previous_start, current_start, current_end, expected_end
):
    assert period_end(at(previous_start), at(current_start), at(current_end), "month") == at(expected_end)


def test_two_periods_back_keeps_the_anchor_day():
    # Anchor 31: Dec 31 → Jan 31 → Feb 28 (current) → Mar 31.
    assert period_end(at("2026-12-31T00:00:00"), at("2027-02-28T00:00:00"), at("2027-03-31T00:00:00"),
                      "month") == at("2027-01-31T00:00:00")


def test_the_current_period_ends_where_stripe_says():
    assert period_end(START, START, END, "month") == END


def test_late_units_of_a_period_that_ended_on_dec_31_are_stamped_inside_it():
    end = at("2027-01-01T00:00:00")
    assert meter_event_time(at("2026-12-01T00:00:00"), end, at("2027-01-01T00:30:00"), GRACE) == at(
        "2026-12-31T23:59:59")


def test_report_ids_derive_from_item_period_and_watermark_range():
    item = uuid.uuid4()
    assert report_id(item, 100, 0, 7) == report_id(item, 100, 0, 7)
    assert len({report_id(item, 100, 0, 7), report_id(item, 100, 7, 9), report_id(item, 200, 0, 7)}) == 3
    assert len(report_id(item, 1_800_000_000, 10**15, 10**15 + 1)) <= 100  # Stripe's limit


def counters_of(item_id: uuid.UUID, epoch: int, total: int) -> ChangedCounters:
    return ChangedCounters(period_totals={(item_id, epoch): total})


async def record(resources, changed: ChangedCounters, now: datetime | None = None) -> ledger.RecordedCounters:
    """Recorded as with billing off: `local` reports, so no later flush sends them."""
    async with session_scope(resources.sessionmaker) as session:
        return await ledger.record_counters(
            session, changed, flush_id=new_flush_id(utcnow()), billing_enabled=False, now=now or utcnow())


async def test_the_same_counter_recorded_twice_is_written_once(flush_resources):
    item = await provision(flush_resources)
    epoch = int(item.period_start.timestamp())

    first = await record(flush_resources, counters_of(item.item_id, epoch, 9))
    second = await record(flush_resources, counters_of(item.item_id, epoch, 9))  # a replay

    async with session_scope(flush_resources.sessionmaker) as session:
        units = await session.scalar(
            select(func.sum(UsageReport.units)).where(UsageReport.subscription_item_id == item.item_id))
    assert [r["units"] for r in first.reports] == [9] and second.reports == []
    assert units == 9


async def test_a_counter_below_its_watermark_is_a_counted_regression_not_a_report(flush_resources):
    item = await provision(flush_resources)
    epoch = int(item.period_start.timestamp())
    await record(flush_resources, counters_of(item.item_id, epoch, 10))

    regressed = await record(flush_resources, counters_of(item.item_id, epoch, 4))
    again = await record(flush_resources, counters_of(item.item_id, epoch, 4))  # not raised yet

    assert regressed.reports == [] and again.reports == []
    assert [(r.watermark, r.found) for r in regressed.regressions] == [(10, 4)]
    assert again.regressions == [] and again.period_floors == {(item.item_id, epoch): 10}
    async with session_scope(flush_resources.sessionmaker) as session:
        mark = await session.get(UsageWatermark, (item.item_id, item.period_start))
    assert mark is not None
    assert (mark.watermark, mark.regressions, mark.regressed_units, mark.rebase_to) == (10, 1, 6, 10)


async def test_units_of_a_closed_period_are_reported_against_it(flush_resources):
    item = await provision(flush_resources)
    previous_start = add_interval(item.period_start, "month", -1)  # the project's own period arithmetic

    recorded = await record(flush_resources, counters_of(item.item_id, int(previous_start.timestamp()), 2))

    [report] = recorded.reports
    assert report["period_end"] == item.period_start
    assert report["usage_at"] < item.period_start


async def test_units_of_an_unknown_item_are_set_aside_not_dropped(flush_resources):
    ghost = uuid.uuid4()

    recorded = await record(flush_resources, counters_of(ghost, 1_700_000_000, 3))

    assert recorded.unattributed == {f"{ghost}:1700000000": 3}
