from __future__ import annotations

import enum
import uuid
from datetime import date, datetime
from typing import Any

from sqlalchemy import JSON, BigInteger, Date, ForeignKey, Index, Integer, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from licensing_api.db import Base, utcnow


class ReportState(enum.StrEnum):
    PENDING = "pending"  # in the ledger, not yet acknowledged by Stripe
    SENT = "sent"  # acknowledged by Stripe (or found in Stripe's own record)
    FAILED = "failed"  # rejected for good (at once or asynchronously); kept, never dropped
    LOCAL = "local"  # billing off or item without a meter: kept, not sent


class UsageFlush(Base):
    """One flush that wrote reports, recorded in the same transaction as them (an audit of
    which flush wrote what; exactly-once rests on the watermarks, not on this row)."""

    __tablename__ = "usage_flushes"

    id: Mapped[str] = mapped_column(String(32), primary_key=True)
    taken_at: Mapped[datetime]  # when the batch left the pending hashes
    units: Mapped[int] = mapped_column(BigInteger, default=0)
    recovered: Mapped[bool] = mapped_column(default=False)  # written by a later flusher
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class UsageWatermark(Base):
    """How much of one (item, period) Redis counter is already in the ledger.

    A flush writes a report for `counter − watermark` and moves the watermark to the counter
    in the same transaction (rows locked, so concurrent flushers serialize). A counter found
    below its watermark is a Redis regression: counted here, never a negative report.
    """

    __tablename__ = "usage_watermarks"

    subscription_item_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("subscription_items.id", ondelete="RESTRICT"), primary_key=True
    )
    period_start: Mapped[datetime] = mapped_column(primary_key=True)
    period_end: Mapped[datetime]
    watermark: Mapped[int] = mapped_column(BigInteger, default=0)
    regressions: Mapped[int] = mapped_column(Integer, default=0)
    # Sum, over regressions, of how far below the watermark Redis's counter was found.
    regressed_units: Mapped[int] = mapped_column(BigInteger, default=0)
    # Set while Redis's counter still has to be raised back to this watermark.
    rebase_to: Mapped[int | None] = mapped_column(BigInteger)
    last_regression_at: Mapped[datetime | None]
    updated_at: Mapped[datetime] = mapped_column(default=utcnow)


class UsageReport(Base):
    """The flush ledger: one row per (item, period) per watermark move, sent to Stripe once."""

    __tablename__ = "usage_reports"
    __table_args__ = (Index("ix_usage_reports_state_next_attempt", "state", "next_attempt_at"),)

    # Deterministic, from (item, period, watermark range); also the Stripe meter event
    # `identifier`, so a resend is deduplicated.
    id: Mapped[str] = mapped_column(String(100), primary_key=True)
    subscription_item_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("subscription_items.id", ondelete="RESTRICT"), index=True
    )
    flush_id: Mapped[str | None] = mapped_column(
        ForeignKey("usage_flushes.id", ondelete="RESTRICT"), index=True
    )
    units: Mapped[int] = mapped_column(BigInteger)
    period_start: Mapped[datetime]
    period_end: Mapped[datetime]
    range_start: Mapped[int | None] = mapped_column(BigInteger)  # the watermark range
    range_end: Mapped[int | None] = mapped_column(BigInteger)
    usage_at: Mapped[datetime]  # the meter event timestamp sent to Stripe
    previous_usage_at: Mapped[datetime | None]  # the timestamp before a late re-stamp
    # Start of the window in which every attempt so far is still inside Stripe's 24 h
    # identifier dedup: resends happen only before `dedup_from + RESEND_HORIZON`.
    dedup_from: Mapped[datetime | None]
    last_attempt_at: Mapped[datetime | None]
    state: Mapped[str] = mapped_column(String(16), default=ReportState.PENDING)
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    next_attempt_at: Mapped[datetime | None]
    last_error: Mapped[str | None] = mapped_column(Text)
    stripe_response: Mapped[dict[str, Any] | None] = mapped_column(JSON)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    sent_at: Mapped[datetime | None]


class KeyDailyUsage(Base):
    """Units served per API key per UTC day, for analytics and the dashboard chart."""

    __tablename__ = "key_daily_usage"

    api_key_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("api_keys.id", ondelete="CASCADE"), primary_key=True
    )
    day: Mapped[date] = mapped_column(Date, primary_key=True)
    units: Mapped[int] = mapped_column(BigInteger, default=0)


class MeterErrorReport(Base):
    """A Stripe meter error report (thin event `v1.billing.meter.error_report_triggered` or
    `…no_meter_found`), as fetched from Stripe, and what it did to the ledger."""

    __tablename__ = "usage_meter_error_reports"

    id: Mapped[str] = mapped_column(String(255), primary_key=True)  # the Stripe event id
    type: Mapped[str] = mapped_column(String(100))
    meter_id: Mapped[str | None] = mapped_column(String(255))
    validation_start: Mapped[datetime | None]
    validation_end: Mapped[datetime | None]
    error_count: Mapped[int] = mapped_column(Integer, default=0)
    reports_failed: Mapped[int] = mapped_column(Integer, default=0)  # ours, named by Stripe
    units_failed: Mapped[int] = mapped_column(BigInteger, default=0)
    unmatched: Mapped[int] = mapped_column(Integer, default=0)  # errors naming none of ours
    summary: Mapped[str | None] = mapped_column(Text)
    reasons: Mapped[list[dict[str, Any]]] = mapped_column(JSON, default=list)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
