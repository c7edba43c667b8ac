"""enforce: account state, spend budget, plan cap and rate limit, checked against the cached record.

Without a round trip: the plan cap and the per-key rate are spent from this worker's leases
of the global limits (`access/leases.py`). Refusals raise the problem+json errors of
`access/responses.py`.
"""

from __future__ import annotations

import logging
import math
from typing import NoReturn

from licensing_api.access.leases import GlobalLimits
from licensing_api.access.records import AccessRecord
from licensing_api.access.responses import (
    AccountRevoked,
    AccountSuspended,
    NoSubscription,
    RateLimited,
    SpendCapReached,
    UsageCapReached,
)
from licensing_api.accounts.models import AccountState
from licensing_api.budgets.spend import bill_of
from licensing_api.usage.tally import UsageTally

logger = logging.getLogger(__name__)

ACTIVE = AccountState.ACTIVE  # a module constant: an enum attribute costs a lookup per request


class Enforcement:
    def __init__(self, tally: UsageTally, limits: GlobalLimits, payment_url: str) -> None:
        self.tally = tally
        self.limits = limits
        self.payment_url = payment_url

    def enforce(self, record: AccessRecord, now: float, units: int = 1) -> None:
        """Raise the refusal a licensed request of `units` units with this known, good key
        gets, if any (or LeaseNeeded: this worker must take a lease of the global limits first)."""
        if record.account_state != ACTIVE:
            self._enforce_account_state(record, now)
        target = record.target
        if target is None:
            raise NoSubscription("this account has no subscription; choose a plan to get access")
        plan = target.plan
        stop = record.spend_stop
        if stop is not None and units and self.tally.units_this_period(target.period_field) + units > stop.last_unit:
            self._refuse_spend(record, now)
        if plan.cap_units is not None and self.limits.cap_reached(target, plan.cap_units):
            wait = max(1, math.ceil(target.period_end_epoch - now))
            raise UsageCapReached(
                f"the plan's {plan.cap_units} requests for this period are used up; "
                f"the next period starts at {target.period_end_text}",
                headers={"Retry-After": str(wait), "X-Usage-Cap": str(plan.cap_units)},
            )
        if plan.rate_limit_per_second is not None:
            wait = self.limits.take_token(record.key_id_text, plan.rate_limit_per_second, now)
            if wait:
                raise RateLimited(
                    f"at most {plan.rate_limit_per_second} requests per second per key",
                    headers={"Retry-After": str(wait)},
                )

    def _refuse_spend(self, record: AccessRecord, now: float) -> NoReturn:
        target, stop = record.target, record.spend_stop
        assert target is not None and stop is not None
        so_far = bill_of(target.plan, self.tally.units_this_period(target.period_field))
        raise SpendCapReached(
            f"this request would take the period's estimated bill past the budget of {stop.budget_amount} "
            f"(minor units, {stop.currency.upper()}); the next period starts at {target.period_end_text}",
            headers={"Retry-After": str(max(1, math.ceil(target.period_end_epoch - now)))},
            budget=stop.budget_amount, amount_so_far=so_far, currency=stop.currency,
            period_end=target.period_end_text,
        )

    def _enforce_account_state(self, record: AccessRecord, now: float) -> None:
        state = record.account_state
        if state == AccountState.PAST_DUE:
            if record.grace_until_epoch is None or now < record.grace_until_epoch:
                return
        elif state == AccountState.REVOKED:
            raise AccountRevoked("this account's subscription was revoked; access has ended")
        elif state != AccountState.SUSPENDED:
            logger.error("access_unknown_account_state", extra={"state": state})
        raise AccountSuspended(
            f"payment is overdue; pay the open invoice at {self.payment_url} to restore access",
            payment_url=self.payment_url,
        )
