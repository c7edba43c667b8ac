"""`GET /v1/usage`: the caller's current billing period (never metered)."""

from __future__ import annotations

from fastapi import APIRouter

from licensing_api.access.docs import authenticated_responses
from licensing_api.access.openapi import CRAWLER_SECURITY
from licensing_api.access.runtime import AuthenticatedKey, HotPathDep
from licensing_api.dependencies import ResourcesDep, SessionDep
from licensing_api.usage.schemas import UsageSummary
from licensing_api.usage.service import NoSubscriptionUsage, current_usage

router = APIRouter(prefix="/v1/usage", tags=["usage"])


@router.get(
    "",
    summary="Usage of the current billing period and the estimated bill",
    response_model=UsageSummary,
    responses=authenticated_responses(NoSubscriptionUsage),
    openapi_extra={"security": CRAWLER_SECURITY},
)
async def get_usage(
    record: AuthenticatedKey, session: SessionDep, resources: ResourcesDep, hot_path: HotPathDep
) -> UsageSummary:
    return await current_usage(
        session,
        resources.redis,
        resources.settings.redis_key_prefix,
        resources.catalogue,
        record.customer_id,
        hot_path.tally,
    )
