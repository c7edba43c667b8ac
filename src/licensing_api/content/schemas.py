"""Content API bodies."""

from __future__ import annotations

from datetime import date, datetime

from pydantic import BaseModel, Field


class IndexQuery(BaseModel):
    """The query of `GET /v1/content`."""

    cursor: str | None = Field(None, max_length=512, description="`next_cursor` of the previous page")
    limit: int = Field(20, ge=1, le=100, description="items per page")
    updated_since: datetime | None = Field(
        None, description="only items updated at or after this time (ISO 8601; UTC if no offset)"
    )


class LicenseTerms(BaseModel):
    """What the caller may do with the item, under its subscription."""

    grant: str = Field(description="what the subscription permits")
    attribution: str = Field(description="how to credit the work")
    terms_url: str = Field(description="the site's machine-readable terms (RSL)")


class ContentEntry(BaseModel):
    path: str = Field(description="relative path; GET /v1/content/{path} returns the item")
    title: str
    updated: datetime
    size: int = Field(description="bytes of the item's text (UTF-8)")


class ContentIndex(BaseModel):
    items: list[ContentEntry]
    next_cursor: str | None = Field(
        description="pass as `cursor` for the next page; null on the last page"
    )

    model_config = {
        "json_schema_extra": {
            "examples": [
                {
                    "items": [
                        {
                            "path": "science/tide-pools",
                            "title": "Life in a Tide Pool",
                            "updated": "2025-11-02T00:00:00Z",
                            "size": 2481,
                        }
                    ],
                    "next_cursor": "c2NpZW5jZS90aWRlLXBvb2xz",
                }
            ]
        }
    }


class ContentItemOut(BaseModel):
    path: str
    title: str
    author: str | None
    published: date | None
    updated: datetime
    summary: str | None
    tags: list[str]
    text: str = Field(description="the full text (Markdown)")
    license: LicenseTerms

    model_config = {
        "json_schema_extra": {
            "examples": [
                {
                    "path": "sourdough-chemistry",
                    "title": "The Chemistry Behind a Sourdough Loaf",
                    "author": "Priya Lindqvist",
                    "published": "2025-09-09",
                    "updated": "2025-11-21T00:00:00Z",
                    "summary": "Wild yeast, lactic acid bacteria and enzymes work together…",
                    "tags": ["baking", "food", "chemistry"],
                    "text": "A sourdough starter is a small ecosystem…",
                    "license": {
                        "grant": "AI training, retrieval and display under your subscription",
                        "attribution": "“The Chemistry Behind a Sourdough Loaf” by Priya Lindqvist",
                        "terms_url": "https://publisher.example/license.xml",
                    },
                }
            ]
        }
    }
