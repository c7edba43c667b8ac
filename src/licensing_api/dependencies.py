"""Typed FastAPI dependencies: route signatures name what they need, nothing global."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Annotated

from fastapi import Depends, Request
from redis.asyncio import Redis
from sqlalchemy.ext.asyncio import AsyncSession

from licensing_api.billing.plans import PlanCatalogue
from licensing_api.db import session_scope
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


async def get_session(resources: ResourcesDep) -> AsyncIterator[AsyncSession]:
    """The request's unit of work: committed when the route returns, rolled back on error."""
    async with session_scope(resources.sessionmaker) as session:
        yield session


SettingsDep = Annotated[Settings, Depends(get_settings)]
RedisDep = Annotated[Redis, Depends(get_redis)]
CatalogueDep = Annotated[PlanCatalogue, Depends(get_catalogue)]
SessionDep = Annotated[AsyncSession, Depends(get_session)]
