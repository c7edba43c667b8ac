"""What a plan change `now` costs at once: Stripe's proration of the base fees, to the cent.

Stripe prorates "down to the second" from the current period's start and end and the
proration date (the service passes the moment it decided, `proration_date`, so both sides
use the same second). For the licensed base fee: a credit for the unused time on the old
price and a charge for the remaining time on the new one, each `fee × remaining / period`
computed exactly and rounded half-up to an integer minor unit, each its own invoice line.
Metered usage is never prorated: the old plan's usage is billed at the period end on its own
item, the new plan's from the change on the new item.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from decimal import ROUND_HALF_UP, Decimal

from licensing_api.billing.plans import PlanSpec


@dataclass(frozen=True, slots=True)
class ProrationLine:
    description: str
    amount: int  # minor units; negative for a credit


@dataclass(frozen=True, slots=True)
class ChangeEstimate:
    currency: str
    proration_date: datetime
    lines: tuple[ProrationLine, ...]

    @property
    def total(self) -> int:
        return sum(line.amount for line in self.lines)


def prorated(amount: int, remaining_seconds: int, period_seconds: int) -> int:
    exact = Decimal(amount) * Decimal(remaining_seconds) / Decimal(period_seconds)
    return int(exact.quantize(Decimal(1), rounding=ROUND_HALF_UP))


def estimate_change_now(
    old: PlanSpec, new: PlanSpec, period_start: datetime, period_end: datetime, at: datetime,
) -> ChangeEstimate:
    """The invoice lines Stripe creates for switching from `old` to `new` at `at`."""
    if not period_start <= at <= period_end:
        raise ValueError("the proration date must lie in the current period")
    remaining = int(period_end.timestamp()) - int(at.timestamp())
    total = int(period_end.timestamp()) - int(period_start.timestamp())
    lines = []
    if old.has_base_fee and old.base_amount:
        lines.append(ProrationLine(f"Unused time on {old.name}", -prorated(old.base_amount, remaining, total)))
    if new.has_base_fee and new.base_amount:
        lines.append(ProrationLine(f"Remaining time on {new.name}", prorated(new.base_amount, remaining, total)))
    return ChangeEstimate(new.currency, at, tuple(line for line in lines if line.amount))
