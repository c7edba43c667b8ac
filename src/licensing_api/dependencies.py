"""Typed FastAPI dependencies: route signatures name what they need, nothing global."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import AbstractAsyncContextManager
from typing import Annotated

from fastapi import Depends, Request
from redis.asyncio import Redis
from sqlalchemy.ext.asyncio import AsyncSession

from licensing_api.billing.plans import PlanCatalogue
from licensing_api.db import session_scope
from licensing_api.errors import ServiceUnavailable
from licensing_api.resources import Resources
from licensing_api.settings import Settings


def get_resources(request: Request) -> Resources:
    return request.state.resources  # type: ignore[no-any-return]


ResourcesDep = Annotated[Resources, Depends(get_resources)]


def get_settings(resources: ResourcesDep) -> Settings:
    return resources.settings


def get_redis(resources: ResourcesDep) -> Redis:
    return resources.redis


def get_catalogue(resources: ResourcesDep) -> PlanCatalogue:
    return resources.catalogue


class ChangeNotSaved(ServiceUnavailable):
    slug, title = "not-saved", "Change not saved"


def change_not_saved(_: Exception) -> ChangeNotSaved:
    return ChangeNotSaved(
        "the database did not confirm the change, so nothing was saved; retry shortly",
        headers={"Retry-After": "1"},
    )


def unit_of_work(resources: Resources) -> AbstractAsyncContextManager[AsyncSession]:
    """A request's unit of work, for routes that open it themselves (the dashboard): a
    failed commit is `ChangeNotSaved` (503 problem+json), so nothing unsaved is confirmed."""
    return session_scope(resources.sessionmaker, commit_failed=change_not_saved)


async def get_session(resources: ResourcesDep) -> AsyncIterator[AsyncSession]:
    """The request's unit of work: committed when the route returns, rolled back on error.

    Declared with `scope="function"` (below): FastAPI then runs this exit code, the commit,
    right after the route function returns and before the response is sent, so an answer
    never reports a change that is not durable. (A yield dependency's default "request"
    scope runs it after the response has gone out.)
    """
    async with unit_of_work(resources) as session:
        yield session


SettingsDep = Annotated[Settings, Depends(get_settings)]
RedisDep = Annotated[Redis, Depends(get_redis)]
CatalogueDep = Annotated[PlanCatalogue, Depends(get_catalogue)]
SessionDep = Annotated[AsyncSession, Depends(get_session, scope="function")]
