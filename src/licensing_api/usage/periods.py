"""Which billing period counted units belong to, and which timestamp Stripe gets for them.

Periods are Stripe's item periods (`subscription_items.current_period_*`, synced from
Stripe). Units counted for an older period belong to the period that ended where the next
one began; its end is found from the item's anchor day, so month ends come out right (the
period before Mar 31 is Feb 28/29 → Mar 31, not → Mar 28).

Late usage: Stripe keeps a closing invoice in draft for the account's finalization grace
(1 hour by default, up to 72 hours) and bills usage timestamped inside the closed period
that arrives meanwhile. Units of a period closed less than `LATE_USAGE_GRACE_MINUTES` ago
are stamped one second before its end; after that, now (the current period bills them).
The setting must stay below the account's grace so a slow send still lands in time.
"""

from __future__ import annotations

import calendar
from datetime import datetime, timedelta

DEFAULT_LATE_USAGE_GRACE = timedelta(minutes=50)


def anchor_day(current_start: datetime, current_end: datetime) -> int:
    """The billing anchor's day of month: a short month clamps one bound, never both."""
    return max(current_start.day, current_end.day)


def next_anchored(start: datetime, interval: str, day: int) -> datetime:
    """The first period boundary after `start` for periods anchored on `day`."""
    months = 12 if interval == "year" else 1
    if interval not in ("month", "year"):
        raise ValueError(f"unknown interval {interval!r}")
    index = start.month - 1 + months
    year, month = start.year + index // 12, index % 12 + 1
    return start.replace(year=year, month=month, day=min(day, calendar.monthrange(year, month)[1]))


def period_end(
    period_start: datetime, current_start: datetime, current_end: datetime, interval: str
) -> datetime:
    """End of the item's period that starts at `period_start`."""
    if period_start == current_start:
        return current_end
    end = next_anchored(period_start, interval, anchor_day(current_start, current_end))
    # Periods are contiguous: an older period ended at the latest where the current began.
    return min(end, current_start) if period_start < current_start else end


def meter_event_time(
    period_start: datetime, period_end: datetime, now: datetime,
    late_grace: timedelta = DEFAULT_LATE_USAGE_GRACE,
) -> datetime:
    """The meter event timestamp for units counted in [period_start, period_end)."""
    if now < period_end:
        return max(now, period_start)
    if now < period_end + late_grace:
        return period_end - timedelta(seconds=1)
    return now


def too_late_for_its_period(usage_at: datetime, period_end: datetime, now: datetime,
                            late_grace: timedelta) -> bool:
    """A timestamp inside a period whose invoice may be final by now: sending it as is
    would record units Stripe never bills."""
    return usage_at < period_end and now >= period_end + late_grace
