"""Identify a keyless request by its Web Bot Auth signature: the registered bot, or nobody.

`BotIdentifier.identify(scope)` is the identify step for a request that carries no API key
or license token. For each `web-bot-auth` signature member, its `keyid` is looked up in the
worker's access cache (`wba:{keyid}`): a known key costs a dict lookup, its signature check
and the nonce check (`nonces.py`), no database query. An unknown keyid is read from the
database once (remembered as unknown for a few seconds, throttled per client address like
unknown API keys) and, if the request's `Signature-Agent` names a registered key directory,
that directory is fetched again first (a rotated key), at most once a minute per directory.

Outcomes: the bot's `AccessRecord` (then priced, enforced and metered like a keyed request);
None when no member names a registered key (an unregistered signer is nobody: the 402 offer);
`KeylessSignatureInvalid` (400, `crawler-error: InvalidSignature`) when a registered key's
signature does not hold, is replayed, lacks a nonce or leaves a payment header uncovered.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Awaitable, Callable, Mapping
from typing import Any

from redis.exceptions import RedisError
from sqlalchemy.exc import DBAPIError

from licensing_api.access.cache import AccessCache
from licensing_api.access.records import AccessRecord
from licensing_api.access.single_flight import SingleFlight
from licensing_api.bots.directory import DirectoryError, KeyDirectoryFetcher, directory_url_of
from licensing_api.bots.nonces import NonceStore
from licensing_api.bots.records import bot_cache_key, load_bot_record
from licensing_api.bots.service import bot_of_directory, refresh_directory
from licensing_api.db import session_scope
from licensing_api.errors import ProblemError, ServiceUnavailable
from licensing_api.resources import Resources
from licensing_api.security.failed_lookups import FailedKeyLookupLimiter
from licensing_api.standards.httpsig import SignedRequest
from licensing_api.standards.paypercrawl import CRAWLER_ERROR, PRICE_HEADERS, CrawlerErrorCode
from licensing_api.standards.structured_fields import Item, StructuredFieldError, parse_dictionary
from licensing_api.standards.webbotauth import (
    SignatureRejected,
    SignatureWindow,
    signature_candidates,
    uncovered,
    verify_candidate,
)

logger = logging.getLogger(__name__)

DIRECTORY_REFETCH_SECONDS = 60.0  # an unknown keyid refetches a directory at most this often


class KeylessSignatureInvalid(ProblemError):
    """A registered bot's signature does not hold (Cloudflare's `InvalidSignature`, 400)."""

    status, slug, title = 400, "invalid-signature", "Invalid request signature"

    def __init__(self, detail: str) -> None:
        super().__init__(detail, headers={CRAWLER_ERROR: CrawlerErrorCode.INVALID_SIGNATURE.value})


def signature_agent_directories(value: str | None) -> list[str]:
    """Key directory URLs named by a `Signature-Agent` header: a Dictionary of strings
    (`agent="https://bot.example"`) or, in the first drafts, one string."""
    if not value:
        return []
    urls: list[str] = []
    try:
        members = parse_dictionary(value)
        urls = [m.value.value for m in members.values()
                if isinstance(m.value, Item) and isinstance(m.value.value, str)]
    except StructuredFieldError:
        text = value.strip()
        if len(text) > 1 and text[0] == text[-1] == '"':
            urls = [text[1:-1]]
    directories = []
    for url in urls:
        try:
            directories.append(directory_url_of(url))
        except DirectoryError:
            continue
    return directories


class BotIdentifier:
    def __init__(
        self,
        resources: Resources,
        cache: AccessCache,
        failed_lookups: FailedKeyLookupLimiter,
        nonces: NonceStore,
        fetcher: KeyDirectoryFetcher,
        *,
        on_loaded: Callable[[AccessRecord], Awaitable[None]] | None = None,
        clock: Callable[[], float] = time.time,
        monotonic: Callable[[], float] = time.monotonic,
    ) -> None:
        self.resources = resources
        self.cache = cache
        self.failed_lookups = failed_lookups
        self.nonces = nonces
        self.fetcher = fetcher
        self.clock = clock
        self.monotonic = monotonic
        self.on_loaded = on_loaded  # the license step's work on a freshly read record
        self.public_base_url = resources.settings.public_base_url
        self.window = SignatureWindow(resources.settings.web_bot_auth_max_window_seconds, clock)
        self._reads: SingleFlight[AccessRecord | None] = SingleFlight()
        self._refetched: dict[str, float] = {}  # directory URL → when it was last refetched

    async def identify(self, scope: Mapping[str, Any], address: str) -> AccessRecord | None:
        request = SignedRequest.from_scope(scope, self.public_base_url)
        try:
            candidates = signature_candidates(request)
        except SignatureRejected as exc:
            raise KeylessSignatureInvalid(str(exc)) from None
        reasons: list[str] = []
        for candidate in candidates:
            if candidate.keyid is None:
                continue
            record = await self._record(candidate.keyid, request, address)
            if record is None or record.bot_key is None:
                continue
            try:
                verified = verify_candidate(request, candidate, record.bot_key, self.window)
            except SignatureRejected as exc:
                reasons.append(f"{candidate.label}: {exc}")
                continue
            missing = uncovered(verified, request, PRICE_HEADERS)
            if missing:
                raise KeylessSignatureInvalid(f"the signature must cover {missing[0]}")
            if verified.nonce is None:
                raise KeylessSignatureInvalid(
                    "a keyless request's signature needs a nonce: it is refused once seen"
                )
            await self._refuse_replay(verified.keyid, verified.nonce, verified.expires)
            return record
        if reasons:
            raise KeylessSignatureInvalid("; ".join(reasons))
        return None

    async def _refuse_replay(self, keyid: str, nonce: str, expires: int) -> None:
        try:
            first = await self.nonces.first_use(keyid, nonce, expires, self.clock())
        except (RedisError, OSError) as exc:
            logger.error("bot_nonce_store_unavailable", extra={"error": type(exc).__name__})
            raise ServiceUnavailable(
                "signed requests cannot be checked for replay right now; retry shortly",
                headers={"Retry-After": "1"},
            ) from None
        if not first:
            raise KeylessSignatureInvalid("this signature's nonce was already used; sign each request anew")

    async def _record(self, keyid: str, request: SignedRequest, address: str) -> AccessRecord | None:
        cache_key = bot_cache_key(keyid)
        entry = self.cache.get(cache_key)
        if entry is not None:
            return entry[0]
        self.failed_lookups.check(address)  # random keyids must not cost a query each
        record = await self._reads.run(cache_key, lambda: self._read(keyid, request))
        if record is None:
            self.failed_lookups.record_failure(address)
        return record

    async def _read(self, keyid: str, request: SignedRequest) -> AccessRecord | None:
        generation = self.cache.generation
        try:
            record = await self._load(keyid)
            if record is None and await self._refetch_directories(request):
                generation = self.cache.generation
                record = await self._load(keyid)
        except (DBAPIError, OSError) as exc:
            logger.error("bot_record_unavailable", extra={"error": type(exc).__name__})
            raise ServiceUnavailable(
                "the signature could not be checked right now; retry shortly", headers={"Retry-After": "1"},
            ) from None
        if record is not None and self.on_loaded is not None:
            await self.on_loaded(record)
        self.cache.put(bot_cache_key(keyid), record, generation)
        return record

    async def _load(self, keyid: str) -> AccessRecord | None:
        async with self.resources.sessionmaker() as session:
            return await load_bot_record(session, self.resources.catalogue, keyid)

    async def _refetch_directories(self, request: SignedRequest) -> bool:
        """Refetch the registered directories the request's Signature-Agent names; True if
        any of them changed its keys."""
        changed = False
        for url in signature_agent_directories(request.headers.get("signature-agent")):
            now = self.monotonic()
            if now - self._refetched.get(url, -DIRECTORY_REFETCH_SECONDS) < DIRECTORY_REFETCH_SECONDS:
                continue
            self._refetched[url] = now
            resources = self.resources
            async with session_scope(resources.sessionmaker) as session:
                bot = await bot_of_directory(session, url)
                if bot is None:
                    continue
                changed = await refresh_directory(
                    session, resources.redis, resources.settings.redis_key_prefix, self.fetcher, bot
                ) or changed
        return changed
