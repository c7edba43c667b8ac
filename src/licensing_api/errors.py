"""Problem details (RFC 9457): one exception base carrying its status, one handler.

Domain code raises `ProblemError` subclasses; routers document them with `problem_responses`.
"""

from __future__ import annotations

from typing import Any, ClassVar

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from pydantic import BaseModel, Field
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.routing import Match

PROBLEM_MEDIA_TYPE = "application/problem+json"
PROBED_METHODS = ("GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS")
PROBLEM_TYPE_BASE = "https://licensing-api.dev/problems/"


class Problem(BaseModel):
    """An `application/problem+json` body."""

    type: str = Field(description="URI identifying the problem type")
    title: str = Field(description="short, human-readable summary of the problem type")
    status: int = Field(description="HTTP status code")
    detail: str = Field(description="explanation specific to this occurrence")
    instance: str | None = Field(None, description="the request path")

    model_config = {"extra": "allow"}


class ProblemError(Exception):
    status: ClassVar[int] = 500
    slug: ClassVar[str] = "internal-error"
    title: ClassVar[str] = "Internal error"

    def __init__(
        self,
        detail: str,
        *,
        headers: dict[str, str] | None = None,
        **extensions: Any,
    ) -> None:
        super().__init__(detail)
        self.detail = detail
        self.headers = headers or {}
        self.extensions = extensions

    def to_problem(self, instance: str | None = None) -> dict[str, Any]:
        body: dict[str, Any] = {
            "type": PROBLEM_TYPE_BASE + self.slug,
            "title": self.title,
            "status": self.status,
            "detail": self.detail,
        }
        if instance is not None:
            body["instance"] = instance
        body.update(self.extensions)
        return body


class BadRequest(ProblemError):
    status, slug, title = 400, "bad-request", "Bad request"


class NotFound(ProblemError):
    status, slug, title = 404, "not-found", "Not found"


class Conflict(ProblemError):
    status, slug, title = 409, "conflict", "Conflict"


class ServiceUnavailable(ProblemError):
    status, slug, title = 503, "unavailable", "Service unavailable"


def problem_response(
    status: int, slug: str, title: str, detail: str, request: Request | None = None,
    headers: dict[str, str] | None = None, **extensions: Any,
) -> JSONResponse:
    body: dict[str, Any] = {
        "type": PROBLEM_TYPE_BASE + slug,
        "title": title,
        "status": status,
        "detail": detail,
    }
    if request is not None:
        body["instance"] = request.url.path
    body.update(extensions)
    return JSONResponse(body, status_code=status, media_type=PROBLEM_MEDIA_TYPE, headers=headers)


def problem_responses(*errors: type[ProblemError], **examples: Any) -> dict[int | str, dict[str, Any]]:
    """OpenAPI `responses=` entries for the given errors, each with an example body."""
    responses: dict[int | str, dict[str, Any]] = {}
    for error in errors:
        example = {
            "type": PROBLEM_TYPE_BASE + error.slug,
            "title": error.title,
            "status": error.status,
            "detail": examples.get(error.__name__, error.title),
        }
        entry = responses.setdefault(
            error.status,
            {"description": error.title, "content": {PROBLEM_MEDIA_TYPE: {"schema": Problem.model_json_schema(), "examples": {}}}},
        )
        entry["content"][PROBLEM_MEDIA_TYPE]["examples"][error.slug] = {"summary": error.title, "value": example}
    return responses


def problem_error_response(request: Request, exc: ProblemError) -> JSONResponse:
    return JSONResponse(
        exc.to_problem(request.url.path),
        status_code=exc.status,
        media_type=PROBLEM_MEDIA_TYPE,
        headers=exc.headers,
    )


def validation_error_response(request: Request, exc: RequestValidationError) -> JSONResponse:
    errors = [
        {"loc": list(e.get("loc", ())), "msg": str(e.get("msg", "")).removeprefix("Value error, "),
         "type": e.get("type", "")}
        for e in exc.errors()
    ]
    first = errors[0] if errors else {"loc": [], "msg": "invalid request"}
    where = ".".join(str(p) for p in first["loc"])
    return problem_response(
        422, "validation-error", "Invalid request",
        f"{where}: {first['msg']}" if where else str(first["msg"]),
        request, errors=errors,
    )


def install_error_handlers(app: FastAPI) -> None:
    @app.exception_handler(ProblemError)
    async def _problem(request: Request, exc: ProblemError) -> JSONResponse:
        return problem_error_response(request, exc)

    @app.exception_handler(RequestValidationError)
    async def _validation(request: Request, exc: RequestValidationError) -> JSONResponse:
        return validation_error_response(request, exc)

    @app.exception_handler(StarletteHTTPException)
    async def _http(request: Request, exc: StarletteHTTPException) -> JSONResponse:
        slug = {404: "not-found", 405: "method-not-allowed", 413: "payload-too-large"}.get(
            exc.status_code, "http-error"
        )
        headers = getattr(exc, "headers", None)
        if exc.status_code == 405:
            headers = {**(headers or {}), "Allow": _allowed_methods(request)}
        return problem_response(
            exc.status_code, slug, _reason(exc.status_code), str(exc.detail), request,
            headers=headers,
        )


def _allowed_methods(request: Request) -> str:
    """Every method some route accepts at this path. Starlette names only the first matching
    route's, and `GET /v1/keys` and `POST /v1/keys` are two routes; asking each route whether
    it fully matches the path with each method uses only the routes' public `matches`."""
    allowed = []
    for method in PROBED_METHODS:
        scope = {**request.scope, "method": method}
        if any(route.matches(scope)[0] is Match.FULL for route in request.app.router.routes):
            allowed.append(method)
    return ", ".join(allowed)


def _reason(status: int) -> str:
    from http import HTTPStatus

    try:
        return HTTPStatus(status).phrase
    except ValueError:
        return "Error"


def _problem_entry(description: str, status: int, slug: str, detail: str) -> dict[str, Any]:
    example = {"type": PROBLEM_TYPE_BASE + slug, "title": _reason(status), "status": status,
               "detail": detail}
    return {"description": description, "content": {PROBLEM_MEDIA_TYPE: {
        "schema": Problem.model_json_schema(), "examples": {slug: {"summary": description, "value": example}},
    }}}


def document_problem_errors(app: FastAPI) -> None:
    """Make the OpenAPI say what the handlers above send for framework-level errors.

    FastAPI documents every 422 as `application/json` HTTPValidationError; ours are problem+json.
    An operation with a body can also get 400 (body not parseable) and 413 (body too large).
    """
    generate = app.openapi

    def openapi() -> dict[str, Any]:
        if app.openapi_schema is not None:
            return app.openapi_schema
        schema = generate()
        for path_item in schema.get("paths", {}).values():
            for operation in path_item.values():
                if not isinstance(operation, dict) or "responses" not in operation:
                    continue
                responses = operation["responses"]
                if "422" in responses:
                    responses["422"] = _problem_entry(
                        "Invalid request", 422, "validation-error", "query.limit: Input should be a valid integer"
                    )
                if "requestBody" in operation:
                    responses.setdefault("400", _problem_entry(
                        "Body not parseable", 400, "http-error", "There was an error parsing the body"
                    ))
                    responses.setdefault("413", _problem_entry(
                        "Body too large", 413, "payload-too-large", "request body larger than 1048576 bytes"
                    ))
        schema.get("components", {}).get("schemas", {}).pop("HTTPValidationError", None)
        schema.get("components", {}).get("schemas", {}).pop("ValidationError", None)
        return schema

    app.openapi = openapi  # type: ignore[method-assign]
