"""`POST/GET /v1/bots`, `DELETE /v1/bots/{id}`: a customer registers its crawlers' Web Bot
Auth identities, so their signed requests are its licensed requests without an API key."""

from __future__ import annotations

import uuid
from typing import Annotated

from fastapi import APIRouter, Depends, Request, status

from licensing_api.access.docs import authenticated_responses
from licensing_api.access.openapi import CRAWLER_SECURITY
from licensing_api.access.runtime import AuthenticatedKey
from licensing_api.bots.runtime import BotsRuntime
from licensing_api.bots.schemas import BotCreate, BotList, BotOut
from licensing_api.bots.service import (
    BotKeyTaken,
    BotNotFound,
    InvalidBotRegistration,
    TooManyBots,
    delete_bot,
    list_bots,
    register_bot,
)
from licensing_api.dependencies import ResourcesDep, SessionDep

router = APIRouter(prefix="/v1/bots", tags=["bots"])


def get_bots_runtime(request: Request) -> BotsRuntime:
    return request.state.bots  # type: ignore[no-any-return]


BotsRuntimeDep = Annotated[BotsRuntime, Depends(get_bots_runtime)]


@router.post(
    "",
    summary="Register a bot by its key directory or public JWKs",
    response_model=BotOut,
    status_code=status.HTTP_201_CREATED,
    responses=authenticated_responses(InvalidBotRegistration, BotKeyTaken, TooManyBots),
    openapi_extra={"security": CRAWLER_SECURITY},
)
async def post_bot(
    body: BotCreate, record: AuthenticatedKey, session: SessionDep, resources: ResourcesDep,
    bots: BotsRuntimeDep,
) -> BotOut:
    view = await register_bot(
        session, resources.redis, resources.settings.redis_key_prefix, bots.fetcher, record.customer_id,
        name=body.name, directory_url=body.directory_url, jwks=body.keys,
    )
    return BotOut.of(view)


@router.get(
    "",
    summary="List the customer's registered bots and their keys",
    response_model=BotList,
    responses=authenticated_responses(),
    openapi_extra={"security": CRAWLER_SECURITY},
)
async def get_bots(record: AuthenticatedKey, session: SessionDep) -> BotList:
    return BotList(items=[BotOut.of(view) for view in await list_bots(session, record.customer_id)])


@router.delete(
    "/{bot_id}",
    summary="Delete a bot; every worker refuses its signatures within a second",
    status_code=status.HTTP_204_NO_CONTENT,
    responses=authenticated_responses(BotNotFound),
    openapi_extra={"security": CRAWLER_SECURITY},
)
async def remove_bot(
    bot_id: uuid.UUID, record: AuthenticatedKey, session: SessionDep, resources: ResourcesDep
) -> None:
    await delete_bot(session, resources.redis, resources.settings.redis_key_prefix, bot_id, record.customer_id)
