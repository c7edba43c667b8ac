"""Budgets and the durable claims of their threshold notices."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

from sqlalchemy import JSON, BigInteger, ForeignKey, Integer, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from licensing_api.db import Base, new_id, utcnow

DEFAULT_THRESHOLDS = (50, 80, 100)


class Budget(Base):
    """A customer's spend limit per billing period, in minor units of its plan's currency."""

    __tablename__ = "budgets"

    customer_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("customers.id", ondelete="CASCADE"), primary_key=True
    )
    amount: Mapped[int] = mapped_column(BigInteger)
    # Percentages of `amount`, ascending; each sends one notice per period when reached.
    thresholds: Mapped[list[Any]] = mapped_column(JSON)
    hard_stop: Mapped[bool] = mapped_column(default=False)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow, onupdate=utcnow)


class BudgetNotice(Base):
    """The claim of one threshold's notice in one period: the unique constraint lets exactly
    one worker (on any host) insert it; `sent_at` is set once the notifier delivered it, and
    `sending_until` leases an unsent notice to one sender at a time."""

    __tablename__ = "budget_notices"
    __table_args__ = (
        UniqueConstraint("customer_id", "period_start", "threshold", name="uq_budget_notices_period_threshold"),
    )

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True, default=new_id)
    customer_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("customers.id", ondelete="CASCADE"))
    period_start: Mapped[datetime]
    period_end: Mapped[datetime]
    threshold: Mapped[int] = mapped_column(Integer)  # percent of the budget
    budget_amount: Mapped[int] = mapped_column(BigInteger)
    amount_reached: Mapped[int] = mapped_column(BigInteger)  # the estimated bill when claimed
    currency: Mapped[str] = mapped_column(String(3))
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    sending_until: Mapped[datetime | None]
    sent_at: Mapped[datetime | None]
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
