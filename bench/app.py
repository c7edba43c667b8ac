"""The benchmark's bare server: the real service with its content item route unprotected.

`create_bare_app` builds exactly the app `licensing-api serve` runs, except that
`/v1/content/{path}` serves the item without authentication or metering: same middleware,
same route table, the same route in the same place, returning the same bytes. bench/run.py
runs it as a second server beside the real one, so the two differ only by the access check,
the tally and the usage headers. (FastAPI tries routes in order and every failed check costs
a few microseconds; a bare route added anywhere else would be cheaper or dearer to reach
than the licensed one, and the comparison would measure that.) This module lives in bench/,
outside the package: the bare route never exists in a production app.
"""

from __future__ import annotations

from fastapi import FastAPI, Request
from fastapi.routing import APIRoute
from starlette.responses import Response

from licensing_api.content.router import get_content
from licensing_api.content.router import router as content_router
from licensing_api.main import create_app_from_env


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
    return create_app_from_env()
