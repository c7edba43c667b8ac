"""The benchmark's app: the real service plus a bare route serving the same content.

`/v1/content/bench-bare/{path}` returns exactly the bytes `/v1/content/{path}` returns,
without authentication or metering, in the same process, behind the same middleware and in
the same router (so route matching costs the same). This module lives in bench/, outside
the package: the bare route never exists in a production app.
"""

from __future__ import annotations

from fastapi import FastAPI, Request
from starlette.responses import Response

from licensing_api.content.router import router as content_router
from licensing_api.main import create_app_from_env

BARE_SEGMENT = "/bench-bare"


async def bare_content(path: str, request: Request) -> Response:
    return Response(request.state.hot_path.content.item_json(path), media_type="application/json")


def create_bench_app() -> FastAPI:
    content_router.add_api_route(BARE_SEGMENT + "/{path:path}", bare_content, include_in_schema=False)
    # After the index route and before the item route (which would take "bench-bare/…" as a
    # path): matching it costs exactly what matching the licensed item route costs.
    content_router.routes.insert(1, content_router.routes.pop())
    return create_app_from_env()
