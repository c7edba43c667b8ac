"""Content lookups and pages, rendered to JSON bytes once per item and reused.

Both the licensed route and the benchmark's bare route serve these bytes, so what the
benchmark compares is exactly the cost of authentication and metering.
"""

from __future__ import annotations

import base64
import binascii
from collections.abc import Callable
from datetime import datetime
from typing import Protocol

from pydantic import BaseModel

from licensing_api.content.schemas import ContentEntry, ContentIndex, ContentItemOut, LicenseTerms
from licensing_api.content.store import (
    ContentItem,
    ContentNotFound,
    ContentStore,
    validate_content_path,
)
from licensing_api.errors import BadRequest

LICENSE_GRANT = "AI training, retrieval and display under your subscription; every request is metered"


class InvalidCursor(BadRequest):
    slug, title = "invalid-cursor", "Invalid cursor"


class ContentSource(Protocol):
    """What the content routes serve from: the folder store (`ContentService`) or, in gateway
    mode, the site's sitemaps (gateway/site_index.py)."""

    def index_page(self, cursor: str | None, limit: int, updated_since: datetime | None) -> BaseModel: ...

    def item_json(self, raw_path: str) -> bytes: ...


class ContentService:
    def __init__(self, store: ContentStore, public_base_url: str) -> None:
        self.store = store
        self.terms_url = public_base_url + "/license.xml"
        self._rendered: dict[str, bytes] = {}

    def item_json(self, raw_path: str) -> bytes:
        """The item's JSON body; `InvalidContentPath` or `ContentNotFound` otherwise."""
        rendered = self._rendered.get(raw_path)
        if rendered is not None:
            return rendered
        path = validate_content_path(raw_path)
        item = self.store.get(path)
        if item is None:
            raise ContentNotFound(f"no content at {path!r}; GET /v1/content lists what exists")
        rendered = self._render(item).model_dump_json().encode()
        if len(self._rendered) < 100_000:  # bounded: only valid, existing paths get here
            self._rendered[raw_path] = rendered
        return rendered

    def index_page(
        self, cursor: str | None, limit: int, updated_since: datetime | None
    ) -> ContentIndex:
        after = decode_cursor(cursor) if cursor else None
        items = self.store.list_after(after, limit + 1, updated_since)
        more = len(items) > limit
        items = items[:limit]
        return ContentIndex(
            items=[
                ContentEntry(path=i.path, title=i.title, updated=i.updated, size=i.size)
                for i in items
            ],
            next_cursor=encode_cursor(items[-1].path) if more and items else None,
        )

    def _render(self, item: ContentItem) -> ContentItemOut:
        credit = f"“{item.title}”" + (f" by {item.author}" if item.author else "")
        return ContentItemOut(
            path=item.path,
            title=item.title,
            author=item.author,
            published=item.published,
            updated=item.updated,
            summary=item.summary,
            tags=list(item.tags),
            text=item.text,
            license=LicenseTerms(
                grant=LICENSE_GRANT, attribution=credit, terms_url=self.terms_url
            ),
        )


def encode_cursor(path: str) -> str:
    return base64.urlsafe_b64encode(path.encode()).decode().rstrip("=")


def decode_cursor(cursor: str, validate: Callable[[str], str] = validate_content_path) -> str:
    """The sort key a cursor holds, checked by `validate` (a content path by default)."""
    try:
        padded = cursor + "=" * (-len(cursor) % 4)
        path = base64.urlsafe_b64decode(padded.encode("ascii")).decode("utf-8")
        return validate(path)
    except (binascii.Error, UnicodeError, ValueError, BadRequest):
        raise InvalidCursor("use the next_cursor of a previous page, unchanged") from None
