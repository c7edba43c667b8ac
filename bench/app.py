"""The benchmark's app: the real service plus a bare route serving the same content.

The bare route returns exactly the bytes `/v1/content/{path}` returns, without
authentication or metering, in the same process and behind the same middleware. This module
lives in bench/, outside the package: the bare route never exists in a production app.

FastAPI tries routes in order, and each failed check costs about 2 µs: a bare route placed
before the licensed item route makes every licensed request pay one extra check, one placed
after it pays one extra itself. So the bare content is served from both places,
`BARE_BEFORE` (in the content router, before the item route) and `BARE_AFTER` (its own router,
right after the content router), and bench/run.py alternates between them: on average the
bare route costs the route matching the licensed route costs.
"""

from __future__ import annotations

from fastapi import APIRouter, FastAPI, Request
from starlette.responses import Response

from licensing_api.content.router import router as content_router
from licensing_api.main import create_app_from_env

BARE_BEFORE = "/v1/content/bench-bare/"
BARE_AFTER = "/bench/bare/"


async def bare_content(path: str, request: Request) -> Response:
    return Response(request.state.hot_path.content.item_json(path), media_type="application/json")


def create_bench_app() -> FastAPI:
    content_router.add_api_route("/bench-bare/{path:path}", bare_content, include_in_schema=False)
    content_router.routes.insert(1, content_router.routes.pop())  # after the index route
    app = create_app_from_env()
    after = APIRouter(prefix=BARE_AFTER.rstrip("/"))
    after.add_api_route("/{path:path}", bare_content, include_in_schema=False)
    app.include_router(after)
    routes = app.router.routes
    bare_router = routes.pop()
    content_at = next(
        i for i, r in enumerate(routes) if getattr(r, "original_router", None) is content_router
    )
    routes.insert(content_at + 1, bare_router)
    return app
