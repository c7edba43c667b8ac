"""meter: a served (2xx) request's units into the worker's tally, and its response headers.

The one place the request path calls `UsageTally.add`, with the request's units (per-path
rules: 0 for a free path, more than one for a dear one). Only what changes with each request
goes into headers: the period's units and this request's price (`crawler-charged`), plus the
pre-encoded `Link` to license.xml that every content response carries (RSL). The period's
terms (included units, cap, end) are on `GET /v1/usage`; every header costs each response
several microseconds in the server's header handling.
"""

from __future__ import annotations

from licensing_api.access.price import Price
from licensing_api.access.records import AccessRecord
from licensing_api.standards.pricing_step import RequestPricer
from licensing_api.usage.tally import UsageTally

USAGE_UNITS = b"x-usage-units"


class Metering:
    def __init__(self, tally: UsageTally, pricer: RequestPricer, link_header: tuple[bytes, bytes]) -> None:
        self.tally = tally
        self.pricer = pricer
        self.link_header = link_header

    def meter(self, record: AccessRecord | None, price: Price, now: float) -> list[tuple[bytes, bytes]]:
        """Count the request; its response headers, as raw ASGI headers. `record` None: a free
        path served to a caller nobody identified (nothing to count)."""
        if record is None:
            return [self.link_header]
        target = record.target
        assert target is not None and price.tiers is not None  # enforce() refused records without one
        units = price.units
        total = self.tally.add(target.period_field, record.key_id_text, now, units)
        charged = price.tiers.header(total - units) or self.pricer.charged_header(price.plan, total - units, units)  # type: ignore[arg-type]
        return [(USAGE_UNITS, str(total).encode()), charged, self.link_header]
