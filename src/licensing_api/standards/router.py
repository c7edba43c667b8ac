"""Routes crawlers use to learn the terms: /license.xml, /license, /robots.txt (the license
server, /olp/*, is olp/router.py)."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends
from fastapi.responses import HTMLResponse, PlainTextResponse, Response

from licensing_api.standards.rsl import RSL_MEDIA_TYPE
from licensing_api.standards.service import CrawlerStandards, get_standards

router = APIRouter(tags=["crawler standards"])
StandardsDep = Annotated[CrawlerStandards, Depends(get_standards)]

RSL_EXAMPLE = (
    '<?xml version="1.0" encoding="UTF-8"?>\n<rsl xmlns="https://rslstandard.org/rsl">\n'
    '  <content url="https://example.com/v1/content*" server="https://example.com/olp">…'
    "</content>\n</rsl>\n"
)


@router.get(
    "/license.xml",
    summary="The site's licensing terms in RSL 1.0 (one <license> per plan)",
    response_class=Response,
    responses={200: {"description": "RSL document", "content": {RSL_MEDIA_TYPE: {"example": RSL_EXAMPLE}}}},
)
async def license_xml(standards: StandardsDep) -> Response:
    return Response(
        standards.license_xml, media_type=RSL_MEDIA_TYPE,
        headers={"Cache-Control": "public, max-age=3600"},
    )


@router.get(
    "/license",
    summary="Human-readable plans, terms and how to get a key",
    response_class=HTMLResponse,
)
async def license_page(standards: StandardsDep) -> HTMLResponse:
    return HTMLResponse(standards.license_page)


@router.get(
    "/robots.txt",
    summary="Crawler rules with the RSL License: directive",
    response_class=PlainTextResponse,
    responses={200: {"content": {"text/plain": {"example": "License: https://example.com/license.xml\n"}}}},
)
async def robots_txt(standards: StandardsDep) -> PlainTextResponse:
    return PlainTextResponse(standards.robots_txt, headers={"Cache-Control": "public, max-age=3600"})
