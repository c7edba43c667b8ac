"""The access decision of a licensed request, one module per step (DESIGN.md section 6):

    identify (identify.py) → license (license.py) → price (price.py) → enforce (enforce.py)
    → the route serves → meter (meter.py), for 2xx answers only

`admit` is the steady state, without a coroutine or any I/O: a cached, unrevoked key or
license token with no bot key bound costs one SHA-256, a few dict lookups and the checks.
`authorize` takes every other request (no key, unknown key, cache miss, bound bot key, a
registered bot's signature, nobody) and reaches the same decision.
Both return a `Grant` (the record and the price) or raise the refusal (problem+json errors,
`RespondWith` for the 402 license offer). The content routes (access/dispatch.py) and, later,
the gateway and forward-auth use this one decision.
"""

from __future__ import annotations

import time
from collections.abc import Callable

from starlette.requests import Request

from licensing_api.access.cache import AccessCache
from licensing_api.access.enforce import Enforcement
from licensing_api.access.identify import scan
from licensing_api.access.leases import PREPARE_ROUNDS, GlobalLimits, LeaseNeeded
from licensing_api.access.license import LicenseLookup
from licensing_api.access.meter import Metering
from licensing_api.access.price import Price, Pricing
from licensing_api.access.records import AccessRecord
from licensing_api.access.responses import RateLimited, RespondWith, no_credentials_response
from licensing_api.bots.runtime import BotsRuntime
from licensing_api.resources import Resources
from licensing_api.security.failed_lookups import FailedKeyLookupLimiter
from licensing_api.standards.service import CrawlerStandards
from licensing_api.usage.tally import UsageTally

# A plain tuple: no object to build per request. The record is None for a free path served
# to a caller nobody identified.
Grant = tuple[AccessRecord | None, Price]


class AccessGuard:
    def __init__(
        self,
        resources: Resources,
        cache: AccessCache,
        tally: UsageTally,
        limits: GlobalLimits,
        failed_lookups: FailedKeyLookupLimiter,
        standards: CrawlerStandards,
        bots: BotsRuntime | None = None,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.resources = resources
        self.license = LicenseLookup(resources, cache, tally, failed_lookups, bots)
        self.pricing = Pricing(standards, tally)
        self.limits = limits
        self.enforcement = Enforcement(tally, limits, resources.settings.public_base_url + "/dashboard")
        self.metering = Metering(tally, standards.pricer, standards.link_header)
        self.lookups = self.license.lookups  # cache hits, misses, negatives: published each second
        self.clock = clock

    def admit(self, headers: list[tuple[bytes, bytes]], path: str) -> Grant | None:
        """The decision for a cached good key, straight from the raw ASGI headers; None when
        the request needs `authorize`."""
        secret, limited = scan(headers)
        if not secret:
            return None
        record = self.license.cached(secret)
        if record is None:
            return None
        try:
            return self.decide(record, path, headers if limited else None)
        except LeaseNeeded:
            return None

    async def authorize(self, request: Request) -> Grant:
        """The decision for any request (routes try `admit` first)."""
        record = await self.license.look_up(request)
        if record is None:
            return None, self.pricing.price_for_nobody(request)
        headers = request.scope["headers"]
        limit_headers = headers if scan(headers)[1] else None
        for _ in range(PREPARE_ROUNDS):  # requests that waited together may spend a top-up first
            try:
                return self.decide(record, request.scope["path"], limit_headers)
            except LeaseNeeded:
                await self.limits.prepare(record)  # this worker's leases of the global limits
        try:
            return self.decide(record, request.scope["path"], limit_headers)
        except LeaseNeeded:
            raise RateLimited("this key's share of its limits is being renewed; retry in a second",
                              headers={"Retry-After": "1"}) from None

    async def authenticate(self, request: Request) -> AccessRecord:
        """A known, unrevoked API key, with no licensing checks: `/v1/usage`, `/v1/keys`."""
        record = await self.license.look_up(request, keys_only=True)
        if record is None:
            raise RespondWith(no_credentials_response(request, self.resources))
        return record

    def decide(self, record: AccessRecord, path: str, limit_headers: list[tuple[bytes, bytes]] | None) -> Grant:
        price = self.pricing.price(path, record, limit_headers)
        self.enforcement.enforce(record, self.clock(), price.units)
        return record, price

    def meter(self, grant: Grant, path: str) -> list[tuple[bytes, bytes]]:
        """Count a served request of `path` (the route answered 2xx); its usage headers."""
        return self.metering.meter(grant[0], grant[1], self.clock(), path)
