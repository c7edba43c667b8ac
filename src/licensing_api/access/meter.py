"""meter: a served (2xx) request's units into the worker's tally, and its response headers.

The one place the request path calls `UsageTally.add`, with the request's units (per-path
rules: 0 for a free path, more than one for a dear one). Only what changes with each request
goes into headers: the period's units and this request's price (`crawler-charged`), plus the
pre-encoded `Link` to license.xml that every content response carries (RSL). The period's
terms (included units, cap, end) are on `GET /v1/usage`; every header costs each response
several microseconds in the server's header handling.

Forward-auth with the edge's report (gateway/forward_auth.py) meters in two steps: `quote`
gives the headers of a decided request without counting it, `count_granted` counts it when
the edge reports that the origin answered 2xx.
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

    def meter(self, record: AccessRecord | None, price: Price, now: float, path: str) -> list[tuple[bytes, bytes]]:
        """Count the request of content `path`; its response headers, as raw ASGI headers.
        `record` None: a free path served to a caller nobody identified (nothing to count)."""
        if record is None:
            return [self.link_header]
        target = record.target
        assert target is not None and price.tiers is not None  # enforce() refused records without one
        units = price.units
        total = self.tally.add(target.period_field, record.key_id_text, now, units, path)
        charged = price.tiers.header(total - units) or self.pricer.charged_header(price.plan, total - units, units)  # type: ignore[arg-type]
        return [(USAGE_UNITS, str(total).encode()), charged, self.link_header]

    def quote(self, record: AccessRecord | None, price: Price) -> list[tuple[bytes, bytes]]:
        """The headers `meter` would give, without counting: the request is counted later
        (`count_granted`), if at all."""
        if record is None:
            return [self.link_header]
        target = record.target
        assert target is not None and price.tiers is not None  # enforce() refused records without one
        units = price.units
        before = self.tally.units_this_period(target.period_field)
        charged = price.tiers.header(before) or self.pricer.charged_header(price.plan, before, units)  # type: ignore[arg-type]
        return [(USAGE_UNITS, str(before + units).encode()), charged, self.link_header]

    def count_granted(self, period_field: str, key_id: str, units: int, now: float, path: str | None) -> None:
        """Count a request decided earlier (a forward-auth grant) that the origin served."""
        self.tally.add(period_field, key_id, now, units, path)
