"""Content: the items (`/v1/content/…` paths) and gateway paths by units served, per UTC month.

The workers' tallies count units per path and UTC day and move them to Redis
(`usage/redis_keys.py` `content:{d:<day>}`); a month is the sum of its days. Analytics from
served requests, not the billing ledger: a move Redis applied but whose reply was lost is
counted twice here, never billed twice.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, timedelta

from redis.asyncio import Redis
from redis.exceptions import RedisError

from licensing_api.usage import redis_keys

TOP_PATHS = 100


@dataclass(slots=True)
class ContentMonth:
    first_day: date
    last_day: date  # inclusive: today for the current month
    rows: list[tuple[str, int]] = field(default_factory=list)  # (path, units), most units first
    paths: int = 0  # distinct paths served (rows holds the top `TOP_PATHS`)
    units: int = 0


@dataclass(slots=True)
class ContentFigures:
    months: list[ContentMonth]  # this UTC month, then the last one
    error: str | None = None


def content_months(today: date) -> list[ContentMonth]:
    """This UTC month up to `today`, and the whole month before it."""
    first = today.replace(day=1)
    last_month_end = first - timedelta(days=1)
    return [ContentMonth(first, today), ContentMonth(last_month_end.replace(day=1), last_month_end)]


async def content_by_units(redis: Redis, prefix: str, today: date, top: int = TOP_PATHS) -> ContentFigures:
    """Each month's paths by units (the sum of its days' counters), the top `top` of each."""
    months = content_months(today)
    days = [[m.first_day + timedelta(days=n) for n in range((m.last_day - m.first_day).days + 1)] for m in months]
    pipe = redis.pipeline(transaction=False)  # plain reads: fine on a cluster, each to its day's slot
    for month_days in days:
        for day in month_days:
            pipe.hgetall(prefix + redis_keys.content_day(day))
    try:
        replies = iter(await pipe.execute())
    except (RedisError, OSError):
        return ContentFigures(months, error="Redis is unavailable right now; try again in a minute.")
    for month, month_days in zip(months, days, strict=True):
        units: dict[str, int] = {}
        for _ in month_days:
            for path, count in next(replies).items():
                name = path.decode() if isinstance(path, bytes) else path
                units[name] = units.get(name, 0) + int(count)
        ranked = sorted(units.items(), key=lambda row: (-row[1], row[0]))
        month.rows, month.paths, month.units = ranked[:top], len(ranked), sum(units.values())
    return ContentFigures(months)
