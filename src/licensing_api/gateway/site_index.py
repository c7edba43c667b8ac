"""`GET /v1/content` in gateway mode: the site's URLs (sitemap.py), in memory, by URL.

The request path reads the list only; a task per worker replaces it every
`SITEMAP_REFRESH_SECONDS` (`refreshing_site_index`). Pages are cursor-paginated like the
folder's index: the cursor holds the last URL of a page, so a refresh between two pages
neither repeats nor skips a URL that stayed. `updated_since` keeps the URLs updated at or
after it, and those whose sitemap gives no `<lastmod>` (they may have changed).
Items live on the site: `GET /v1/content/{path}` is 404, naming where to fetch them.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from bisect import bisect_right
from collections.abc import AsyncIterator
from datetime import datetime

from licensing_api.content.schemas import SiteEntryOut, SiteIndex
from licensing_api.content.service import decode_cursor, encode_cursor
from licensing_api.content.store import ContentNotFound
from licensing_api.gateway.origin import Origin, open_origin
from licensing_api.gateway.sitemap import SiteAddresses, SiteEntry, read_site
from licensing_api.settings import Settings

logger = logging.getLogger(__name__)

FIRST_READ_WAIT_SECONDS = 5.0
MAX_CURSOR_URL = 4096


def valid_url_key(url: str) -> str:
    if not url.startswith(("http://", "https://")) or len(url) > MAX_CURSOR_URL:
        raise ValueError("not a URL cursor")
    return url


class SiteContent:
    def __init__(self, site_url: str) -> None:
        self.site_url = site_url
        self._entries: list[SiteEntry] = []
        self._urls: list[str] = []

    def replace(self, entries: list[SiteEntry]) -> None:
        """A new list, sorted by URL (one assignment each: readers see the old or the new)."""
        self._entries, self._urls = entries, [entry.url for entry in entries]

    def __len__(self) -> int:
        return len(self._entries)

    def index_page(self, cursor: str | None, limit: int, updated_since: datetime | None) -> SiteIndex:
        entries, urls = self._entries, self._urls
        start = bisect_right(urls, decode_cursor(cursor, valid_url_key)) if cursor else 0
        page: list[SiteEntry] = []
        more = False
        for entry in entries[start:]:
            if updated_since is not None and entry.updated is not None and entry.updated < updated_since:
                continue
            if len(page) == limit:
                more = True
                break
            page.append(entry)
        return SiteIndex(
            items=[SiteEntryOut(url=e.url, path=e.path, updated=e.updated) for e in page],
            next_cursor=encode_cursor(page[-1].url) if more and page else None,
        )

    def item_json(self, raw_path: str) -> bytes:
        raise ContentNotFound(
            f"in gateway mode the content is the site itself: fetch {self.site_url}/{raw_path} "
            "with your key; GET /v1/content lists its URLs"
        )


async def refresh(content: SiteContent, origin: Origin, addresses: SiteAddresses) -> None:
    entries = await read_site(origin, addresses)
    if entries or not len(content):
        content.replace(entries)
    else:  # an origin that lists nothing now, having listed URLs before, is more likely broken
        logger.warning("sitemap_empty_kept_previous", extra={"kept": len(content)})
    logger.info("site_index_read", extra={"urls": len(content)})


@contextlib.asynccontextmanager
async def refreshing_site_index(
    content: SiteContent, origin: Origin, addresses: SiteAddresses, every_seconds: float
) -> AsyncIterator[SiteContent]:
    """Read the sitemaps now (serving starts after at most `FIRST_READ_WAIT_SECONDS`), then
    every `every_seconds` while the worker lives."""
    stop = asyncio.Event()
    first = asyncio.Event()

    async def run() -> None:
        while not stop.is_set():
            try:
                await refresh(content, origin, addresses)
            except Exception:  # the task must live on; the previous list keeps being served
                logger.exception("site_index_refresh_failed")
            first.set()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), every_seconds)

    task = asyncio.create_task(run(), name="site-index-refresh")
    try:
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(first.wait(), FIRST_READ_WAIT_SECONDS)
        yield content
    finally:
        stop.set()
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task


@contextlib.asynccontextmanager
async def site_content(settings: Settings) -> AsyncIterator[SiteContent]:
    """Gateway mode's content for `serve`: the site's sitemaps, read from `ORIGIN_URL`."""
    assert settings.origin_url is not None
    content = SiteContent(settings.site_url)
    addresses = SiteAddresses(settings.site_url, settings.origin_url)
    async with open_origin(settings) as origin:
        async with refreshing_site_index(content, origin, addresses, settings.sitemap_refresh_seconds):
            yield content
