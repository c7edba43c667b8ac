"""Crawler traffic and the license offer's conversion, from the request counters every worker
already keeps (`observability/request_metrics.py`, the figures `/metrics` publishes)."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from licensing_api.observability.request_metrics import CRAWLER, REQUESTS, RequestCounters
from licensing_api.signup.models import SignupSecret
from licensing_api.standards.crawlers import outcome_for_status

SERVED = "served"


@dataclass(slots=True)
class CrawlerTraffic:
    crawler: str
    licensed: int = 0  # answered 2xx/3xx
    refused: int = 0  # every other answer
    refusals: dict[str, int] = field(default_factory=dict)  # outcome → requests


@dataclass(frozen=True, slots=True)
class OfferConversion:
    offers: int  # 402 answers (the license offer), every route and worker
    signups: int  # checkout signups completed since `since`
    since: datetime

    @property
    def rate_percent(self) -> float | None:
        return None if self.offers == 0 else round(100 * self.signups / self.offers, 1)


def crawler_traffic(counters: RequestCounters) -> list[CrawlerTraffic]:
    """Known crawlers' requests by outcome since the workers started, busiest first."""
    rows: dict[str, CrawlerTraffic] = {}
    for worker in counters.every_worker():
        for key, values in worker.items():
            if key[0] != CRAWLER:
                continue
            row = rows.setdefault(key[1], CrawlerTraffic(key[1]))
            outcome = outcome_for_status(int(key[2]))
            if outcome == SERVED:
                row.licensed += values[0]
            else:
                row.refused += values[0]
                row.refusals[outcome] = row.refusals.get(outcome, 0) + values[0]
    return sorted(rows.values(), key=lambda r: (-(r.licensed + r.refused), r.crawler))


def offers_answered(counters: RequestCounters) -> int:
    return sum(
        values[0]
        for worker in counters.every_worker()
        for key, values in worker.items()
        if key[0] == REQUESTS and key[2] == "402"
    )


async def offer_conversion(session: AsyncSession, counters: RequestCounters, since: datetime) -> OfferConversion:
    signups = await session.scalar(
        select(func.count()).select_from(SignupSecret).where(SignupSecret.created_at >= since)
    )
    return OfferConversion(offers_answered(counters), int(signups or 0), since)
