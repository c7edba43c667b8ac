"""`POST /v1/subscription/plan`: a crawler moves its own subscription to another plan."""

from __future__ import annotations

from fastapi import APIRouter

from licensing_api.access.docs import authenticated_responses
from licensing_api.access.openapi import CRAWLER_SECURITY
from licensing_api.access.runtime import AuthenticatedKey
from licensing_api.billing.errors import StripeRejected, StripeUnavailable
from licensing_api.billing.plan_change import (
    NoSubscriptionToChange,
    PlanChangeRefused,
    SamePlan,
    change_plan,
)
from licensing_api.billing.plan_schemas import PlanChangeOut, PlanChangeRequest
from licensing_api.billing.service import PlanNotFound, PlanNotSynced
from licensing_api.dependencies import ResourcesDep, SessionDep

router = APIRouter(prefix="/v1/subscription", tags=["subscription"])


@router.post(
    "/plan",
    summary="Change the plan: at the next period (default) or now, with prorations",
    description=(
        "`when=period_end` schedules the change for the end of the current billing period "
        "(asking for the current plan again cancels a waiting change). `when=now` switches at "
        "once: units served so far stay billed under the old plan, later units count under "
        "the new one, and the base fees are prorated by the second and invoiced now "
        "(`invoice_now`). `GET /v1/usage` shows a waiting change."
    ),
    response_model=PlanChangeOut,
    responses=authenticated_responses(
        PlanNotFound, NoSubscriptionToChange, SamePlan, PlanChangeRefused, PlanNotSynced,
        StripeUnavailable, StripeRejected,
    ),
    openapi_extra={"security": CRAWLER_SECURITY},
)
async def post_plan_change(
    body: PlanChangeRequest, record: AuthenticatedKey, session: SessionDep, resources: ResourcesDep,
) -> PlanChangeOut:
    result = await change_plan(session, resources, record.customer_id, body.plan, body.when,
                               source=f"api:key:{record.key_id_text}")
    return PlanChangeOut.of(result)
