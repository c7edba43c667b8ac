"""Routes crawlers use to learn the terms: /license.xml, /license, /robots.txt, /olp/token."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends, Form, Header
from fastapi.responses import HTMLResponse, JSONResponse, PlainTextResponse, Response

from licensing_api.dependencies import CatalogueDep, SessionDep, SettingsDep
from licensing_api.standards.olp import OAuthError, client_secret_from, grant_license
from licensing_api.standards.rsl import RSL_MEDIA_TYPE
from licensing_api.standards.service import CrawlerStandards, get_standards

router = APIRouter(tags=["crawler standards"])
StandardsDep = Annotated[CrawlerStandards, Depends(get_standards)]

RSL_EXAMPLE = (
    '<?xml version="1.0" encoding="UTF-8"?>\n<rsl xmlns="https://rslstandard.org/rsl">\n'
    '  <content url="https://example.com/v1/content*" server="https://example.com/olp">…'
    "</content>\n</rsl>\n"
)
OAUTH_ERROR_EXAMPLE = {"error": "invalid_client", "error_description": "unknown or revoked API key"}


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


@router.post(
    "/olp/token",
    summary="RSL License Server: acquire a license token (OLP, grant_type=rsl)",
    response_model=dict[str, str],
    responses={
        200: {"content": {"application/json": {"example": {
            "access_token": "lk_…", "token_type": "License", "license": "standard",
            "resource": "https://example.com/v1/content/article"}}}},
        400: {"description": "OAuth error (RFC 6749 §5.2)",
              "content": {"application/json": {"example": {"error": "invalid_grant",
                                                            "error_description": "…"}}}},
        401: {"description": "client authentication failed",
              "content": {"application/json": {"example": OAUTH_ERROR_EXAMPLE}}},
    },
)
async def olp_token(
    session: SessionDep,
    settings: SettingsDep,
    catalogue: CatalogueDep,
    grant_type: Annotated[str | None, Form()] = None,
    license_xml: Annotated[
        str | None, Form(alias="license", description="the RSL <license> element wanted")
    ] = None,
    resource: Annotated[str | None, Form(description="URL of the asset to license")] = None,
    client_secret: Annotated[str | None, Form()] = None,
    authorization: Annotated[str | None, Header()] = None,
) -> Any:
    no_store = {"Cache-Control": "no-store"}
    try:
        grant = await grant_license(
            session, settings, catalogue,
            grant_type=grant_type,
            client_secret=client_secret_from(authorization, client_secret),
            license_xml=license_xml,
            resource=resource,
        )
    except OAuthError as error:
        return JSONResponse(error.body(), status_code=error.status, headers={**error.headers, **no_store})
    return JSONResponse(grant.body(), headers=no_store)
