"""Typed dependencies of dashboard routes: the session codec, the signed-in session, CSRF."""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, Request

from licensing_api.access.runtime import get_hot_path
from licensing_api.dashboard import service
from licensing_api.dashboard.sessions import SESSION_COOKIE, DashboardSession, SessionCodec
from licensing_api.db import session_scope
from licensing_api.dependencies import ResourcesDep
from licensing_api.errors import ProblemError
from licensing_api.usage.tally import UsageTally


class CsrfRejected(ProblemError):
    status, slug, title = 403, "csrf-rejected", "Form expired"


def get_codec(request: Request) -> SessionCodec:
    return request.app.state.dashboard_sessions  # type: ignore[no-any-return]


CodecDep = Annotated[SessionCodec, Depends(get_codec)]


async def get_dashboard_session(
    request: Request, codec: CodecDep, resources: ResourcesDep
) -> DashboardSession | None:
    """The signed-in session, or None if absent, forged, expired or its key was revoked."""
    candidate = codec.decode(request.cookies.get(SESSION_COOKIE))
    if candidate is None:
        return None
    async with session_scope(resources.sessionmaker) as db:
        return candidate if await service.session_is_current(db, candidate) else None


SessionCookieDep = Annotated[DashboardSession | None, Depends(get_dashboard_session)]


def require_csrf(
    dashboard_session: DashboardSession | None, codec: SessionCodec, token: str
) -> DashboardSession:
    """The session a form was posted in, if it carries that session's CSRF token."""
    if dashboard_session is None or not codec.csrf_ok(dashboard_session, token):
        raise CsrfRejected("this form is out of date or not from this site; reload the dashboard")
    return dashboard_session


def worker_tally(request: Request) -> UsageTally:
    """This worker's not-yet-moved usage, which `GET /v1/usage` counts too."""
    return get_hot_path(request).tally
