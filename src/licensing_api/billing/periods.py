"""Billing period arithmetic, the way Stripe anchors monthly and annual periods."""

from __future__ import annotations

import calendar
from datetime import datetime


def add_interval(start: datetime, interval: str, count: int = 1) -> datetime:
    """`start` moved forward by `count` months or years, clamped to the month's last day."""
    months = count * (12 if interval == "year" else 1)
    if interval not in ("month", "year"):
        raise ValueError(f"unknown interval {interval!r}")
    month_index = start.month - 1 + months
    year = start.year + month_index // 12
    month = month_index % 12 + 1
    day = min(start.day, calendar.monthrange(year, month)[1])
    return start.replace(year=year, month=month, day=day)


def period_containing(anchor: datetime, interval: str, moment: datetime) -> tuple[datetime, datetime]:
    """The [start, end) billing period, anchored at `anchor`, that contains `moment`."""
    if moment < anchor:
        raise ValueError("moment is before the billing anchor")
    count = 0
    start = anchor
    end = add_interval(anchor, interval, 1)
    while end <= moment:
        count += 1
        start = add_interval(anchor, interval, count)
        end = add_interval(anchor, interval, count + 1)
    return start, end
