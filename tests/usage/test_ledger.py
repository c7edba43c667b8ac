"""The flush ledger: batches written at most once, deterministic report ids, late usage."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta

from sqlalchemy import func, select

from licensing_api.billing.periods import add_interval
from licensing_api.db import session_scope, utcnow
from licensing_api.usage import ledger
from licensing_api.usage.flusher import new_flush_id
from licensing_api.usage.ledger import TakenBatch, meter_event_time, report_id
from licensing_api.usage.models import UsageReport
from tests.usage.flusher_support import provision


START = datetime(2026, 10, 1, tzinfo=UTC)
END = datetime(2026, 11, 1, tzinfo=UTC)


def test_usage_in_an_open_period_is_stamped_now():
    now = START + timedelta(days=3)
    assert meter_event_time(START, END, now) == now


def test_late_usage_within_the_invoice_grace_is_stamped_just_before_the_period_ended():
    assert meter_event_time(START, END, END + timedelta(minutes=20)) == END - timedelta(seconds=1)


def test_late_usage_after_the_invoice_grace_is_stamped_now():
    now = END + timedelta(hours=2)
    assert meter_event_time(START, END, now) == now


def test_report_ids_depend_only_on_flush_item_and_period():
    item = uuid.uuid4()
    assert report_id("f1", item, 100) == report_id("f1", item, 100)
    assert len({report_id("f1", item, 100), report_id("f2", item, 100), report_id("f1", item, 200)}) == 3
    assert len(report_id(new_flush_id(), item, 1_800_000_000)) <= 100


async def test_a_batch_is_written_to_the_ledger_at_most_once(flush_resources):
    item = await provision(flush_resources)
    epoch = int(item.period_start.timestamp())
    batch = TakenBatch(flush_id=new_flush_id(), taken_at=utcnow(), item_units={(item.item_id, epoch): 9})

    async with session_scope(flush_resources.sessionmaker) as session:
        first = await ledger.record_batch(session, batch, billing_enabled=True, now=utcnow())
    async with session_scope(flush_resources.sessionmaker) as session:
        second = await ledger.record_batch(session, batch, billing_enabled=True, now=utcnow())
        units = await session.scalar(
            select(func.sum(UsageReport.units)).where(UsageReport.subscription_item_id == item.item_id))

    assert first is not None and second is None
    assert units == 9


async def test_units_of_a_closed_period_are_reported_against_it(flush_resources):
    item = await provision(flush_resources)
    previous_start = add_interval(item.period_start, "month", -1)  # the project's own period arithmetic
    batch = TakenBatch(flush_id=new_flush_id(), taken_at=utcnow(),
                       item_units={(item.item_id, int(previous_start.timestamp())): 2})

    async with session_scope(flush_resources.sessionmaker) as session:
        recorded = await ledger.record_batch(session, batch, billing_enabled=True, now=utcnow())

    assert recorded is not None
    [report] = recorded.reports
    assert report["period_end"] <= item.period_start
    assert report["usage_at"] < item.period_start


async def test_units_of_an_unknown_item_are_set_aside_not_dropped(flush_resources):
    ghost = uuid.uuid4()
    batch = TakenBatch(flush_id=new_flush_id(), taken_at=utcnow(), item_units={(ghost, 1_700_000_000): 3})

    async with session_scope(flush_resources.sessionmaker) as session:
        recorded = await ledger.record_batch(session, batch, billing_enabled=True, now=utcnow())

    assert recorded is not None and recorded.unattributed == {f"{ghost}:1700000000": 3}
