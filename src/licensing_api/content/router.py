"""`GET /v1/content` and `GET /v1/content/{path}`: licensed, metered, one unit per 200.

Both are licensed routes (access/dispatch.py): the request edge answers them before FastAPI's
router, through `CONTENT_ROUTES`; each route here is its parameters and its serve step. The
FastAPI declarations below document the same routes in the OpenAPI and answer them the same
way when the edge hands one to FastAPI (a CORS request): FastAPI validates the same
parameters (the same `IndexQuery`), then the same pipeline runs.
"""

from __future__ import annotations

from datetime import UTC
from typing import TYPE_CHECKING, Annotated
from urllib.parse import parse_qsl

from fastapi import APIRouter, Query, Request
from fastapi.exceptions import RequestValidationError
from pydantic import ValidationError
from starlette.responses import Response
from starlette.types import Scope

from licensing_api.access.dispatch import LicensedRoutes, answer_response
from licensing_api.access.docs import USAGE_HEADERS, licensed_responses
from licensing_api.access.openapi import CRAWLER_SECURITY
from licensing_api.content.schemas import ContentIndex, ContentItemOut, IndexQuery, SiteIndex
from licensing_api.content.service import InvalidCursor
from licensing_api.content.store import ContentNotFound, InvalidContentPath

if TYPE_CHECKING:
    from licensing_api.access.runtime import HotPath

PREFIX = "/v1/content"


class ContentIndexRoute:
    template = PREFIX

    def parse(self, scope: Scope) -> IndexQuery:
        """The query as FastAPI reads it (every value kept, blank ones too; the last wins)."""
        pairs = parse_qsl(scope["query_string"].decode("latin-1"), keep_blank_values=True)
        try:
            return IndexQuery.model_validate(dict(pairs))
        except ValidationError as exc:
            raise RequestValidationError(
                [{**error, "loc": ("query", *error["loc"])} for error in exc.errors()]
            ) from None

    def serve(self, hot_path: HotPath, query: IndexQuery) -> bytes:
        updated_since = query.updated_since
        if updated_since is not None and updated_since.tzinfo is None:
            updated_since = updated_since.replace(tzinfo=UTC)
        page = hot_path.content.index_page(query.cursor, query.limit, updated_since)
        return page.model_dump_json().encode()


class ContentItemRoute:
    template = PREFIX + "/{path:path}"
    below = PREFIX + "/"

    def parse(self, scope: Scope) -> str:
        return scope["path"][len(self.below):]

    def serve(self, hot_path: HotPath, path: str) -> bytes:
        return hot_path.content.item_json(path)  # 400/404 before anything is counted


INDEX, ITEM = ContentIndexRoute(), ContentItemRoute()
CONTENT_ROUTES = LicensedRoutes(exact={INDEX.template: INDEX}, below={ITEM.below: ITEM})

router = APIRouter(prefix=PREFIX, tags=["content"])


@router.get(
    "",
    summary="List licensed content (cursor-paginated, one metered unit)",
    description="The folder's items; in gateway mode (`ORIGIN_URL`) the site's URLs from its sitemaps.",
    response_model=ContentIndex | SiteIndex,
    responses={200: {"headers": USAGE_HEADERS}, **licensed_responses(InvalidCursor)},
    openapi_extra={"security": CRAWLER_SECURITY},
)
async def list_content(request: Request, query: Annotated[IndexQuery, Query()]) -> Response:
    return await answer_response(INDEX, request)


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
    return await answer_response(ITEM, request)
