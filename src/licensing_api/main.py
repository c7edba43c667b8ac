"""The application factory. Nothing runs at import time."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import AsyncExitStack, asynccontextmanager
from typing import Any

from fastapi import FastAPI
from starlette.types import ASGIApp

from licensing_api.access.runtime import install_access, open_hot_path
from licensing_api.accounts.grace import grace_check_task
from licensing_api.admin.router import router as admin_router
from licensing_api.api_docs import install_offline_docs
from licensing_api.billing.plan_router import router as plan_router
from licensing_api.billing.plans import load_catalogue
from licensing_api.bots.router import router as bots_router
from licensing_api.bots.runtime import open_bots
from licensing_api.budgets.notices import budget_check_task
from licensing_api.budgets.router import router as budget_router
from licensing_api.console.router import install_console
from licensing_api.content.router import CONTENT_ROUTES
from licensing_api.content.router import router as content_router
from licensing_api.dashboard.router import install_dashboard
from licensing_api.errors import document_problem_errors, install_error_handlers
from licensing_api.gateway.forward_auth import AUTHORIZE_PATH, install_forward_auth
from licensing_api.gateway.reports import EdgeReports, receiving_edge_reports
from licensing_api.gateway.router import router as gateway_router
from licensing_api.gateway.site_index import site_content
from licensing_api.health.router import router as health_router
from licensing_api.keys.router import router as keys_router
from licensing_api.observability.access_log import AccessLog, writing_access_log
from licensing_api.observability.middleware import RequestEdge
from licensing_api.observability.request_metrics import RequestCounters
from licensing_api.observability.router import router as metrics_router
from licensing_api.resources import open_resources
from licensing_api.security.failed_lookups import install_failed_key_lookup_limiter
from licensing_api.security.middleware import SecurityHeaders, html_csp, install_security
from licensing_api.settings import Settings, load_settings
from licensing_api.signup.limits import install_signup_limiter
from licensing_api.signup.router import router as signup_router
from licensing_api.standards.service import install_standards
from licensing_api.usage.flusher_task import run_usage_flusher
from licensing_api.usage.router import router as usage_router
from licensing_api.webhooks.router import router as webhooks_router

API_DESCRIPTION = """
License this site's content to AI crawlers. Every served request is metered and billed
through Stripe usage-based billing.

**Crawlers** authenticate with an API key, as `Authorization: Bearer lk_…` or
`X-API-Key: lk_…`. Errors are `application/problem+json` (RFC 9457).
"""


class LicensingApi(FastAPI):
    """FastAPI behind the request edge (observability/middleware.py): the one pure-ASGI layer
    every request passes first, which answers the licensed routes itself."""

    edge: RequestEdge

    def build_middleware_stack(self) -> ASGIApp:
        self.edge.app = super().build_middleware_stack()
        return self.edge


def create_app(settings: Settings | None = None) -> FastAPI:
    settings = settings or load_settings()
    catalogue = load_catalogue(settings.plans_file)
    access_log = AccessLog()

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[dict[str, Any]]:
        async with writing_access_log(access_log), open_resources(
            settings, catalogue, keep_embedded_redis=True
        ) as resources:
            async with grace_check_task(resources), budget_check_task(resources), run_usage_flusher(resources), \
                    AsyncExitStack() as stack:
                bots = await stack.enter_async_context(open_bots(resources))
                content = await stack.enter_async_context(site_content(settings)) if settings.origin_url else None
                hot_path = await stack.enter_async_context(open_hot_path(app, resources, bots, content))
                reports = None
                if settings.forward_auth_report_address:  # closed first: its last counts reach the tally
                    reports = await stack.enter_async_context(receiving_edge_reports(
                        settings.forward_auth_report_address,
                        EdgeReports(app.state.forward_auth.grants, bots.nonces, hot_path.guard.metering),
                    ))
                yield {"resources": resources, "hot_path": hot_path, "bots": bots, "edge_reports": reports}

    app = LicensingApi(
        title="licensing-api",
        version="0.1.0",
        description=API_DESCRIPTION,
        lifespan=lifespan,
        docs_url=None,  # served by install_offline_docs, without a CDN
    )
    install_error_handlers(app)
    document_problem_errors(app)
    install_security(app, settings)
    install_failed_key_lookup_limiter(
        app, settings.failed_key_lookup_limit, settings.failed_key_lookup_window_seconds
    )
    install_signup_limiter(app, settings.signup_limit, settings.signup_window_seconds)
    install_access(app)  # early responses of the access checks, OpenAPI security schemes
    # Routes are matched in order and every miss costs; the crawlers' hot path goes first.
    app.include_router(content_router)
    app.include_router(health_router)
    app.include_router(metrics_router)
    app.include_router(signup_router)
    app.include_router(webhooks_router)
    app.include_router(usage_router)
    app.include_router(keys_router)
    app.include_router(bots_router)
    app.include_router(plan_router)
    app.include_router(budget_router)
    app.include_router(admin_router)
    install_dashboard(app, settings)
    install_console(app, settings)
    install_standards(app, settings, catalogue)  # 402 offers, license.xml, robots.txt, crawler list
    install_offline_docs(app)
    forward_auth = install_forward_auth(app, settings)  # GET /v1/authorize, answered by the edge
    app.include_router(gateway_router)
    app.state.access_log = access_log
    app.state.request_counters = RequestCounters(settings.prometheus_multiproc_dir)
    app.edge = RequestEdge(
        app,  # replaced by FastAPI's middleware stack when it is built
        licensed=CONTENT_ROUTES,
        counters=app.state.request_counters,
        access_log=access_log if settings.access_log else None,
        crawlers=app.state.crawler_standards.crawlers,
        security=SecurityHeaders(html_csp(settings)),
        cors=bool(settings.cors_origin_list),
        answered={AUTHORIZE_PATH: forward_auth.answer},
    )
    return app


def create_app_from_env() -> FastAPI:
    """Entry point for `uvicorn --factory` (each worker process builds its own app)."""
    from licensing_api.logging import configure_logging, secret_values

    settings = load_settings()
    configure_logging(settings.log_level, known_secrets=secret_values(settings))
    return create_app(settings)
