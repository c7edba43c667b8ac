"""`GET /v1/content` and `GET /v1/content/{path}`: licensed, metered, one unit per 200."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated

from fastapi import APIRouter, Query, Request
from starlette.responses import Response

from licensing_api.access.docs import USAGE_HEADERS, licensed_responses
from licensing_api.access.openapi import CRAWLER_SECURITY
from licensing_api.access.runtime import HotPath
from licensing_api.content.schemas import ContentIndex, ContentItemOut
from licensing_api.content.service import InvalidCursor
from licensing_api.content.store import ContentNotFound, InvalidContentPath

router = APIRouter(prefix="/v1/content", tags=["content"])

# The routes call the guard themselves rather than through `Depends`: FastAPI's
# sub-dependency resolution alone costs more than the whole check (README, Performance).
# `admit` answers a cached key without a coroutine; `authorize` takes everything else.

JSON = "application/json"


@router.get(
    "",
    summary="List licensed content (cursor-paginated, one metered unit)",
    response_model=ContentIndex,
    responses={200: {"headers": USAGE_HEADERS}, **licensed_responses(InvalidCursor)},
    openapi_extra={"security": CRAWLER_SECURITY},
)
async def list_content(
    request: Request,
    cursor: Annotated[
        str | None, Query(max_length=512, description="`next_cursor` of the previous page")
    ] = None,
    limit: Annotated[int, Query(ge=1, le=100, description="items per page")] = 20,
    updated_since: Annotated[
        datetime | None,
        Query(description="only items updated at or after this time (ISO 8601; UTC if no offset)"),
    ] = None,
) -> Response:
    hot_path: HotPath = request.state.hot_path
    guard = hot_path.guard
    record = guard.admit(request) or await guard.authorize(request)
    if updated_since is not None and updated_since.tzinfo is None:
        updated_since = updated_since.replace(tzinfo=UTC)
    page = hot_path.content.index_page(cursor, limit, updated_since)
    return metered_json(page.model_dump_json().encode(), guard.meter(record))


@router.get(
    "/{path:path}",
    summary="One licensed item: text, title, metadata, license terms (one metered unit)",
    response_model=ContentItemOut,
    responses={
        200: {"headers": USAGE_HEADERS},
        **licensed_responses(InvalidContentPath, ContentNotFound),
    },
    openapi_extra={"security": CRAWLER_SECURITY},
)
async def get_content(path: str, request: Request) -> Response:
    hot_path: HotPath = request.state.hot_path
    guard = hot_path.guard
    record = guard.admit(request) or await guard.authorize(request)
    body = hot_path.content.item_json(path)  # raises 400/404 before anything is counted
    return metered_json(body, guard.meter(record))


def metered_json(body: bytes, usage_headers: list[tuple[bytes, bytes]]) -> Response:
    response = Response(body, media_type=JSON)
    response.raw_headers.extend(usage_headers)
    return response
