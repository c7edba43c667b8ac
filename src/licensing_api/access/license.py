"""license: who → the cached access record (customer, account state, plan, period, limits).

`cached` is the steady state: a SHA-256 of the key or license token and a dict lookup, no
coroutine. `look_up` takes everything else: a malformed or unknown key or token (401, and the
failed-lookup limiter), a revoked key (403), a key bound to a bot (its Web Bot Auth
signature), a cache miss, which reads the database once (concurrent misses for the same
credential share that read) and Redis once (the period total), a registered bot's signed
request without a key (`bots/identify.py`), and nobody (None: the price step decides between
a free path and the 402 offer).

A license token's entry is its key's record (the account's state applies; revoking the key
drops it with the key's) and lives no longer than the token.
"""

from __future__ import annotations

import hashlib
import logging
from collections.abc import Awaitable, Callable

from redis.exceptions import RedisError
from sqlalchemy.exc import DBAPIError
from starlette.requests import Request

from licensing_api.access.cache import AccessCache, CacheLookupCounts
from licensing_api.access.identify import credentials_of, is_signed
from licensing_api.access.records import AccessRecord, load_access_record
from licensing_api.access.single_flight import SingleFlight
from licensing_api.access.responses import InvalidApiKey, KeyRevoked
from licensing_api.bots.identify import BotIdentifier
from licensing_api.bots.runtime import BotsRuntime
from licensing_api.db import utcnow
from licensing_api.errors import ServiceUnavailable
from licensing_api.keys.service import is_well_formed
from licensing_api.olp.tokens import is_license_token, load_token_record
from licensing_api.resources import Resources
from licensing_api.security.failed_lookups import FailedKeyLookupLimiter, client_address
from licensing_api.standards.webbotauth import SignatureWindow, verify_bot_signature
from licensing_api.usage.redis_keys import period_totals_of
from licensing_api.usage.tally import UsageTally

logger = logging.getLogger(__name__)

# A loader reads one credential's record: (record or None, seconds it may be cached or None).
Loader = Callable[[str], Awaitable[tuple[AccessRecord | None, float | None]]]


class LicenseLookup:
    def __init__(
        self,
        resources: Resources,
        cache: AccessCache,
        tally: UsageTally,
        failed_lookups: FailedKeyLookupLimiter,
        bots: BotsRuntime | None = None,
    ) -> None:
        self.resources = resources
        self.cache = cache
        self.tally = tally
        self.failed_lookups = failed_lookups
        self.lookups = CacheLookupCounts()
        self.public_base_url = resources.settings.public_base_url
        self.signature_window = SignatureWindow(resources.settings.web_bot_auth_max_window_seconds)
        self.bots = None if bots is None else BotIdentifier(
            resources, cache, failed_lookups, bots.nonces, bots.fetcher, on_loaded=self._watch_period,
        )
        self._reads: SingleFlight[AccessRecord | None] = SingleFlight()

    def cached(self, secret: bytes) -> AccessRecord | None:
        """The record of a cached, unrevoked key or license token with no bot key bound;
        None for anything else (`look_up` then decides)."""
        entry = self.cache.get(hashlib.sha256(secret).hexdigest())
        if entry is None:
            return None
        record = entry[0]
        if record is None or record.key_revoked or record.bot_key is not None:
            return None
        self.lookups.hits += 1
        return record

    async def look_up(self, request: Request, *, keys_only: bool = False) -> AccessRecord | None:
        """The caller's record: a known key or license token that is not revoked, or a
        registered bot's signature (401/403 otherwise); None when nothing identifies the
        caller. `keys_only` (key management, usage): an API key and nothing else."""
        secret = credentials_of(request)
        if secret is None:
            if keys_only or self.bots is None or not is_signed(request.scope["headers"]):
                return None
            return await self.bots.identify(request.scope, client_address(request))
        token = is_license_token(secret)
        if token and keys_only:
            raise InvalidApiKey("a license token licenses content; manage keys with your API key")
        digest = hashlib.sha256(secret.encode()).hexdigest()
        entry = self.cache.get(digest)  # only well-formed keys and tokens are ever cached
        if entry is not None:
            record = entry[0]
            if record is not None:
                self.lookups.hits += 1
            else:
                self.lookups.negative += 1
        else:
            # Not cached: a key-guessing address is stopped before it costs a query.
            address = client_address(request)
            self.failed_lookups.check(address)
            if not token and not is_well_formed(secret):
                self.failed_lookups.record_failure(address)
                raise InvalidApiKey(
                    "the API key is malformed; keys look like lk_ followed by 32+ characters"
                    if secret else "the Authorization header lacks the Bearer scheme; send "
                    "`Authorization: Bearer <key>` (or `X-API-Key: <key>`)"
                )
            self.lookups.misses += 1
            record = await self._reads.run(digest, lambda: self._read(digest, self._read_token if token else self._read_key))
        if record is None:
            self.failed_lookups.record_failure(client_address(request))
            raise InvalidApiKey("unknown or expired license token" if token else "unknown API key")
        if record.key_revoked:
            if token:  # RSL: a revoked token is a 401, like an unknown one
                raise InvalidApiKey("this license token was revoked with its API key")
            raise KeyRevoked("this API key was revoked; create another in the dashboard")
        if record.bot_key is not None:
            verify_bot_signature(request, record.bot_key, self.public_base_url, self.signature_window)
        return record

    async def _read(self, digest: str, loader: Loader) -> AccessRecord | None:
        generation = self.cache.generation
        try:
            record, max_ttl = await loader(digest)
        except (DBAPIError, OSError) as exc:
            logger.error("access_record_unavailable", extra={"error": type(exc).__name__})
            raise ServiceUnavailable(
                "the key could not be checked right now; retry shortly",
                headers={"Retry-After": "1"},
            ) from None
        if record is not None:
            await self._watch_period(record)
        self.cache.put(digest, record, generation, max_ttl=max_ttl)
        return record

    async def _read_key(self, digest: str) -> tuple[AccessRecord | None, float | None]:
        resources = self.resources
        async with resources.sessionmaker() as session:
            return await load_access_record(session, resources.catalogue, digest), None

    async def _read_token(self, digest: str) -> tuple[AccessRecord | None, float | None]:
        resources = self.resources
        now = utcnow()
        async with resources.sessionmaker() as session:
            found = await load_token_record(session, resources.catalogue, digest, now)
        if found is None:
            return None, None
        record, expires_at = found
        return record, (expires_at - now).total_seconds()

    async def _watch_period(self, record: AccessRecord) -> None:
        """The tally learns the period's total in Redis, for usage headers and caps."""
        if record.target is not None:
            self.tally.watch(record.target.period_field, await self._period_total(record))

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
