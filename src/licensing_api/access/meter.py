"""meter: a served (2xx) request's units into the worker's tally, and its usage headers.

The one place the request path calls `UsageTally.add`. Only what changes with each request
goes into headers: the period's units and this request's price. The period's terms (included
units, cap, end) are on `GET /v1/usage`; every header costs each response several
microseconds in the server's header handling.
"""

from __future__ import annotations

from licensing_api.access.price import Price
from licensing_api.access.records import AccessRecord
from licensing_api.usage.tally import UsageTally

USAGE_UNITS = b"x-usage-units"


class Metering:
    def __init__(self, tally: UsageTally) -> None:
        self.tally = tally

    def meter(self, record: AccessRecord, price: Price, now: float) -> list[tuple[bytes, bytes]]:
        """Count the request; its usage headers, as raw ASGI headers."""
        target = record.target
        assert target is not None  # enforce() refused records without one
        units = self.tally.add(target.period_field, record.key_id_text, now)
        headers = [(USAGE_UNITS, str(units).encode())]
        if price.charged is not None:
            headers.append(price.charged.header(units - 1))
        return headers
