"""`GET /metrics`: Prometheus text format, aggregated over every worker process."""

from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.responses import Response
from prometheus_client import CONTENT_TYPE_LATEST, REGISTRY, CollectorRegistry, generate_latest
from prometheus_client.multiprocess import MultiProcessCollector

from licensing_api.dependencies import SettingsDep
from licensing_api.observability.request_metrics import RequestMetricsCollector

router = APIRouter(tags=["operations"])

EXAMPLE = """# HELP licensing_http_requests_total HTTP requests answered
# TYPE licensing_http_requests_total counter
licensing_http_requests_total{route="/v1/content/{path}",status="200"} 1042.0
"""


@router.get(
    "/metrics",
    summary="Prometheus metrics of every worker",
    response_class=Response,
    responses={200: {"description": "Prometheus text exposition format",
                     "content": {CONTENT_TYPE_LATEST: {"schema": {"type": "string"}, "example": EXAMPLE}}}},
)
def metrics(settings: SettingsDep, request: Request) -> Response:
    # Sync route: reading the per-process files runs in the thread pool, off the event loop.
    registry = CollectorRegistry(auto_describe=False)
    if settings.prometheus_multiproc_dir is not None:
        MultiProcessCollector(registry, path=str(settings.prometheus_multiproc_dir))
    else:
        registry.register(REGISTRY)  # a registry is a collector of everything registered in it
    registry.register(RequestMetricsCollector(request.app.state.request_counters))
    return Response(generate_latest(registry), media_type=CONTENT_TYPE_LATEST)
