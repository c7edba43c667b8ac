"""The grace-period check: suspend past-due customers whose grace ended, event or not.

Every worker runs it (a lifespan task) every GRACE_CHECK_INTERVAL_SECONDS, with the local
renewals of billing-off subscriptions (`billing/renewals.py`) and the sweep of signup
secrets past their hour. It needs no lock:
one `UPDATE … WHERE state = 'past_due' AND grace_until <= now RETURNING` claims each
customer exactly once, since a concurrent worker's UPDATE re-checks the WHERE clause after
the first commits and finds nothing. Only what this worker changed is audited, invalidated
and notified.
"""

from __future__ import annotations

import logging
import uuid
from contextlib import AbstractAsyncContextManager
from datetime import datetime

from sqlalchemy import update

from licensing_api.access.invalidation import invalidate_after_commit
from licensing_api.accounts.models import AccountState, AuditLogEntry, Customer
from licensing_api.accounts.notifier import AccountNotice, NoticeKind, create_notifier, notice_sender
from licensing_api.billing.renewals import roll_over_local_periods
from licensing_api.db import after_commit, session_scope, utcnow
from licensing_api.periodic import periodic_task
from licensing_api.resources import Resources
from licensing_api.signup.service import forget_expired_signup_secrets

logger = logging.getLogger(__name__)

GRACE_EXPIRED = "grace_expired"


async def suspend_expired_grace(resources: Resources, now: datetime | None = None) -> list[uuid.UUID]:
    """Suspend every past-due customer whose grace ended by `now`; returns their ids."""
    now = now or utcnow()
    notifier = create_notifier(resources.settings)
    async with session_scope(resources.sessionmaker) as session:
        claimed = await session.execute(
            update(Customer)
            .where(Customer.state == AccountState.PAST_DUE, Customer.grace_until <= now)
            .values(state=AccountState.SUSPENDED, grace_until=None, updated_at=now)
            .returning(Customer.id, Customer.email)
        )
        suspended = list(claimed.all())
        for customer_id, email in suspended:
            session.add(AuditLogEntry(
                customer_id=customer_id, from_state=AccountState.PAST_DUE,
                to_state=AccountState.SUSPENDED, reason=GRACE_EXPIRED, source="grace-check",
            ))
            invalidate_after_commit(session, resources.redis, resources.settings.redis_key_prefix,
                                    customer_id=customer_id)
            notice = AccountNotice(NoticeKind.SUSPENDED, customer_id, email, GRACE_EXPIRED)
            after_commit(session, notice_sender(notifier, notice))
    for customer_id, _ in suspended:
        logger.info("account_state_changed", extra={
            "customer_id": str(customer_id), "from_state": "past_due", "to_state": "suspended",
            "reason": GRACE_EXPIRED, "source": "grace-check"})
    return [customer_id for customer_id, _ in suspended]


async def run_account_checks(resources: Resources, now: datetime | None = None) -> None:
    """One round of the periodic account work: grace deadlines, local renewals (billing off)
    and signup secrets past their hour."""
    await suspend_expired_grace(resources, now)
    await roll_over_local_periods(resources, now)
    async with session_scope(resources.sessionmaker) as session:
        await forget_expired_signup_secrets(session, now)


def grace_check_task(resources: Resources) -> AbstractAsyncContextManager[None]:
    """Run the grace check in the background for the life of the app."""
    return periodic_task("grace-check", resources.settings.grace_check_interval_seconds,
                         lambda: run_account_checks(resources), "grace_check_failed")
