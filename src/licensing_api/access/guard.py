"""The request path's access check: credentials → cached record → enforcement → metering.

In the steady state (`admit`) a request costs one SHA-256, a few dict lookups and a tally
increment: no database query, no Redis round trip, no coroutine. A cache miss reads the
database once (concurrent misses for the same key share that read) and Redis once, for the
period total.
"""

from __future__ import annotations

import asyncio
import hashlib
import logging
import math
import time
from collections.abc import Callable

from fastapi import Request
from redis.exceptions import RedisError
from sqlalchemy.exc import DBAPIError

from licensing_api.access.cache import AccessCache, CacheLookupCounts
from licensing_api.access.ratelimit import KeyRateLimiter
from licensing_api.access.records import AccessRecord, load_access_record
from licensing_api.access.responses import (
    AccountRevoked,
    AccountSuspended,
    InvalidApiKey,
    KeyRevoked,
    NoSubscription,
    RateLimited,
    RespondWith,
    UsageCapReached,
    no_credentials_response,
)
from licensing_api.accounts.models import AccountState
from licensing_api.errors import ServiceUnavailable
from licensing_api.keys.service import is_well_formed
from licensing_api.resources import Resources
from licensing_api.security.failed_lookups import FailedKeyLookupLimiter, client_address
from licensing_api.standards.service import CrawlerStandards
from licensing_api.standards.webbotauth import verify_bot_signature
from licensing_api.usage.redis_keys import period_totals_of
from licensing_api.usage.tally import UsageTally

logger = logging.getLogger(__name__)

ACTIVE = AccountState.ACTIVE  # a module constant: an enum attribute costs a lookup per request


class AccessGuard:
    def __init__(
        self,
        resources: Resources,
        cache: AccessCache,
        tally: UsageTally,
        limiter: KeyRateLimiter,
        failed_lookups: FailedKeyLookupLimiter,
        standards: CrawlerStandards,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.resources = resources
        self.cache = cache
        self.tally = tally
        self.limiter = limiter
        self.failed_lookups = failed_lookups
        self.charged_prices = standards.charged
        self.lookups = CacheLookupCounts()
        self.clock = clock
        self.payment_url = resources.settings.public_base_url + "/dashboard"
        self._loading: dict[str, asyncio.Task[AccessRecord | None]] = {}

    def admit(self, request: Request) -> AccessRecord | None:
        """The steady state, without a coroutine or any I/O: a cached, unrevoked key with no
        bot key bound, checked as `authorize` checks it (refusals raise the same errors).
        None when the key is anything else; `authorize` then takes the request."""
        secret = raw_credentials(request.scope["headers"])
        if not secret:
            return None
        entry = self.cache.get(hashlib.sha256(secret).hexdigest())
        if entry is None:
            return None
        record = entry[0]
        if record is None or record.key_revoked or record.bot_key is not None:
            return None
        self.lookups.hits += 1
        return self.enforce(record)

    async def authorize(self, request: Request) -> AccessRecord:
        """`authenticate`, then the account, cap and rate checks of a licensed request.
        Routes try `admit` first: `guard.admit(request) or await guard.authorize(request)`."""
        return self.enforce(await self.authenticate(request))

    async def authenticate(self, request: Request) -> AccessRecord:
        """The caller's record: a known key that is not revoked (401/403 otherwise)."""
        secret = credentials_of(request)
        if secret is None:
            raise RespondWith(no_credentials_response(request, self.resources))
        digest = hashlib.sha256(secret.encode()).hexdigest()
        entry = self.cache.get(digest)  # only well-formed keys are ever cached
        if entry is not None:
            record = entry[0]
            if record is not None:
                self.lookups.hits += 1
            else:
                self.lookups.negative += 1
        else:
            # Not a cached key: a key-guessing address is stopped before it costs a query.
            address = client_address(request)
            self.failed_lookups.check(address)
            if not is_well_formed(secret):
                self.failed_lookups.record_failure(address)
                raise InvalidApiKey(
                    "the API key is malformed; keys look like lk_ followed by 32+ characters"
                )
            self.lookups.misses += 1
            record = await self._load(digest)
        if record is None:
            self.failed_lookups.record_failure(client_address(request))
            raise InvalidApiKey("unknown API key")
        if record.key_revoked:
            raise KeyRevoked("this API key was revoked; create another in the dashboard")
        if record.bot_key is not None:
            verify_bot_signature(request, record.bot_key)
        return record

    def enforce(self, record: AccessRecord) -> AccessRecord:
        """The account, cap and rate checks of a licensed request with a known, good key."""
        now = self.clock()
        if record.account_state != ACTIVE:
            self._enforce_account_state(record, now)
        target = record.target
        if target is None:
            raise NoSubscription("this account has no subscription; choose a plan to get access")
        plan = target.plan
        if plan.cap_units is not None and self.tally.units_this_period(target.period_field) >= plan.cap_units:
            wait = max(1, math.ceil(target.period_end_epoch - now))
            raise UsageCapReached(
                f"the plan's {plan.cap_units} requests for this period are used up; "
                f"the next period starts at {target.period_end_text}",
                headers={"Retry-After": str(wait), "X-Usage-Cap": str(plan.cap_units)},
            )
        if plan.rate_limit_per_second is not None:
            wait = self.limiter.acquire(record.key_id_text, plan.rate_limit_per_second, now)
            if wait:
                raise RateLimited(
                    f"at most {plan.rate_limit_per_second} requests per second per key",
                    headers={"Retry-After": str(wait)},
                )
        return record

    def meter(self, record: AccessRecord) -> list[tuple[bytes, bytes]]:
        """Count one served request; the usage headers of its response, as raw ASGI headers.

        Only what changes with each request: the period's units and this request's price.
        The period's terms (included units, cap, end) are on `GET /v1/usage`; every header
        costs each response several microseconds in the server's header handling."""
        target = record.target
        assert target is not None  # enforce() refused records without one
        units = self.tally.add(target.period_field, record.key_id_text, self.clock())
        headers = [(b"x-usage-units", str(units).encode())]
        prices = self.charged_prices.get(target.plan.id)
        if prices is not None:
            headers.append(prices.header(units - 1))
        return headers

    def _enforce_account_state(self, record: AccessRecord, now: float) -> None:
        state = record.account_state
        if state == AccountState.PAST_DUE:
            if record.grace_until_epoch is None or now < record.grace_until_epoch:
                return
        elif state == AccountState.REVOKED:
            raise AccountRevoked("this account's subscription was revoked; access has ended")
        elif state != AccountState.SUSPENDED:
            logger.error("access_unknown_account_state", extra={"state": state})
        raise AccountSuspended(
            f"payment is overdue; pay the open invoice at {self.payment_url} to restore access",
            payment_url=self.payment_url,
        )

    async def _load(self, digest: str) -> AccessRecord | None:
        """One database read per missing digest, however many requests wait for it."""
        task = self._loading.get(digest)
        if task is None:
            task = asyncio.ensure_future(self._read(digest))
            self._loading[digest] = task
            task.add_done_callback(lambda _: self._loading.pop(digest, None))
        return await asyncio.shield(task)

    async def _read(self, digest: str) -> AccessRecord | None:
        generation = self.cache.generation
        resources = self.resources
        try:
            async with resources.sessionmaker() as session:
                record = await load_access_record(session, resources.catalogue, digest)
        except (DBAPIError, OSError) as exc:
            logger.error("access_record_unavailable", extra={"error": type(exc).__name__})
            raise ServiceUnavailable(
                "the key could not be checked right now; retry shortly",
                headers={"Retry-After": "1"},
            ) from None
        if record is not None and record.target is not None:
            self.tally.watch(record.target.period_field, await self._period_total(record))
        self.cache.put(digest, record, generation)
        return record

    async def _period_total(self, record: AccessRecord) -> int:
        assert record.target is not None
        try:
            raw = await self.resources.redis.hget(
                self.resources.redis_key(period_totals_of(record.target.period_field)),
                record.target.period_field,
            )
        except (RedisError, OSError) as exc:
            # Serve anyway: the tally keeps every unit; only headers and caps lag behind.
            logger.warning("usage_period_total_unavailable", extra={"error": type(exc).__name__})
            return 0
        return int(raw) if raw is not None else 0


def credentials_of(request: Request) -> str | None:
    """The key from `Authorization: Bearer …` or `X-API-Key`; "" if malformed, None if absent."""
    secret = raw_credentials(request.scope["headers"])
    return None if secret is None else secret.decode("latin-1")


def raw_credentials(headers: list[tuple[bytes, bytes]]) -> bytes | None:
    """`credentials_of` on raw ASGI headers (lowercase names), before any decoding.

    `Authorization: License …` is the same key presented as an RSL license token
    (standards/olp.py issues the API key as the token)."""
    authorization = api_key = None
    for name, value in headers:
        if name == b"authorization":
            authorization = value
        elif name == b"x-api-key":
            api_key = value
    if authorization is not None:
        scheme, _, credentials = authorization.partition(b" ")
        if scheme.lower() in (b"bearer", b"license"):
            return credentials.strip()
    if api_key is not None:
        return api_key.strip()
    return None if authorization is None else b""
