"""The OpenAPI declaration of `GET /v1/authorize` (forward-auth). The request edge answers it
(observability/middleware.py `answered`); this route answers the same way when the edge hands
the request to FastAPI (CORS)."""

from __future__ import annotations

from typing import Literal

from fastapi import APIRouter, Header, Query, Request
from starlette.responses import Response

from licensing_api.access.dispatch import AnswerResponse
from licensing_api.access.docs import USAGE_HEADERS, licensed_responses
from licensing_api.access.openapi import CRAWLER_SECURITY
from licensing_api.gateway.forward_auth import AUTHORIZE_PATH, InvalidForwardAuthRequest

router = APIRouter(tags=["gateway"])

GRANTED_HEADERS = {
    **USAGE_HEADERS,
    "Licensing-Grant": {
        "description": "billing=report only: the grant the edge reports with the status it answered "
        "(counted only if 2xx)",
        "schema": {"type": "string"},
    },
}


@router.get(
    AUTHORIZE_PATH,
    summary="Forward-auth: the access decision for a request an edge (nginx, Traefik, Caddy) serves",
    description=(
        "The original request is named by `X-Original-Method`/`X-Original-URI` (nginx) or "
        "`X-Forwarded-Method`/`X-Forwarded-Uri` (Traefik, Caddy), with `X-Forwarded-Host` and "
        "`X-Forwarded-Proto`; its own headers carry the credentials. 200: serve it (usage headers; "
        "counted now, or, with `billing=report`, when the edge reports a 2xx). Otherwise the "
        "refusal, as the licensed routes give it."
    ),
    status_code=200,
    response_class=Response,
    responses={200: {"description": "allowed", "headers": GRANTED_HEADERS},
               307: {"description": "render=refusal: the decision now allows; retry the original URI"},
               **licensed_responses(InvalidForwardAuthRequest)},
    openapi_extra={"security": CRAWLER_SECURITY},
)
async def authorize(
    request: Request,
    billing: Literal["report"] | None = Query(None, description="count on the edge's report of a 2xx"),
    render: Literal["refusal"] | None = Query(None, description="render a refusal as a response (nginx)"),
    x_original_uri: str | None = Header(None, description="the original request's URI (nginx)"),
    x_forwarded_uri: str | None = Header(None, description="the original request's URI (Traefik, Caddy)"),
) -> Response:
    forward_auth = request.app.state.forward_auth
    return AnswerResponse(await forward_auth.answer(request.scope, request.state.hot_path))
