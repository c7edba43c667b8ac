"""The site's URLs from its sitemaps (sitemaps.org 0.9), for `GET /v1/content` in gateway mode.

Read from the origin: `/sitemap.xml` and every `Sitemap:` line of its robots.txt, following
sitemap index files (`<sitemapindex>`) to the sitemaps they list; gzip-compressed sitemaps
(`.xml.gz`) too. Each file is parsed as it streams in (never held whole) and may be at most
`MAX_SITEMAP_BYTES` uncompressed, as the protocol says; a document type declaration is refused
(no entity expansion). `<lastmod>` (W3C datetime: a date, or a date and time, `YYYY-MM` and
`YYYY` too) becomes `updated`, UTC.

Only the site's own URLs are listed: a `<loc>` on the site's host (`GATEWAY_PUBLIC_URL`, or
`PUBLIC_BASE_URL`) or the origin's (rewritten to the site's); sitemaps listed on other hosts
are not fetched.
"""

from __future__ import annotations

import logging
import zlib
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import UTC, datetime
from urllib.parse import urlsplit
from xml.etree.ElementTree import XMLPullParser

import httpx

from licensing_api.gateway.origin import Origin

logger = logging.getLogger(__name__)

MAX_SITEMAP_BYTES = 50 * 1024 * 1024  # sitemaps.org: 50 MB uncompressed per file
MAX_SITEMAPS = 1000  # files read per refresh
MAX_ENTRIES = 500_000  # URLs kept in memory per worker
ROOT_SITEMAP = "/sitemap.xml"
GZIP_MAGIC = b"\x1f\x8b"
FORBIDDEN_MARKUP = (b"<!DOCTYPE", b"<!ENTITY")


class SitemapError(ValueError):
    """A sitemap cannot be read; the message says why."""


@dataclass(frozen=True, slots=True)
class SiteEntry:
    url: str  # absolute, on the site's public address
    path: str  # the URL's path: what the gateway sees, and what price rules match
    updated: datetime | None  # <lastmod>, UTC; None if the sitemap gives none


class SiteAddresses:
    """Maps sitemap URLs between the site's public address and the origin."""

    def __init__(self, site_url: str, origin_url: str) -> None:
        site = urlsplit(site_url)
        self.site_base = f"{site.scheme}://{site.netloc}"
        self.origin_base = origin_url
        self.hosts = {site.netloc.lower(), urlsplit(origin_url).netloc.lower()}

    def _path_of(self, url: str) -> str | None:
        parts = urlsplit(url.strip())
        if parts.scheme not in ("http", "https") or parts.netloc.lower() not in self.hosts:
            return None
        return (parts.path or "/") + (f"?{parts.query}" if parts.query else "")

    def entry(self, loc: str, lastmod: str | None) -> SiteEntry | None:
        path_and_query = self._path_of(loc)
        if path_and_query is None:
            return None
        return SiteEntry(self.site_base + path_and_query, path_and_query.split("?", 1)[0], parse_lastmod(lastmod))

    def origin_path(self, sitemap_url: str) -> str | None:
        """Where a listed sitemap is on the origin (a path), or None if it is not the site's."""
        return self._path_of(sitemap_url)


def parse_lastmod(value: str | None) -> datetime | None:
    if not value or not value.strip():
        return None
    text = value.strip()
    for candidate in (text, text + "-01", text + "-01-01"):  # YYYY-MM-DD…, YYYY-MM, YYYY
        try:
            moment = datetime.fromisoformat(candidate)
        except ValueError:
            continue
        return moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment.astimezone(UTC)
    return None


def local_name(tag: str) -> str:
    return tag.rsplit("}", 1)[-1]


class SitemapParser:
    """One sitemap file, fed in chunks: its kind and its (loc, lastmod) pairs as they end."""

    def __init__(self) -> None:
        self._parser = XMLPullParser(events=("start", "end"))
        self._inflate: zlib._Decompress | None = None  # type: ignore[name-defined]
        self._first = True
        self._tail = b""
        self._size = 0
        self.kind: str | None = None  # "urlset" | "sitemapindex"

    def feed(self, chunk: bytes) -> list[tuple[str, str | None]]:
        if self._first:
            self._first = False
            if chunk.startswith(GZIP_MAGIC):
                self._inflate = zlib.decompressobj(16 + zlib.MAX_WBITS)
        if self._inflate is not None:
            chunk = self._inflate.decompress(chunk, MAX_SITEMAP_BYTES - self._size + 1)
        self._size += len(chunk)
        if self._size > MAX_SITEMAP_BYTES:
            raise SitemapError(f"larger than {MAX_SITEMAP_BYTES} bytes uncompressed")
        window = self._tail + chunk
        if any(markup in window for markup in FORBIDDEN_MARKUP):
            raise SitemapError("document type declarations are not accepted")
        self._tail = chunk[-16:]
        try:
            self._parser.feed(chunk)
            return self._read_events()
        except SyntaxError as exc:  # xml.etree.ElementTree.ParseError
            raise SitemapError(f"not well-formed XML: {exc}") from None

    def close(self) -> list[tuple[str, str | None]]:
        try:
            self._parser.close()
        except SyntaxError as exc:
            raise SitemapError(f"not well-formed XML: {exc}") from None
        return self._read_events()

    def _read_events(self) -> list[tuple[str, str | None]]:
        found: list[tuple[str, str | None]] = []
        for event, element in self._parser.read_events():
            name = local_name(element.tag)
            if event == "start":
                if self.kind is None:
                    if name not in ("urlset", "sitemapindex"):
                        raise SitemapError(f"<{name}> is neither <urlset> nor <sitemapindex>")
                    self.kind = name
                continue
            if name in ("url", "sitemap"):
                loc = lastmod = None
                for child in element:
                    child_name = local_name(child.tag)
                    if child_name == "loc":
                        loc = (child.text or "").strip()
                    elif child_name == "lastmod":
                        lastmod = child.text
                if loc:
                    found.append((loc, lastmod))
                element.clear()
        return found


async def _stream(origin: Origin, path: str) -> AsyncIterator[bytes]:
    async with origin.client.stream("GET", origin.base + path, headers={"user-agent": "licensing-api-gateway"}) as response:
        if not response.is_success:
            raise SitemapError(f"the origin answered {response.status_code}")
        async for chunk in response.aiter_bytes():  # content coding (gzip transfer) undone
            yield chunk


async def robots_sitemaps(origin: Origin) -> list[str]:
    """The `Sitemap:` URLs of the origin's robots.txt (none if it cannot be read)."""
    try:
        response = await origin.client.get(origin.base + "/robots.txt")
    except httpx.HTTPError:
        return []
    if not response.is_success:
        return []
    urls = []
    for line in response.text.splitlines():
        name, _, value = line.partition(":")
        if name.strip().lower() == "sitemap" and value.strip():
            urls.append(value.strip())
    return urls


async def read_site(origin: Origin, addresses: SiteAddresses) -> list[SiteEntry]:
    """Every URL the origin's sitemaps list (sorted by URL, one entry per URL)."""
    queue = [ROOT_SITEMAP]
    for url in await robots_sitemaps(origin):
        path = addresses.origin_path(url)
        if path is not None and path not in queue:
            queue.append(path)
    seen: set[str] = set()
    entries: dict[str, SiteEntry] = {}
    read = 0
    while queue and read < MAX_SITEMAPS and len(entries) < MAX_ENTRIES:
        path = queue.pop(0)
        if path in seen:
            continue
        seen.add(path)
        read += 1
        parser = SitemapParser()
        try:
            async for chunk in _stream(origin, path):
                for loc, lastmod in parser.feed(chunk):
                    _take(parser.kind, loc, lastmod, addresses, entries, queue)
            for loc, lastmod in parser.close():
                _take(parser.kind, loc, lastmod, addresses, entries, queue)
        except (SitemapError, httpx.HTTPError) as exc:
            logger.warning("sitemap_unreadable", extra={"path": path, "error": str(exc) or type(exc).__name__})
    if len(entries) >= MAX_ENTRIES:
        logger.warning("sitemap_entries_capped", extra={"limit": MAX_ENTRIES})
    return sorted(entries.values(), key=lambda entry: entry.url)


def _take(
    kind: str | None, loc: str, lastmod: str | None, addresses: SiteAddresses,
    entries: dict[str, SiteEntry], queue: list[str],
) -> None:
    if kind == "sitemapindex":
        path = addresses.origin_path(loc)
        if path is not None:
            queue.append(path)
        return
    if len(entries) >= MAX_ENTRIES:
        return
    entry = addresses.entry(loc, lastmod)
    if entry is not None:
        entries[entry.url] = entry
