"""`GET /metrics`: Prometheus text format, aggregated over every worker process."""

from __future__ import annotations

from fastapi import APIRouter
from fastapi.responses import Response
from prometheus_client import CONTENT_TYPE_LATEST, REGISTRY, CollectorRegistry, generate_latest
from prometheus_client.multiprocess import MultiProcessCollector

from licensing_api.dependencies import SettingsDep

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
def metrics(settings: SettingsDep) -> Response:
    # Sync route: reading the per-process files runs in the thread pool, off the event loop.
    if settings.prometheus_multiproc_dir is not None:
        registry = CollectorRegistry()
        MultiProcessCollector(registry, path=str(settings.prometheus_multiproc_dir))
    else:
        registry = REGISTRY
    return Response(generate_latest(registry), media_type=CONTENT_TYPE_LATEST)
