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
    SENT = "sent"  # acknowledged by Stripe
    FAILED = "failed"  # rejected for good; kept for operators, never dropped
    LOCAL = "local"  # billing off or item without a meter: kept, not sent


class UsageFlush(Base):
    """One batch taken out of Redis, recorded in the same transaction as its reports.

    The id names the Redis in-flight keys of the batch (`usage/redis_keys.py`); a row here
    means the batch is in the ledger, so a recovering flusher deletes those keys instead of
    writing them a second time (the primary key makes the ledger write happen at most once).
    """

    __tablename__ = "usage_flushes"

    id: Mapped[str] = mapped_column(String(32), primary_key=True)
    taken_at: Mapped[datetime]  # when the batch left the pending hashes
    units: Mapped[int] = mapped_column(BigInteger, default=0)
    recovered: Mapped[bool] = mapped_column(default=False)  # written by a later flusher
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class UsageReport(Base):
    """The flush ledger: one row per subscription item per flush, sent to Stripe once."""

    __tablename__ = "usage_reports"
    __table_args__ = (Index("ix_usage_reports_state_next_attempt", "state", "next_attempt_at"),)

    # Deterministic; also the Stripe meter event `identifier`, so a resend is deduplicated.
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
    usage_at: Mapped[datetime]  # the meter event timestamp sent to Stripe
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
