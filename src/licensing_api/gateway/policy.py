"""Who the gateway licenses, and who passes straight through (free, untouched).

`GATEWAY_CRAWLERS=known` licenses the known AI crawlers (the crawler list, by User-Agent) and
every request that carries this service's credentials (an API key `lk_…` or a license token
`lt_…`) or a Web Bot Auth signature; everyone else (browsers, the search engines an operator
allows) passes to the origin as if the gateway were not there. `all` licenses every request.
`FREE_PATHS` (RFC 9309 patterns, as `[[price_rules]]` use) always pass, whoever asks.

The same policy answers the gateway and forward-auth (`GET /v1/authorize`).
"""

from __future__ import annotations

import re

from licensing_api.billing.price_rules import pattern_regex
from licensing_api.settings import Settings
from licensing_api.standards.crawlers import CrawlerDirectory

OUR_CREDENTIAL_PREFIXES = (b"lk_", b"lt_")
CREDENTIAL_SCHEMES = (b"bearer", b"license")
MEMO_LIMIT = 8192


def our_credential(name: bytes, value: bytes) -> bool:
    """The header carries this service's key or token (not a site's own `Authorization`)."""
    if name == b"x-api-key":
        return value.strip().startswith(OUR_CREDENTIAL_PREFIXES)
    if name == b"authorization":
        scheme, _, credentials = value.partition(b" ")
        return scheme.lower() in CREDENTIAL_SCHEMES and credentials.strip().startswith(OUR_CREDENTIAL_PREFIXES)
    return False


class GatewayPolicy:
    def __init__(self, crawlers: CrawlerDirectory, license_everyone: bool, free_paths: list[str]) -> None:
        self.crawlers = crawlers
        self.license_everyone = license_everyone
        self._free: tuple[re.Pattern[str], ...] = tuple(pattern_regex(p) for p in free_paths)
        self._free_memo: dict[str, bool] = {}

    @classmethod
    def from_settings(cls, settings: Settings, crawlers: CrawlerDirectory) -> GatewayPolicy:
        return cls(crawlers, settings.gateway_crawlers == "all", settings.free_path_list)

    def is_free(self, path: str) -> bool:
        free = self._free_memo.get(path)
        if free is None:
            free = any(pattern.match(path) for pattern in self._free)
            if len(self._free_memo) >= MEMO_LIMIT:
                self._free_memo.clear()  # random paths must not grow memory without bound
            self._free_memo[path] = free
        return free

    def licenses(self, headers: list[tuple[bytes, bytes]], path: str) -> bool:
        """Whether this request goes through the access decision (raw ASGI headers)."""
        if self._free and self.is_free(path):
            return False
        if self.license_everyone:
            return True
        user_agent = None
        for name, value in headers:
            if name == b"user-agent":
                user_agent = value
            elif name == b"signature-input" or our_credential(name, value):
                return True
        return user_agent is not None and self.crawlers.identify(user_agent.decode("latin-1")) is not None
