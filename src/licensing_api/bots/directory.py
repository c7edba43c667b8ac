"""A bot's key directory (draft-meunier-webbotauth-httpsig-directory): a JWKS served at
`https://{origin}/.well-known/http-message-signatures-directory`.

`KeyDirectoryFetcher.fetch` gets it over HTTPS only (certificate verified; no redirects; at
most `MAX_DIRECTORY_BYTES`; a few seconds), conditionally with the last `ETag`, and says how
long the answer stays fresh by its HTTP caching headers (`Cache-Control: max-age` /
`s-maxage`, `no-cache`/`no-store`, else `Expires` − `Date`), bounded to
[`MIN_FRESH_SECONDS`, `MAX_FRESH_SECONDS`]. It is called when a bot registers, when a
signature names a key the service does not know yet (rotation), and by the refresh task when
a directory goes stale: never on the request path for a key already known.
"""

from __future__ import annotations

import json
import logging
import ssl
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from email.utils import parsedate_to_datetime
from pathlib import Path
from urllib.parse import urlsplit

import httpx

from licensing_api.standards.httpsig import InvalidBotKey, VerifyingKey

logger = logging.getLogger(__name__)

WELL_KNOWN_PATH = "/.well-known/http-message-signatures-directory"
MEDIA_TYPE = "application/http-message-signatures-directory+json"
MAX_DIRECTORY_BYTES = 65_536
MAX_DIRECTORY_KEYS = 20
FETCH_TIMEOUT_SECONDS = 5.0
DEFAULT_FRESH_SECONDS = 3600
MIN_FRESH_SECONDS = 60
MAX_FRESH_SECONDS = 86_400


class DirectoryError(ValueError):
    """The directory could not be fetched or read; the message says why (shown to people)."""


def directory_url_of(text: str) -> str:
    """A registered directory address, normalised: `https://bot.example` becomes
    `https://bot.example/.well-known/http-message-signatures-directory`."""
    parts = urlsplit(text.strip())
    if parts.scheme != "https" or not parts.hostname:
        raise DirectoryError("a key directory is an https:// URL")
    if parts.query or parts.fragment or parts.username or parts.password:
        raise DirectoryError("a key directory URL has no query, fragment or credentials")
    path = parts.path if parts.path not in ("", "/") else WELL_KNOWN_PATH
    return f"https://{parts.netloc.lower()}{path}"


@dataclass(frozen=True, slots=True)
class DirectoryDocument:
    keys: tuple[VerifyingKey, ...]  # empty when `not_modified`
    fresh_until: datetime
    etag: str | None
    not_modified: bool = False


def fresh_until(headers: httpx.Headers, now: datetime) -> datetime:
    """When a directory answer goes stale, by its caching headers (RFC 9111 §4.2.1)."""
    seconds: float | None = None
    directives = {
        name.strip().lower(): value.strip().strip('"')
        for name, _, value in (part.partition("=") for part in headers.get("cache-control", "").split(","))
        if name.strip()
    }
    if "no-store" in directives or "no-cache" in directives:
        seconds = 0
    else:
        for directive in ("s-maxage", "max-age"):
            if directives.get(directive, "").isdigit():
                seconds = int(directives[directive])
                break
    if seconds is None and "expires" in headers:
        try:
            expires = parsedate_to_datetime(headers["expires"])
            date = parsedate_to_datetime(headers["date"]) if "date" in headers else now
            seconds = (expires - date).total_seconds()
        except (TypeError, ValueError):
            seconds = 0  # an invalid Expires means "already expired"
    if seconds is None:
        seconds = DEFAULT_FRESH_SECONDS
    return now + timedelta(seconds=min(max(seconds, MIN_FRESH_SECONDS), MAX_FRESH_SECONDS))


def parse_directory(body: bytes) -> tuple[VerifyingKey, ...]:
    try:
        document = json.loads(body)
    except ValueError:
        raise DirectoryError("the directory is not JSON") from None
    raw_keys = document.get("keys") if isinstance(document, dict) else None
    if not isinstance(raw_keys, list):
        raise DirectoryError('the directory is not a JWKS ({"keys": [...]})')
    keys = []
    for jwk in raw_keys[:MAX_DIRECTORY_KEYS]:
        try:
            keys.append(VerifyingKey.from_jwk(jwk))
        except InvalidBotKey:
            continue  # other key types may be published for other verifiers
    if not keys:
        raise DirectoryError("the directory holds no Ed25519 or RSA public key")
    return tuple(keys)


def directory_ssl_context(extra_ca_file: Path | None) -> ssl.SSLContext:
    """The system's trust store, plus `BOT_DIRECTORY_CA_FILE` (a private CA) when set."""
    context = ssl.create_default_context()
    if extra_ca_file is not None:
        context.load_verify_locations(cafile=str(extra_ca_file))
    return context


class KeyDirectoryFetcher:
    def __init__(self, ssl_context: ssl.SSLContext) -> None:
        self._client = httpx.AsyncClient(
            verify=ssl_context, follow_redirects=False, timeout=FETCH_TIMEOUT_SECONDS,
            headers={"Accept": f"{MEDIA_TYPE}, application/json;q=0.5", "User-Agent": "licensing-api"},
        )

    async def aclose(self) -> None:
        await self._client.aclose()

    async def fetch(self, url: str, etag: str | None = None, now: datetime | None = None) -> DirectoryDocument:
        now = now or datetime.now(UTC)
        headers = {"If-None-Match": etag} if etag else {}
        try:
            async with self._client.stream("GET", url, headers=headers) as response:
                if response.status_code == 304:
                    return DirectoryDocument((), fresh_until(response.headers, now), etag, not_modified=True)
                if response.status_code != 200:
                    raise DirectoryError(f"the directory answered HTTP {response.status_code}")
                body = bytearray()
                async for chunk in response.aiter_bytes():
                    body += chunk
                    if len(body) > MAX_DIRECTORY_BYTES:
                        raise DirectoryError(f"the directory is larger than {MAX_DIRECTORY_BYTES} bytes")
        except httpx.HTTPError as exc:
            logger.warning("bot_directory_unreachable", extra={"url": url, "error": type(exc).__name__})
            raise DirectoryError(f"the directory could not be fetched ({type(exc).__name__})") from None
        return DirectoryDocument(
            parse_directory(bytes(body)), fresh_until(response.headers, now), response.headers.get("etag"),
        )
