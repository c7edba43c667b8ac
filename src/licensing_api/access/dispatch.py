"""The licensed routes, answered as plain ASGI by the request edge (observability/middleware.py).

A `LicensedRoute` is what differs between licensed routes: its path template (FastAPI
declares the same route, which documents it in the OpenAPI), how its parameters are read
(`parse`, checked before any access decision, as FastAPI validates parameters first) and
its serve step (`serve`: the JSON body, or a 4xx problem before anything is counted). The
rest is the same for every licensed route:

    parse → the access decision (access/guard.py: identify → license → price → enforce)
          → serve → meter (2xx only) → the answer

`answer_now` is the steady state, a plain function (no coroutine, no I/O); it returns None
when the request needs `answer`, which can read the database (a cache miss) or refuse with
the 402 offer. Refusals are rendered exactly as the app's exception handlers render them
(errors.py), so a licensed route answers the same whether this layer or FastAPI ran it.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Protocol

from fastapi.exceptions import RequestValidationError
from starlette.requests import Request
from starlette.responses import PlainTextResponse, Response
from starlette.types import Scope

from licensing_api.access.responses import RespondWith
from licensing_api.errors import ProblemError, problem_error_response, validation_error_response

if TYPE_CHECKING:
    from licensing_api.access.runtime import HotPath

# (status, raw headers with content type and length, body): one answer, sent in two messages.
Answer = tuple[int, list[tuple[bytes, bytes]], bytes]

JSON_CONTENT_TYPE = (b"content-type", b"application/json")
REFUSALS = (ProblemError, RespondWith, RequestValidationError)


class LicensedRoute(Protocol):
    template: str  # as FastAPI declares the route ("/v1/content/{path:path}"): the metrics label

    def parse(self, scope: Scope) -> Any:
        """The route's parameters; raises a 4xx (RequestValidationError, ProblemError)."""

    def serve(self, hot_path: HotPath, params: Any) -> bytes:
        """The JSON body of the answer; raises a 4xx ProblemError (nothing is counted)."""


class LicensedRoutes:
    """Which paths are licensed routes: exact paths, and paths below a prefix."""

    def __init__(self, exact: dict[str, LicensedRoute], below: dict[str, LicensedRoute]) -> None:
        self.exact = exact
        self.below = tuple(below.items())  # prefix (ending in "/") → route

    def match(self, path: str) -> LicensedRoute | None:
        route = self.exact.get(path)
        if route is not None:
            return route
        for prefix, route in self.below:
            if path.startswith(prefix):
                return route
        return None


def answer_now(route: LicensedRoute, scope: Scope, hot_path: HotPath) -> Answer | None:
    """The answer for a cached good key, without awaiting anything; None otherwise."""
    try:
        params = route.parse(scope)
        grant = hot_path.guard.admit(scope["headers"], scope["path"])
        if grant is None:
            return None
        body = route.serve(hot_path, params)
        return 200, [JSON_CONTENT_TYPE, (b"content-length", str(len(body)).encode()),
                     *hot_path.guard.meter(grant, scope["path"])], body
    except REFUSALS as refusal:
        return refused(refusal, scope, hot_path.guard.metering.link_header)


async def answer(route: LicensedRoute, scope: Scope, hot_path: HotPath) -> Answer:
    """The answer for any request to the route."""
    try:
        params = route.parse(scope)
        guard = hot_path.guard
        grant = guard.admit(scope["headers"], scope["path"]) or await guard.authorize(Request(scope))
        body = route.serve(hot_path, params)
        return 200, [JSON_CONTENT_TYPE, (b"content-length", str(len(body)).encode()),
                     *guard.meter(grant, scope["path"])], body
    except REFUSALS as refusal:
        return refused(refusal, scope, hot_path.guard.metering.link_header)


def refused(refusal: Exception, scope: Scope, link: tuple[bytes, bytes] | None = None) -> Answer:
    """A refusal as the app's exception handlers render it (errors.py). A 401 or 402 also
    names the governing license (`link`): the RSL crawler guide asks it of both."""
    if isinstance(refusal, RespondWith):
        reply = of_response(refusal.response)
    else:
        request = Request(scope)
        if isinstance(refusal, RequestValidationError):
            reply = of_response(validation_error_response(request, refusal))
        else:
            assert isinstance(refusal, ProblemError)
            reply = of_response(problem_error_response(request, refusal))
    if link is not None and reply[0] in (401, 402) and all(name != b"link" for name, _ in reply[1]):
        reply[1].append(link)
    return reply


def server_error() -> Answer:
    """What Starlette's ServerErrorMiddleware answers to an unhandled exception."""
    return of_response(PlainTextResponse("Internal Server Error", status_code=500))


def of_response(response: Response) -> Answer:
    return response.status_code, list(response.raw_headers), bytes(response.body)


class AnswerResponse(Response):
    """An `Answer` as a Starlette response, for the FastAPI route declaring the same path
    (reached only when the edge hands a licensed request to FastAPI: CORS)."""

    def __init__(self, reply: Answer) -> None:
        self.status_code, headers, self.body = reply
        self.raw_headers = headers
        self.background = None


async def answer_response(route: LicensedRoute, request: Request) -> Response:
    return AnswerResponse(await answer(route, request.scope, request.state.hot_path))
