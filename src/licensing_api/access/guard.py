"""The request path's access check: credentials → cached record → enforcement → metering.

In the steady state a request costs one SHA-256, a few dict lookups and a tally increment:
no database query, no Redis round trip. A cache miss reads the database once (concurrent
misses for the same key share that read) and Redis once, for the period total.
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

from licensing_api import metrics
from licensing_api.access.cache import AccessCache
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
from licensing_api.standards.service import CRAWLER_CHARGED_HEADER, CrawlerStandards
from licensing_api.standards.webbotauth import verify_bot_signature
from licensing_api.usage.redis_keys import PERIOD_TOTALS
from licensing_api.usage.tally import UsageTally

logger = logging.getLogger(__name__)

CRAWLER_CHARGED = CRAWLER_CHARGED_HEADER.encode()
_CACHE_HIT = metrics.ACCESS_CACHE_LOOKUPS.labels(result="hit")
_CACHE_MISS = metrics.ACCESS_CACHE_LOOKUPS.labels(result="miss")
_CACHE_NEGATIVE = metrics.ACCESS_CACHE_LOOKUPS.labels(result="negative")


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
        self.standards = standards
        self.clock = clock
        self.payment_url = resources.settings.public_base_url + "/dashboard"
        self._loading: dict[str, asyncio.Task[AccessRecord | None]] = {}

    async def authenticate(self, request: Request) -> AccessRecord:
        """The caller's record: a known key that is not revoked (401/403 otherwise)."""
        secret = credentials_of(request)
        if secret is None:
            raise RespondWith(no_credentials_response(request, self.resources))
        digest = hashlib.sha256(secret.encode()).hexdigest()
        entry = self.cache.get(digest)  # only well-formed keys are ever cached
        if entry is not None:
            record = entry[0]
            (_CACHE_HIT if record is not None else _CACHE_NEGATIVE).inc()
        else:
            # Not a cached key: a key-guessing address is stopped before it costs a query.
            address = client_address(request)
            self.failed_lookups.check(address)
            if not is_well_formed(secret):
                self.failed_lookups.record_failure(address)
                raise InvalidApiKey(
                    "the API key is malformed; keys look like lk_ followed by 32+ characters"
                )
            _CACHE_MISS.inc()
            record = await self._load(digest)
        if record is None:
            self.failed_lookups.record_failure(client_address(request))
            raise InvalidApiKey("unknown API key")
        if record.key_revoked:
            raise KeyRevoked("this API key was revoked; create another in the dashboard")
        if record.bot_key is not None:
            verify_bot_signature(request, record.bot_key)
        return record

    async def authorize(self, request: Request) -> AccessRecord:
        """`authenticate`, then the account, cap and rate checks of a licensed request."""
        record = self._cached_good_key(request) or await self.authenticate(request)
        now = self.clock()
        if record.account_state != AccountState.ACTIVE:
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

    def _cached_good_key(self, request: Request) -> AccessRecord | None:
        """The steady state without a coroutine: a cached, unrevoked key with no bot key bound.
        Anything else (None) goes the whole way through `authenticate`."""
        secret = credentials_of(request)
        if not secret:
            return None
        entry = self.cache.get(hashlib.sha256(secret.encode()).hexdigest())
        if entry is None:
            return None
        record = entry[0]
        if record is None or record.key_revoked or record.bot_key is not None:
            return None
        _CACHE_HIT.inc()
        return record

    def meter(self, record: AccessRecord) -> list[tuple[bytes, bytes]]:
        """Count one served request; the usage headers of its response, as raw ASGI headers
        (most are encoded once per record: this runs on every served request)."""
        target = record.target
        assert target is not None  # authorize() refused records without one
        units = self.tally.add(target.period_field, record.key_id_text, self.clock())
        headers = [(b"x-usage-units", str(units).encode()), *target.static_headers]
        charged = self.standards.crawler_charged(target.plan.id, units - 1)
        if charged is not None:
            headers.append((CRAWLER_CHARGED, charged.encode()))
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
                self.resources.redis_key(PERIOD_TOTALS), record.target.period_field
            )
        except (RedisError, OSError) as exc:
            # Serve anyway: the tally keeps every unit; only headers and caps lag behind.
            logger.warning("usage_period_total_unavailable", extra={"error": type(exc).__name__})
            return 0
        return int(raw) if raw is not None else 0


def credentials_of(request: Request) -> str | None:
    """The key from `Authorization: Bearer …` or `X-API-Key`; "" if malformed, None if absent.

    `Authorization: License …` is the same key presented as an RSL license token
    (standards/olp.py issues the API key as the token)."""
    authorization = api_key = None
    for name, value in request.scope["headers"]:  # ASGI header names are lowercase
        if name == b"authorization":
            authorization = value.decode("latin-1")
        elif name == b"x-api-key":
            api_key = value.decode("latin-1")
    if authorization is not None:
        scheme, _, credentials = authorization.partition(" ")
        if scheme.lower() in ("bearer", "license"):
            return credentials.strip()
    if api_key is not None:
        return api_key.strip()
    return None if authorization is None else ""
