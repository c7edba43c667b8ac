"""Known AI crawlers, recognised by User-Agent and counted for the publisher.

The list is a bundled data file (`data/ai_crawlers.txt`, its source noted at its top). Every
request from a known crawler is counted in `licensing_crawler_requests_total{crawler,outcome}`,
refused ones included, by a thin ASGI middleware. Recognition is one compiled alternation run
once per distinct User-Agent string; results are memoised, so a steady stream of the same
crawler costs a dictionary lookup.
"""

from __future__ import annotations

import re
from pathlib import Path

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from licensing_api import metrics

BUNDLED_CRAWLER_LIST = Path(__file__).resolve().parent / "data" / "ai_crawlers.txt"
MEMO_LIMIT = 4096  # distinct User-Agent strings remembered per worker

OUTCOME_BY_STATUS = {
    401: "unauthenticated",
    402: "payment_required",
    403: "forbidden",
    404: "not_found",
    429: "rate_limited",
}


def outcome_for_status(status: int) -> str:
    if 200 <= status < 400:
        return "served"
    return OUTCOME_BY_STATUS.get(status, "client_error" if status < 500 else "server_error")


def load_crawler_names(path: Path = BUNDLED_CRAWLER_LIST) -> list[str]:
    names: list[str] = []
    seen: set[str] = set()
    for line in path.read_text(encoding="utf-8").splitlines():
        name = line.split("#", 1)[0].strip()
        if name and name.lower() not in seen:
            seen.add(name.lower())
            names.append(name)
    return names


class CrawlerDirectory:
    """Maps a User-Agent header to the canonical name of a known AI crawler, or None."""

    def __init__(self, names: list[str]) -> None:
        self._canonical = {name.lower(): name for name in names}
        # Longest first, so "Applebot-Extended" wins over "Applebot"; a token must stand as
        # a whole word ("GPTBot/1.2" matches, "NotGPTBotish" does not).
        alternation = "|".join(re.escape(n) for n in sorted(names, key=len, reverse=True))
        self._pattern = re.compile(
            rf"(?<![A-Za-z0-9_-])({alternation})(?![A-Za-z0-9_-])", re.IGNORECASE
        )
        self._memo: dict[str, str | None] = {}

    @classmethod
    def bundled(cls) -> CrawlerDirectory:
        return cls(load_crawler_names())

    def identify(self, user_agent: str) -> str | None:
        try:
            return self._memo[user_agent]
        except KeyError:
            pass
        match = self._pattern.search(user_agent)
        name = self._canonical[match.group(1).lower()] if match else None
        if len(self._memo) >= MEMO_LIMIT:
            self._memo.clear()  # a flood of random agents must not grow memory without bound
        self._memo[user_agent] = name
        return name

    def __len__(self) -> int:
        return len(self._canonical)


class CrawlerMetricsMiddleware:
    """Counts every response to a known crawler by crawler and outcome (refusals included)."""

    def __init__(self, app: ASGIApp, directory: CrawlerDirectory) -> None:
        self.app = app
        self.directory = directory

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        crawler = None
        for name, value in scope["headers"]:
            if name == b"user-agent":
                crawler = self.directory.identify(value.decode("latin-1"))
                break
        if crawler is None:
            await self.app(scope, receive, send)
            return

        status = 500

        async def send_counting(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
            await send(message)

        try:
            await self.app(scope, receive, send_counting)
        finally:
            metrics.CRAWLER_REQUESTS.labels(crawler, outcome_for_status(status)).inc()
