from __future__ import annotations

import asyncio

from fastapi import APIRouter
from fastapi.responses import JSONResponse
from pydantic import BaseModel
from sqlalchemy import text

from licensing_api.dependencies import ResourcesDep

router = APIRouter(tags=["operations"])

READINESS_TIMEOUT_SECONDS = 2.0


class Health(BaseModel):
    status: str


class Readiness(BaseModel):
    status: str
    database: str
    redis: str


@router.get("/healthz", summary="Liveness: the process is up", response_model=Health)
async def healthz() -> Health:
    return Health(status="ok")


@router.get(
    "/readyz",
    summary="Readiness: the database and Redis answer",
    response_model=Readiness,
    responses={503: {"model": Readiness, "description": "a dependency does not answer"}},
)
async def readyz(resources: ResourcesDep) -> JSONResponse:
    database = await _check(_ping_database(resources))
    redis = await _check(resources.redis.ping())
    body = Readiness(
        status="ok" if database == redis == "ok" else "unavailable", database=database, redis=redis
    )
    return JSONResponse(body.model_dump(), status_code=200 if body.status == "ok" else 503)


async def _ping_database(resources: ResourcesDep) -> None:
    async with resources.engine.connect() as connection:
        await connection.execute(text("SELECT 1"))


async def _check(awaitable: object) -> str:
    try:
        await asyncio.wait_for(awaitable, READINESS_TIMEOUT_SECONDS)  # type: ignore[arg-type]
    except Exception as exc:  # noqa: BLE001 - readiness reports any failure, it never raises
        return f"error: {type(exc).__name__}"
    return "ok"
