"""Where licensed content comes from: the `ContentStore` interface and its folder implementation.

A publisher plugs in a CMS or an object store by implementing `ContentStore`; the folder
store reads Markdown files with `key: value` front matter between `---` lines from
`CONTENT_DIR` once, at start-up, and serves them from memory.
"""

from __future__ import annotations

import logging
import re
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Protocol

from licensing_api.errors import BadRequest, NotFound

logger = logging.getLogger(__name__)

MAX_PATH_LENGTH = 256
MAX_PATH_SEGMENTS = 8
CONTENT_SUFFIX = ".md"
# Lowercase-friendly slugs: letters, digits, dot, dash, underscore; never a leading dot.
SEGMENT_PATTERN = re.compile(r"^[A-Za-z0-9_-][A-Za-z0-9._-]{0,127}$")
FRONT_MATTER_FIELDS = ("title", "author", "published", "updated", "summary", "tags")


class InvalidContentPath(BadRequest):
    slug, title = "invalid-content-path", "Invalid content path"


class ContentNotFound(NotFound):
    slug, title = "content-not-found", "Content not found"


@dataclass(frozen=True, slots=True)
class ContentItem:
    path: str  # e.g. "science/tide-pools" (the file path without ".md")
    title: str
    author: str | None
    published: date | None
    updated: datetime  # aware UTC; the file's front matter, else its modification time
    summary: str | None
    tags: tuple[str, ...]
    text: str
    size: int = field(default=0)  # bytes of `text` in UTF-8


class ContentStore(Protocol):
    """Read-only access to licensed content, addressed by validated relative paths."""

    def get(self, path: str) -> ContentItem | None: ...

    def list_after(
        self, after: str | None, limit: int, updated_since: datetime | None
    ) -> list[ContentItem]:
        """Up to `limit` items ordered by path, strictly after `after`, updated at or after
        `updated_since`."""
        ...


def validate_content_path(path: str) -> str:
    """The path if it is a plausible content path; `InvalidContentPath` otherwise.

    The folder store only serves paths it indexed, so this is not what stops traversal;
    it turns hostile or absurd input into a clear 400 instead of a 404 or worse.
    """
    if not path or len(path) > MAX_PATH_LENGTH:
        raise InvalidContentPath(f"a content path has 1 to {MAX_PATH_LENGTH} characters")
    segments = path.split("/")
    if len(segments) > MAX_PATH_SEGMENTS:
        raise InvalidContentPath(f"a content path has at most {MAX_PATH_SEGMENTS} segments")
    for segment in segments:
        if segment in ("", ".", "..") or not SEGMENT_PATTERN.match(segment):
            raise InvalidContentPath(
                "use segments of letters, digits, '.', '-' and '_' separated by single '/', "
                "e.g. science/tide-pools"
            )
    return path.removesuffix(CONTENT_SUFFIX)


class FolderContentStore:
    """Markdown files under a folder, indexed in memory at construction."""

    def __init__(self, root: Path) -> None:
        self.root = root.resolve()
        self._items: dict[str, ContentItem] = {}
        self._ordered: list[ContentItem] = []
        self.reload()

    def reload(self) -> None:
        items: dict[str, ContentItem] = {}
        for file in sorted(self.root.rglob("*" + CONTENT_SUFFIX)):
            resolved = file.resolve()
            if not resolved.is_file() or not resolved.is_relative_to(self.root):
                continue  # a symlink leading out of the folder is never served
            relative = file.relative_to(self.root).as_posix().removesuffix(CONTENT_SUFFIX)
            try:
                validate_content_path(relative)
            except InvalidContentPath:
                logger.warning("content_file_skipped", extra={"path": relative, "reason": "name"})
                continue
            items[relative] = parse_markdown(relative, file.read_text(encoding="utf-8"), resolved)
        self._items = items
        self._ordered = sorted(items.values(), key=lambda item: item.path)
        logger.info("content_indexed", extra={"root": str(self.root), "items": len(items)})

    def get(self, path: str) -> ContentItem | None:
        return self._items.get(path)

    def list_after(
        self, after: str | None, limit: int, updated_since: datetime | None
    ) -> list[ContentItem]:
        page: list[ContentItem] = []
        for item in self._ordered:
            if after is not None and item.path <= after:
                continue
            if updated_since is not None and item.updated < updated_since:
                continue
            page.append(item)
            if len(page) == limit:
                break
        return page


def parse_markdown(path: str, raw: str, file: Path | None = None) -> ContentItem:
    """A content item from Markdown with optional `key: value` front matter."""
    meta: dict[str, str] = {}
    body = raw
    lines = raw.splitlines(keepends=True)
    if lines and lines[0].strip() == "---":
        for index, line in enumerate(lines[1:], start=1):
            if line.strip() == "---":
                body = "".join(lines[index + 1 :])
                break
            key, sep, value = line.partition(":")
            if sep and key.strip().lower() in FRONT_MATTER_FIELDS:
                meta[key.strip().lower()] = value.strip()
        else:
            body = raw  # no closing line: it was not front matter
            meta = {}
    text = body.strip("\n")
    updated = _parse_moment(meta.get("updated")) or _parse_moment(meta.get("published"))
    if updated is None:
        mtime = file.stat().st_mtime if file is not None else 0
        updated = datetime.fromtimestamp(mtime, UTC)
    published = _parse_moment(meta.get("published"))
    return ContentItem(
        path=path,
        title=meta.get("title") or path.rsplit("/", 1)[-1].replace("-", " ").capitalize(),
        author=meta.get("author") or None,
        published=published.date() if published else None,
        updated=updated,
        summary=meta.get("summary") or None,
        tags=tuple(t.strip() for t in meta.get("tags", "").split(",") if t.strip()),
        text=text,
        size=len(text.encode("utf-8")),
    )


def _parse_moment(value: str | None) -> datetime | None:
    """`2025-11-21` (midnight UTC) or an ISO 8601 datetime; None if absent or unreadable."""
    if not value:
        return None
    try:
        moment = datetime.fromisoformat(value)
    except ValueError:
        return None
    return moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment.astimezone(UTC)
