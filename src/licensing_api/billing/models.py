from __future__ import annotations

import enum
import uuid
from datetime import datetime
from typing import Any

from sqlalchemy import JSON, BigInteger, ForeignKey, Index, Integer, String
from sqlalchemy.orm import Mapped, mapped_column

from licensing_api.db import Base, new_id, utcnow


class PlanKind(enum.StrEnum):
    HYBRID = "hybrid"  # base fee + metered overage above an allowance
    FIXED = "fixed"  # base fee only, usage capped
    METERED = "metered"  # usage only


class SubscriptionItemKind(enum.StrEnum):
    BASE = "base"  # licensed price, quantity 1
    METERED = "metered"  # metered price attached to a Billing Meter


class Plan(Base):
    """A plan of the catalogue (`plans.toml`) and the Stripe objects that implement it."""

    __tablename__ = "plans"

    id: Mapped[str] = mapped_column(String(64), primary_key=True)  # the plan's lookup key
    name: Mapped[str] = mapped_column(String(255))
    kind: Mapped[str] = mapped_column(String(16))
    currency: Mapped[str] = mapped_column(String(3))
    interval: Mapped[str] = mapped_column(String(8))  # month | year
    base_amount: Mapped[int] = mapped_column(BigInteger, default=0)  # minor units
    # Graduated tiers: [{"up_to": int | None, "unit_amount_decimal": str, "flat_amount": int}]
    tiers: Mapped[list[dict[str, Any]]] = mapped_column(JSON, default=list)
    cap_units: Mapped[int | None] = mapped_column(BigInteger)
    rate_limit_per_second: Mapped[int | None] = mapped_column(Integer)
    stripe_product_id: Mapped[str | None] = mapped_column(String(255))
    stripe_base_price_id: Mapped[str | None] = mapped_column(String(255))
    stripe_metered_price_id: Mapped[str | None] = mapped_column(String(255))
    stripe_meter_id: Mapped[str | None] = mapped_column(String(255))
    meter_event_name: Mapped[str | None] = mapped_column(String(100))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow, onupdate=utcnow)


class Subscription(Base):
    __tablename__ = "subscriptions"

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True, default=new_id)
    customer_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("customers.id", ondelete="CASCADE"), index=True
    )
    plan_id: Mapped[str] = mapped_column(ForeignKey("plans.id"))
    stripe_subscription_id: Mapped[str | None] = mapped_column(String(255), unique=True)
    status: Mapped[str] = mapped_column(String(32), default="active")  # Stripe's status
    current_period_start: Mapped[datetime]
    current_period_end: Mapped[datetime]
    # Local subscriptions (billing off): periods are counted from here, the way Stripe
    # anchors them (a period starting on the 31st ends on the last day of shorter months).
    billing_anchor: Mapped[datetime | None]
    # Creation time of the newest Stripe event applied to this row (out-of-order guard).
    stripe_event_at: Mapped[datetime | None]
    # Access ends here (Stripe's `cancel_at`, e.g. set by `cancel_at_period_end`); None: renews.
    cancel_at: Mapped[datetime | None]
    # A plan change waiting for the period end (a Stripe subscription schedule, or local).
    scheduled_plan_id: Mapped[str | None] = mapped_column(String(64))
    scheduled_change_at: Mapped[datetime | None]
    stripe_schedule_id: Mapped[str | None] = mapped_column(String(255))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow, onupdate=utcnow)


class SubscriptionItem(Base):
    __tablename__ = "subscription_items"

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True, default=new_id)
    subscription_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("subscriptions.id", ondelete="CASCADE"), index=True
    )
    kind: Mapped[str] = mapped_column(String(16))
    stripe_subscription_item_id: Mapped[str | None] = mapped_column(String(255), unique=True)
    stripe_price_id: Mapped[str | None] = mapped_column(String(255))
    meter_event_name: Mapped[str | None] = mapped_column(String(100))
    # For usage: the period this item counts in. It starts when the item joined the
    # subscription (a mid-period plan change) and ends early when the item left it.
    current_period_start: Mapped[datetime]
    current_period_end: Mapped[datetime]
    # The item left the subscription (removed in Stripe or by a plan change): no new usage
    # counts against it; its row stays for the usage ledger.
    ended_at: Mapped[datetime | None]
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class ProvisioningAttempt(Base):
    """One `customers create` attempt with billing on: its id goes into the Stripe objects'
    metadata and idempotency keys. A re-run of an unfinished attempt finds (or replays) what
    it made; once completed or abandoned, the next run is a new attempt, so Stripe creates
    afresh instead of replaying a customer deleted since."""

    __tablename__ = "provisioning_attempts"
    __table_args__ = (Index("ix_provisioning_attempts_email_plan", "email", "plan_id"),)

    id: Mapped[str] = mapped_column(String(32), primary_key=True)
    email: Mapped[str] = mapped_column(String(320))  # lowercased
    plan_id: Mapped[str] = mapped_column(String(64))
    started_at: Mapped[datetime] = mapped_column(default=utcnow)
    completed_at: Mapped[datetime | None]
    abandoned_at: Mapped[datetime | None]
