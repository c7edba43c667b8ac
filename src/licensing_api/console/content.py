"""Content traffic: licensed routes by requests answered, from the workers' request counters.

The ledger counts units per (subscription item, period) and `key_daily_usage` per (key, day):
neither records which item or path was served, so per-item units are not available; the
request counters (the figures `/metrics` publishes) give them per licensed route.
"""

from __future__ import annotations

from dataclasses import dataclass

from licensing_api.observability.middleware import UNMATCHED_ROUTE
from licensing_api.observability.request_metrics import REQUESTS, RequestCounters


@dataclass(slots=True)
class RouteTraffic:
    route: str
    served: int = 0  # 2xx answers: the licensed, counted requests
    refused: int = 0  # 4xx answers (402 offers, 401/403/429 refusals)


def content_traffic(counters: RequestCounters, licensed_prefixes: tuple[str, ...]) -> list[RouteTraffic]:
    """Routes under the licensed prefixes, busiest first, since the workers started."""
    rows: dict[str, RouteTraffic] = {}
    for worker in counters.every_worker():
        for key, values in worker.items():
            if key[0] != REQUESTS or key[1] == UNMATCHED_ROUTE or not key[1].startswith(licensed_prefixes):
                continue
            row = rows.setdefault(key[1], RouteTraffic(key[1]))
            status = int(key[2])
            if 200 <= status < 300:
                row.served += values[0]
            elif 400 <= status < 500:
                row.refused += values[0]
    return sorted(rows.values(), key=lambda r: (-r.served, r.route))
