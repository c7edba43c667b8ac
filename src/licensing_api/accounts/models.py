from __future__ import annotations

import enum
import uuid
from datetime import datetime

from sqlalchemy import BigInteger, ForeignKey, Index, Integer, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from licensing_api.db import Base, new_id, utcnow


class AccountState(enum.StrEnum):
    """Account state machine (DESIGN.md §3)."""

    ACTIVE = "active"
    PAST_DUE = "past_due"  # payment failed; access continues until grace_until
    SUSPENDED = "suspended"  # grace over, unpaid: 402
    REVOKED = "revoked"  # subscription deleted, refunded or disputed: 403


class Customer(Base):
    __tablename__ = "customers"

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True, default=new_id)
    email: Mapped[str] = mapped_column(String(320), index=True)
    stripe_customer_id: Mapped[str | None] = mapped_column(String(255), unique=True)
    state: Mapped[str] = mapped_column(String(16), default=AccountState.ACTIVE)
    grace_until: Mapped[datetime | None]
    # Creation time of the newest Stripe object that changed the state: older events are ignored.
    state_source_at: Mapped[datetime | None]
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow, onupdate=utcnow)


class AuditLogEntry(Base):
    """One account-state change: who changed what, from which state to which, and why."""

    __tablename__ = "audit_log"
    __table_args__ = (Index("ix_audit_log_customer_created", "customer_id", "created_at"),)

    id: Mapped[int] = mapped_column(BigInteger().with_variant(Integer, "sqlite"), primary_key=True)
    customer_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("customers.id", ondelete="CASCADE"))
    from_state: Mapped[str | None] = mapped_column(String(16))
    to_state: Mapped[str] = mapped_column(String(16))
    reason: Mapped[str] = mapped_column(Text)
    source: Mapped[str] = mapped_column(String(255))  # e.g. "stripe:evt_…", "cli", "grace-check"
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
