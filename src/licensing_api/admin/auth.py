"""Admin authentication: `Authorization: Bearer <ADMIN_TOKEN>`, compared in constant time."""

from __future__ import annotations

import hmac
from typing import Annotated

from fastapi import Depends
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer

from licensing_api.dependencies import SettingsDep
from licensing_api.errors import NotFound, ProblemError

admin_bearer = HTTPBearer(
    auto_error=False, scheme_name="AdminToken", description="the ADMIN_TOKEN setting"
)


class AdminApiOff(NotFound):
    slug, title = "admin-api-off", "Admin API is off"


class AdminUnauthorized(ProblemError):
    status, slug, title = 401, "admin-unauthorized", "Admin token missing or wrong"


async def require_admin(
    settings: SettingsDep,
    credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(admin_bearer)],
) -> None:
    if settings.admin_token is None:
        raise AdminApiOff("the admin API is off; set ADMIN_TOKEN to turn it on")
    expected = settings.admin_token.get_secret_value().encode()
    given = credentials.credentials.encode() if credentials is not None else b""
    if not hmac.compare_digest(given, expected):
        raise AdminUnauthorized(
            "send Authorization: Bearer <ADMIN_TOKEN>",
            headers={"WWW-Authenticate": 'Bearer realm="admin"'},
        )
