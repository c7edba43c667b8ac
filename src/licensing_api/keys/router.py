"""`GET/POST /v1/keys`, `DELETE /v1/keys/{id}`: a crawler manages its own customer's keys."""

from __future__ import annotations

import uuid

from fastapi import APIRouter, status

from licensing_api.access.docs import authenticated_responses
from licensing_api.access.openapi import CRAWLER_SECURITY
from licensing_api.access.runtime import AuthenticatedKey
from licensing_api.dependencies import ResourcesDep, SessionDep
from licensing_api.keys.schemas import KeyCreate, KeyList, KeyOut, NewKeyOut
from licensing_api.keys.service import (
    KeyNotFound,
    TooManyKeys,
    create_customer_key,
    list_keys,
    revoke_key_everywhere,
)

router = APIRouter(prefix="/v1/keys", tags=["keys"])


@router.get(
    "",
    summary="List the customer's keys (prefix only, never the secret)",
    response_model=KeyList,
    responses=authenticated_responses(),
    openapi_extra={"security": CRAWLER_SECURITY},
)
async def get_keys(record: AuthenticatedKey, session: SessionDep) -> KeyList:
    keys = await list_keys(session, record.customer_id)
    return KeyList(items=[KeyOut.model_validate(key) for key in keys])


@router.post(
    "",
    summary="Create a key; its secret is in this response only",
    response_model=NewKeyOut,
    status_code=status.HTTP_201_CREATED,
    responses=authenticated_responses(TooManyKeys),
    openapi_extra={"security": CRAWLER_SECURITY},
)
async def post_key(
    record: AuthenticatedKey, session: SessionDep, body: KeyCreate | None = None
) -> NewKeyOut:
    new_key = await create_customer_key(session, record.customer_id, name=body.name if body else None)
    return NewKeyOut.model_validate({**KeyOut.model_validate(new_key.key).model_dump(), "secret": new_key.secret})


@router.delete(
    "/{key_id}",
    summary="Revoke one of the customer's keys; every worker refuses it within a second",
    response_model=KeyOut,
    responses=authenticated_responses(KeyNotFound),
    openapi_extra={"security": CRAWLER_SECURITY},
)
async def delete_key(
    key_id: uuid.UUID, record: AuthenticatedKey, session: SessionDep, resources: ResourcesDep
) -> KeyOut:
    key = await revoke_key_everywhere(
        session, resources.redis, resources.settings.redis_key_prefix, key_id, record.customer_id
    )
    return KeyOut.model_validate(key)
