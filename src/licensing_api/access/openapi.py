"""OpenAPI: the two ways a crawler presents its key, declared once for every route that uses them."""

from __future__ import annotations

from typing import Any

from fastapi import FastAPI

SECURITY_SCHEMES: dict[str, dict[str, Any]] = {
    "bearerAuth": {
        "type": "http",
        "scheme": "bearer",
        "bearerFormat": "lk_…",
        "description": "`Authorization: Bearer lk_…`",
    },
    "apiKeyHeader": {
        "type": "apiKey",
        "in": "header",
        "name": "X-API-Key",
        "description": "`X-API-Key: lk_…` (same key, other header)",
    },
}
# Either scheme is enough (OpenAPI: alternatives are separate requirement objects).
CRAWLER_SECURITY: list[dict[str, list[str]]] = [{"bearerAuth": []}, {"apiKeyHeader": []}]


def add_security_schemes(app: FastAPI) -> None:
    """Declare the schemes in `components` (routes declare `security` themselves)."""
    previous = app.openapi

    def openapi() -> dict[str, Any]:
        schema = previous()
        components = schema.setdefault("components", {})
        components.setdefault("securitySchemes", {}).update(SECURITY_SCHEMES)
        return schema

    app.openapi = openapi  # type: ignore[method-assign]
