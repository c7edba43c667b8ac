"""license: who → the cached access record (customer, account state, plan, period, limits).

`cached` is the steady state: a SHA-256 of the key and a dict lookup, no coroutine. `look_up`
takes everything else: no key (the 402 license offer), a malformed or unknown key (401, and
the failed-lookup limiter), a revoked key (403), a key bound to a bot (its Web Bot Auth
signature), and a cache miss, which reads the database once (concurrent misses for the same
key share that read) and Redis once (the period total).
"""

from __future__ import annotations

import asyncio
import hashlib
import logging

from redis.exceptions import RedisError
from sqlalchemy.exc import DBAPIError
from starlette.requests import Request

from licensing_api.access.cache import AccessCache, CacheLookupCounts
from licensing_api.access.identify import credentials_of
from licensing_api.access.records import AccessRecord, load_access_record
from licensing_api.access.responses import InvalidApiKey, KeyRevoked, RespondWith, no_credentials_response
from licensing_api.errors import ServiceUnavailable
from licensing_api.keys.service import is_well_formed
from licensing_api.resources import Resources
from licensing_api.security.failed_lookups import FailedKeyLookupLimiter, client_address
from licensing_api.standards.webbotauth import verify_bot_signature
from licensing_api.usage.redis_keys import PERIOD_TOTALS
from licensing_api.usage.tally import UsageTally

logger = logging.getLogger(__name__)


class LicenseLookup:
    def __init__(
        self,
        resources: Resources,
        cache: AccessCache,
        tally: UsageTally,
        failed_lookups: FailedKeyLookupLimiter,
    ) -> None:
        self.resources = resources
        self.cache = cache
        self.tally = tally
        self.failed_lookups = failed_lookups
        self.lookups = CacheLookupCounts()
        self._loading: dict[str, asyncio.Task[AccessRecord | None]] = {}

    def cached(self, secret: bytes) -> AccessRecord | None:
        """The record of a cached, unrevoked key with no bot key bound; None for anything
        else (`look_up` then decides)."""
        entry = self.cache.get(hashlib.sha256(secret).hexdigest())
        if entry is None:
            return None
        record = entry[0]
        if record is None or record.key_revoked or record.bot_key is not None:
            return None
        self.lookups.hits += 1
        return record

    async def look_up(self, request: Request) -> AccessRecord:
        """The caller's record: a known key that is not revoked (401/402/403 otherwise)."""
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
