"""The two paths the gateway answers itself: `/robots.txt` (the origin's, with the `License:`
and `Content-Signal:` lines of these terms in place of any it had) and `/license.xml` (the
service's RSL document, which in gateway mode lists the site's own URLs first).

The origin's robots.txt is read at most every `ROBOTS_FRESH_SECONDS` per worker. RFC 9309
§2.3.1: a 4xx there means no rules (all allowed), which the terms lines then complete (so does
a redirect, which is not followed: it may lead back through this gateway); a 5xx
or an unreachable origin keeps the last copy read, or, with none, answers 503 (crawlers then
assume a complete disallow, as the RFC asks, until it can be read).
"""

from __future__ import annotations

import logging
import time
from collections.abc import Awaitable, Callable
from urllib.parse import urlsplit

import httpx
from starlette.requests import Request
from starlette.types import Scope

from licensing_api.access.dispatch import Answer
from licensing_api.errors import ServiceUnavailable, problem_error_response
from licensing_api.gateway.origin import Origin
from licensing_api.settings import Settings
from licensing_api.standards.robots import with_license_lines
from licensing_api.standards.rsl import RSL_MEDIA_TYPE
from licensing_api.standards.service import CrawlerStandards

logger = logging.getLogger(__name__)

ROBOTS_FRESH_SECONDS = 60.0
MAX_ROBOTS_BYTES = 500 * 1024  # what Google reads of a robots.txt; the rest is ignored
OWN_METHODS = ("GET", "HEAD")


class RobotsUnavailable(ServiceUnavailable):
    slug, title = "robots-unavailable", "The site's robots.txt cannot be read"


class SiteTerms:
    def __init__(
        self, settings: Settings, standards: CrawlerStandards, clock: Callable[[], float] = time.monotonic
    ) -> None:
        self.settings = settings
        self.license_url = settings.site_url + "/license.xml"
        self.site_host = urlsplit(settings.site_url).netloc.encode()
        self.license_xml = standards.license_xml.encode()
        self.clock = clock
        self._robots: bytes | None = None
        self._read_at = float("-inf")

    def answer(self, scope: Scope, origin: Origin) -> Awaitable[Answer] | None:
        """The gateway's own answer to this request, or None (the origin answers it)."""
        if scope["method"] not in OWN_METHODS:
            return None
        path = scope["path"]
        if path == "/robots.txt":
            return self.robots(scope, origin)
        if path == "/license.xml":
            return self._license()
        return None

    async def _license(self) -> Answer:
        return 200, [
            (b"content-type", RSL_MEDIA_TYPE.encode()),
            (b"content-length", str(len(self.license_xml)).encode()),
            (b"cache-control", b"public, max-age=3600"),
        ], self.license_xml

    async def robots(self, scope: Scope, origin: Origin) -> Answer:
        if self.clock() - self._read_at >= ROBOTS_FRESH_SECONDS:
            await self._read_robots(scope, origin)
        if self._robots is None:
            response = problem_error_response(Request(scope), RobotsUnavailable(
                "the site's robots.txt cannot be read right now; retry later", headers={"Retry-After": "60"}))
            return response.status_code, list(response.raw_headers), bytes(response.body)
        return 200, [
            (b"content-type", b"text/plain; charset=utf-8"),
            (b"content-length", str(len(self._robots)).encode()),
            (b"cache-control", b"public, max-age=300"),
        ], self._robots

    async def _read_robots(self, scope: Scope, origin: Origin) -> None:
        headers = {"user-agent": "licensing-api-gateway"}
        if origin.preserve_host:
            host = next((v for n, v in scope["headers"] if n == b"host"), self.site_host)
            headers["host"] = host.decode("latin-1")
        try:
            response = await origin.client.get(origin.base + "/robots.txt", headers=headers)
        except httpx.HTTPError as exc:
            logger.warning("origin_robots_unreachable", extra={"error": type(exc).__name__})
            return  # the last copy stays; the next request tries again
        if response.status_code >= 500:
            logger.warning("origin_robots_unavailable", extra={"status": response.status_code})
            return
        if response.is_success:
            rules = response.content[:MAX_ROBOTS_BYTES].decode("utf-8", "replace")
        else:  # 4xx: no rules; a redirect is not followed (it may lead back through this gateway)
            logger.info("origin_robots_absent", extra={"status": response.status_code})
            rules = ""
        self._robots = with_license_lines(rules, self.license_url, self.settings).encode()
        self._read_at = self.clock()
