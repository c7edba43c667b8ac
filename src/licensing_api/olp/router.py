"""`POST /olp/token` and `POST /olp/introspect`: the RSL License Server (OLP, OAuth 2.0 shapes).

Both commit (a token row) or read inside the route, before the answer is sent.
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Form, Header, Request
from fastapi.responses import JSONResponse

from licensing_api.db import utcnow
from licensing_api.dependencies import ResourcesDep, unit_of_work
from licensing_api.olp.grant import OAuthError, authenticated_client, client_credentials, grant_license
from licensing_api.olp.tokens import introspection, is_license_token, token_state
from licensing_api.security.failed_lookups import FailedKeyLookupLimiterDep, client_address

router = APIRouter(prefix="/olp", tags=["crawler standards"])
NO_STORE = {"Cache-Control": "no-store"}
OAUTH_ERROR = {"content": {"application/json": {"example": {
    "error": "invalid_client", "error_description": "unknown or revoked API key"}}}}
CLIENT_ID = Annotated[str | None, Form(max_length=200, description="any identifier of the client")]
CLIENT_SECRET = Annotated[str | None, Form(max_length=200, description="the API key (or use HTTP Basic)")]


def oauth_error(error: OAuthError) -> JSONResponse:
    return JSONResponse(error.body(), status_code=error.status, headers={**error.headers, **NO_STORE})


@router.post(
    "/token",
    summary="RSL License Server: acquire a license token (OLP, grant_type=rsl)",
    response_model=dict[str, Any],
    responses={
        200: {"content": {"application/json": {"example": {
            "access_token": "lt_…", "token_type": "License", "expires_in": 3600, "license": "standard",
            "resource": "https://example.com/v1/content/article"}}}},
        400: {"description": "OAuth error (RFC 6749 §5.2)", **OAUTH_ERROR},
        401: {"description": "client authentication failed", **OAUTH_ERROR},
        429: {"description": "too many failed client authentications from this address", **OAUTH_ERROR},
    },
)
async def olp_token(
    request: Request,
    resources: ResourcesDep,
    limiter: FailedKeyLookupLimiterDep,
    grant_type: Annotated[str | None, Form(max_length=50)] = None,
    license_xml: Annotated[
        str | None, Form(alias="license", max_length=16_384,
                         description="the RSL <license> element, copied from license.xml")
    ] = None,
    resource: Annotated[str | None, Form(max_length=2000, description="URL of the asset to license")] = None,
    client_id: CLIENT_ID = None,
    client_secret: CLIENT_SECRET = None,
    authorization: Annotated[str | None, Header()] = None,
) -> Any:
    try:
        async with unit_of_work(resources) as session:
            grant = await grant_license(
                session, resources.settings, resources.catalogue, limiter, client_address(request),
                grant_type=grant_type,
                credentials=client_credentials(authorization, client_id, client_secret),
                license_xml=license_xml, resource=resource, now=utcnow(),
            )
    except OAuthError as error:
        return oauth_error(error)
    return JSONResponse(grant.body(), headers=NO_STORE)


@router.post(
    "/introspect",
    summary="Token introspection (RFC 7662): is a license token active, and for what",
    response_model=dict[str, Any],
    responses={
        200: {"content": {"application/json": {"examples": {
            "active": {"value": {"active": True, "token_type": "License", "client_id": "crawler",
                                 "sub": "0b6f3c1e-8e9a-4a51-9a77-5d0e2c4b1f3a",
                                 "aud": "https://example.com/v1/content", "iat": 1764547200,
                                 "exp": 1764550800, "license": "standard",
                                 "resource": "https://example.com/v1/content"}},
            "inactive": {"value": {"active": False}}}}}},
        401: {"description": "client authentication failed", **OAUTH_ERROR},
        429: {"description": "too many failed client authentications from this address", **OAUTH_ERROR},
    },
)
async def olp_introspect(
    request: Request,
    resources: ResourcesDep,
    limiter: FailedKeyLookupLimiterDep,
    token: Annotated[str, Form(min_length=1, max_length=200, description="the license token")],
    token_type_hint: Annotated[str | None, Form(max_length=50)] = None,
    client_id: CLIENT_ID = None,
    client_secret: CLIENT_SECRET = None,
    authorization: Annotated[str | None, Header()] = None,
) -> Any:
    """The caller authenticates as an OLP client (its API key); it learns about its own
    customer's tokens only: any other token is `{"active": false}`."""
    try:
        async with unit_of_work(resources) as session:
            caller = await authenticated_client(
                session, resources.settings, limiter, client_address(request),
                client_credentials(authorization, client_id, client_secret),
            )
            state = await token_state(session, token) if is_license_token(token) else None
            body = introspection(state, caller.customer_id, utcnow())
    except OAuthError as error:
        return oauth_error(error)
    return JSONResponse(body, headers=NO_STORE)
