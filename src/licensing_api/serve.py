"""`licensing-api serve`: migrate (optional) then run uvicorn with N workers."""

from __future__ import annotations

import os
from typing import Any

import typer
import uvicorn

from licensing_api.cli_support import cli_command, fail_on_config_errors
from licensing_api.db_cli import upgrade_database
from licensing_api.http_protocol import PROTOCOL as SERVICE_HTTP_PROTOCOL
from licensing_api.observability.multiprocess import prepare_metrics_dir
from licensing_api.settings import Settings, link_host, load_settings

GRACEFUL_SHUTDOWN_SECONDS = 20  # keep below the orchestrator's kill timeout (k8s: 30 s)
# uvicorn's supervisor kills a worker that does not answer its ping within this, a starting one
# included: at its 5 s default, on a CPU-starved host (a throttled pod, an overloaded machine)
# workers still importing were killed and respawned in a loop and the host never came up.
WORKER_HEALTHCHECK_SECONDS = 30


def serve(
    host: str | None = typer.Option(None, help="address to bind (default: HOST setting)"),
    port: int | None = typer.Option(None, help="port to bind (default: PORT setting)"),
    workers: int | None = typer.Option(
        None, help="worker processes (default: WEB_CONCURRENCY setting)", min=1, max=64
    ),
    migrate: bool = typer.Option(True, help="apply database migrations before starting"),
) -> None:
    """Run the HTTP service."""
    with fail_on_config_errors():
        # Each worker builds its settings from the environment: pass it what we bind, so
        # links (PUBLIC_BASE_URL's default) follow `--host`/`--port`.
        if host is not None:
            os.environ["HOST"] = host
        if port is not None:
            os.environ["PORT"] = str(port)
        settings = load_settings()
        if migrate:
            upgrade_database(settings.database_url)
    workers = workers or settings.web_concurrency
    if workers > 1 and settings.redis_url == "memory://":
        typer.echo(
            "error: REDIS_URL=memory:// is per process; use redis://… with --workers > 1",
            err=True,
        )
        raise typer.Exit(2)
    host, port = settings.host, settings.port
    typer.echo(f"licensing-api on http://{link_host(host)}:{port}, docs at {settings.public_base_url}/docs; "
               f"create a customer and key: {cli_command()} customers create "
               "--email you@example.com --plan standard")
    clean_up_metrics = prepare_metrics_dir(settings.prometheus_multiproc_dir, workers)
    try:
        # On SIGTERM each worker stops accepting, lets in-flight requests finish (up to the
        # graceful timeout), then runs the lifespan's shutdown: tallies flushed, locks released.
        run_workers("licensing_api.main:create_app_from_env", settings, host, port, workers)
    finally:
        clean_up_metrics()


def run_workers(factory: str, settings: Settings, host: str, port: int, workers: int, **options: Any) -> None:
    """uvicorn with the service's options (`serve`, `gateway`): one app per worker process."""
    uvicorn.run(
        factory,
        factory=True,
        host=host,
        port=port,
        workers=workers,
        log_level=settings.log_level,
        access_log=False,
        timeout_graceful_shutdown=GRACEFUL_SHUTDOWN_SECONDS,
        timeout_worker_healthcheck=WORKER_HEALTHCHECK_SECONDS,
        http=SERVICE_HTTP_PROTOCOL,  # header size and count limits, one write per response (http_protocol.py)
        **options,
    )
