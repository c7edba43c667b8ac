"""`licensing-api gateway`: run the gateway (uvicorn, N workers) in front of `ORIGIN_URL`."""

from __future__ import annotations

import typer

from licensing_api.cli_support import fail_on_config_errors
from licensing_api.gateway.app import check_gateway_settings
from licensing_api.serve import run_workers
from licensing_api.settings import load_settings


def gateway(
    host: str | None = typer.Option(None, help="address to bind (default: GATEWAY_HOST setting)"),
    port: int | None = typer.Option(None, help="port to bind (default: GATEWAY_PORT setting)"),
    workers: int | None = typer.Option(
        None, help="worker processes (default: WEB_CONCURRENCY setting)", min=1, max=64
    ),
) -> None:
    """Run the gateway: license crawler requests for the site at ORIGIN_URL (`serve` runs the API)."""
    with fail_on_config_errors():
        settings = load_settings()
        check_gateway_settings(settings)
    workers = workers or settings.web_concurrency
    host = host or settings.gateway_host
    port = port or settings.gateway_port
    typer.echo(f"licensing-api gateway on http://{host}:{port} in front of {settings.origin_url}")
    # The origin's Server and Date pass through, not a second pair of the gateway's own.
    run_workers("licensing_api.gateway.app:create_gateway_from_env", settings, host, port, workers,
                server_header=False, date_header=False)
