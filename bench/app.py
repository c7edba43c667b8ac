"""The first wave's twin server (an extra line of bench/instructions.py: `--apps ...,twin`).

`create_bare_app` builds the app `licensing-api serve` runs, except that `/v1/content/{path}`
is served without authentication or metering by a plain FastAPI route in the licensed
route's place, through the service's whole stack (the request edge with its request id,
security headers, metrics and access log, then FastAPI's middleware, router and
dependency machinery), because the edge no longer answers that route itself. It is what the
first wave compared the licensed route with; since the licensed routes are answered before
FastAPI's router, the licensed route is cheaper than this twin. This module lives in bench/,
outside the package: the bare route never exists in a production app.
"""

from __future__ import annotations

from fastapi import FastAPI, Request
from fastapi.routing import APIRoute
from starlette.responses import Response

from licensing_api.access.dispatch import LicensedRoutes
from licensing_api.content.router import INDEX, get_content
from licensing_api.content.router import router as content_router
from licensing_api.main import LicensingApi, create_app_from_env


async def bare_content(path: str, request: Request) -> Response:
    return Response(request.state.hot_path.content.item_json(path), media_type="application/json")


def create_bare_app() -> FastAPI:
    """For `uvicorn --factory`: the service, its item route swapped for `bare_content`."""
    routes = content_router.routes
    position = next(
        i for i, route in enumerate(routes) if isinstance(route, APIRoute) and route.endpoint is get_content
    )
    licensed = routes[position]
    assert isinstance(licensed, APIRoute)
    content_router.add_api_route(
        licensed.path.removeprefix(content_router.prefix),
        bare_content,
        methods=list(licensed.methods),
        response_model=licensed.response_model,
        include_in_schema=False,
    )
    routes[position] = routes.pop()
    app = create_app_from_env()
    assert isinstance(app, LicensingApi)
    app.edge.licensed = LicensedRoutes(exact={INDEX.template: INDEX}, below={})  # items: FastAPI
    return app
