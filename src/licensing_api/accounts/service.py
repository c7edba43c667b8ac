"""The account state machine (DESIGN.md §3).

    active ──payment failed──▶ past_due (grace_until) ──grace over──▶ suspended
      ▲                            │                                     │
      └────────────paid────────────┴─────────────────paid────────────────┘
    any state ──subscription deleted / refund / dispute / customer deleted──▶ revoked

Every transition writes `audit_log`, drops the hot-path cache of the customer's keys in
every worker once the transaction commits, and sends the customer a notice. Nothing here
commits: callers own the unit of work (`session_scope`).

Ordering: `customers.state_source_at` is the time of the newest Stripe fact that decided
the state. A fact older than it is stale and ignored; a fact from the same second is in
doubt and the caller asks Stripe for the current object. Revocation is final and so does
not depend on order.
"""

from __future__ import annotations

import enum
import logging
import uuid
from datetime import datetime, timedelta

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from licensing_api.access.invalidation import invalidate_after_commit
from licensing_api.accounts.models import AccountState, AuditLogEntry, Customer
from licensing_api.accounts.notifier import AccountNotice, NoticeKind, create_notifier, notice_sender
from licensing_api.db import after_commit, utcnow
from licensing_api.errors import NotFound
from licensing_api.resources import Resources

logger = logging.getLogger(__name__)

ALLOWED_TRANSITIONS: dict[AccountState, frozenset[AccountState]] = {
    AccountState.ACTIVE: frozenset({AccountState.PAST_DUE, AccountState.SUSPENDED, AccountState.REVOKED}),
    AccountState.PAST_DUE: frozenset({AccountState.ACTIVE, AccountState.SUSPENDED, AccountState.REVOKED}),
    AccountState.SUSPENDED: frozenset({AccountState.ACTIVE, AccountState.REVOKED}),
    AccountState.REVOKED: frozenset(),  # final: a new signup makes a new account
}

# Suspensions for money taken back: no payment lifts them, only a won dispute or an operator.
REFUND_REASON = "charge_refunded"
DISPUTE_REASON = "charge_disputed"
KEPT_SUSPENSIONS = frozenset({REFUND_REASON, DISPUTE_REASON})

NOTICE_FOR_STATE = {
    AccountState.PAST_DUE: NoticeKind.PAYMENT_FAILED,
    AccountState.SUSPENDED: NoticeKind.SUSPENDED,
    AccountState.ACTIVE: NoticeKind.REACTIVATED,
    AccountState.REVOKED: NoticeKind.REVOKED,
}


class CustomerNotFound(NotFound):
    slug, title = "customer-not-found", "Customer not found"


class Freshness(enum.Enum):
    NEWER = "newer"
    SAME = "same"  # same second as what is stored: in doubt, ask Stripe
    OLDER = "older"


def freshness(stored_at: datetime | None, occurred_at: datetime) -> Freshness:
    if stored_at is None or occurred_at > stored_at:
        return Freshness.NEWER
    return Freshness.SAME if occurred_at == stored_at else Freshness.OLDER


def note_source(customer: Customer, occurred_at: datetime) -> None:
    """Remember the newest Stripe fact that decided (or confirmed) the customer's state."""
    if customer.state_source_at is None or occurred_at > customer.state_source_at:
        customer.state_source_at = occurred_at


async def customer_by_stripe_id(
    session: AsyncSession, stripe_customer_id: str | None
) -> Customer | None:
    """The customer row, locked so concurrent events for one customer apply one at a time."""
    if not stripe_customer_id:
        return None
    return await session.scalar(
        select(Customer).where(Customer.stripe_customer_id == stripe_customer_id).with_for_update()
    )


async def change_state(
    session: AsyncSession,
    resources: Resources,
    customer: Customer,
    to_state: AccountState,
    *,
    reason: str,
    source: str,
    grace_until: datetime | None = None,
) -> bool:
    """Move the customer to `to_state` if the state machine allows it; True if it moved."""
    from_state = AccountState(customer.state)
    if to_state == from_state or to_state not in ALLOWED_TRANSITIONS[from_state]:
        return False
    await _move(session, resources, customer, from_state, to_state, reason=reason, source=source,
                grace_until=grace_until)
    return True


async def reinstate_account(
    session: AsyncSession, resources: Resources, customer: Customer, *, reason: str, source: str,
) -> bool:
    """An operator's decision: a suspended or revoked account becomes active again (the one
    way out of `revoked`; no Stripe event ever takes it). True if it moved."""
    from_state = AccountState(customer.state)
    if from_state not in (AccountState.SUSPENDED, AccountState.REVOKED):
        return False
    await _move(session, resources, customer, from_state, AccountState.ACTIVE, reason=reason,
                source=source, grace_until=None)
    return True


async def _move(
    session: AsyncSession, resources: Resources, customer: Customer, from_state: AccountState,
    to_state: AccountState, *, reason: str, source: str, grace_until: datetime | None,
) -> None:
    """The transition itself: state, audit row, cache invalidation and notice after commit."""
    customer.state = to_state
    customer.grace_until = grace_until if to_state == AccountState.PAST_DUE else None
    session.add(
        AuditLogEntry(
            customer_id=customer.id,
            from_state=from_state,
            to_state=to_state,
            reason=reason,
            source=source,
        )
    )
    await session.flush()
    invalidate_after_commit(
        session, resources.redis, resources.settings.redis_key_prefix, customer_id=customer.id
    )
    notice = AccountNotice(
        kind=NOTICE_FOR_STATE[to_state],
        customer_id=customer.id,
        email=customer.email,
        reason=reason,
        grace_until=customer.grace_until,
    )
    after_commit(session, notice_sender(create_notifier(resources.settings), notice))
    logger.info(
        "account_state_changed",
        extra={"customer_id": str(customer.id), "from_state": str(from_state),
               "to_state": str(to_state), "reason": reason, "source": source},
    )


def grace_deadline(resources: Resources, failed_at: datetime) -> datetime:
    return failed_at + timedelta(days=resources.settings.grace_period_days)


async def mark_payment_failed(
    session: AsyncSession, resources: Resources, customer: Customer, *,
    failed_at: datetime, reason: str, source: str, now: datetime | None = None,
) -> bool:
    """active → past_due until `failed_at` + GRACE_PERIOD_DAYS; a repeated failure keeps the
    first deadline (retries do not extend the grace period).

    A failure learned of only after its grace period ended (a delivery delayed for days)
    suspends at once: a payment-failed notice never names a deadline already past.
    """
    if customer.state != AccountState.ACTIVE:
        return False
    deadline = grace_deadline(resources, failed_at)
    if deadline <= (now or utcnow()):
        return await change_state(
            session, resources, customer, AccountState.SUSPENDED,
            reason=f"{reason}: grace period already over", source=source,
        )
    return await change_state(
        session, resources, customer, AccountState.PAST_DUE, reason=reason, source=source,
        grace_until=deadline,
    )


async def mark_paid(
    session: AsyncSession, resources: Resources, customer: Customer, *, reason: str, source: str
) -> bool:
    """past_due or suspended → active, grace cleared; never a suspension for a refund or a
    dispute (a later invoice being paid says nothing about the money taken back)."""
    if customer.state == AccountState.SUSPENDED and (
        await last_suspension_reason(session, customer) in KEPT_SUSPENSIONS
    ):
        return False
    return await change_state(
        session, resources, customer, AccountState.ACTIVE, reason=reason, source=source
    )


async def last_suspension_reason(session: AsyncSession, customer: Customer) -> str | None:
    """Why the customer was last moved to `suspended` (None if never)."""
    return await session.scalar(
        select(AuditLogEntry.reason)
        .where(AuditLogEntry.customer_id == customer.id,
               AuditLogEntry.to_state == AccountState.SUSPENDED,
               AuditLogEntry.from_state != AccountState.SUSPENDED)
        .order_by(AuditLogEntry.created_at.desc(), AuditLogEntry.id.desc())
        .limit(1)
    )


async def suspend(
    session: AsyncSession, resources: Resources, customer: Customer, *, reason: str, source: str
) -> bool:
    return await change_state(
        session, resources, customer, AccountState.SUSPENDED, reason=reason, source=source
    )


async def revoke(
    session: AsyncSession, resources: Resources, customer: Customer, *, reason: str, source: str
) -> bool:
    return await change_state(
        session, resources, customer, AccountState.REVOKED, reason=reason, source=source
    )


async def audit_trail(session: AsyncSession, customer_id: uuid.UUID) -> list[AuditLogEntry]:
    result = await session.scalars(
        select(AuditLogEntry)
        .where(AuditLogEntry.customer_id == customer_id)
        .order_by(AuditLogEntry.created_at, AuditLogEntry.id)
    )
    return list(result)
