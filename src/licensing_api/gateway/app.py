"""`licensing-api gateway`: the ASGI app in front of the publisher's site (`ORIGIN_URL`).

Its own process and port, sharing with `serve` what the access decision and the counting
need: the database, Redis (access cache invalidations, the tally's moves, seen nonces) and
the usage flusher (one at a time across every process, by its lock). Per worker: the hot
path (access/runtime.py: cache, guard, tally), the origin's connection pool, the access log.
"""

from __future__ import annotations

import dataclasses
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

from starlette.datastructures import State
from starlette.routing import Router
from starlette.types import Receive, Scope, Send

from licensing_api.access.runtime import open_hot_path
from licensing_api.billing.plans import load_catalogue
from licensing_api.bots.runtime import open_bots
from licensing_api.gateway.origin import open_origin
from licensing_api.gateway.policy import GatewayPolicy
from licensing_api.gateway.proxy import GatewayEdge
from licensing_api.gateway.site_index import SiteContent
from licensing_api.gateway.terms import SiteTerms
from licensing_api.observability.access_log import AccessLog, writing_access_log
from licensing_api.resources import open_resources
from licensing_api.security.failed_lookups import install_failed_key_lookup_limiter
from licensing_api.security.middleware import SecurityHeaders
from licensing_api.settings import Settings, SettingsError, load_settings
from licensing_api.standards.service import build_standards
from licensing_api.usage.flusher_task import run_usage_flusher


def check_gateway_settings(settings: Settings) -> None:
    if settings.origin_url is None:
        raise SettingsError("invalid setting ORIGIN_URL: set the address of the site to proxy, e.g. http://127.0.0.1:8081")
    if settings.redis_url == "memory://":
        raise SettingsError("invalid setting REDIS_URL: the gateway shares Redis with serve; use redis://…")


class GatewayApp:
    def __init__(self, settings: Settings) -> None:
        check_gateway_settings(settings)
        self.settings = settings
        catalogue = load_catalogue(settings.plans_file)
        standards = build_standards(settings, catalogue)
        site_license = f'<{settings.site_url}/license.xml>; rel="license"; type="application/rsl+xml"'
        # The site's responses point at the license.xml the gateway serves on the site itself.
        self.standards = dataclasses.replace(standards, link_header=(b"link", site_license.encode("latin-1")))
        self.state = State()
        self.state.crawler_standards = self.standards  # read by open_hot_path, as on the app
        install_failed_key_lookup_limiter(
            self, settings.failed_key_lookup_limit, settings.failed_key_lookup_window_seconds
        )
        self.access_log = AccessLog()
        self.edge = GatewayEdge(
            policy=GatewayPolicy.from_settings(settings, standards.crawlers),
            terms=SiteTerms(settings, self.standards),
            access_log=self.access_log if settings.access_log else None,
            security=SecurityHeaders(),
        )
        self.router = Router(lifespan=self._lifespan)

    @asynccontextmanager
    async def _lifespan(self, _: Any) -> AsyncIterator[dict[str, Any]]:
        settings = self.settings
        async with writing_access_log(self.access_log), open_resources(settings, load_catalogue(settings.plans_file)) as resources:
            async with run_usage_flusher(resources), open_bots(resources) as bots, open_origin(settings) as origin:
                # No content routes here: the content is the site (serve lists it, site_index.py).
                content = SiteContent(settings.site_url)
                async with open_hot_path(self, resources, bots, content) as hot_path:  # type: ignore[arg-type]
                    yield {"resources": resources, "hot_path": hot_path, "origin": origin, "bots": bots}

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        kind = scope["type"]
        if kind == "http":
            await self.edge(scope, receive, send)
        elif kind == "lifespan":
            scope["app"] = self
            await self.router.lifespan(scope, receive, send)
        else:  # WebSocket is not proxied: the handshake is refused
            await receive()
            await send({"type": "websocket.close", "code": 1008})


def create_gateway_app(settings: Settings | None = None) -> GatewayApp:
    return GatewayApp(settings or load_settings())


def create_gateway_from_env() -> GatewayApp:
    """Entry point for `uvicorn --factory` (each worker process builds its own app)."""
    from licensing_api.logging import configure_logging, secret_values

    settings = load_settings()
    configure_logging(settings.log_level, known_secrets=secret_values(settings))
    return create_gateway_app(settings)
