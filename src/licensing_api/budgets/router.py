"""`GET/PUT/DELETE /v1/budget`: a crawler's own spend controls (never metered)."""

from __future__ import annotations

from fastapi import APIRouter, Response

from licensing_api.access.docs import authenticated_responses
from licensing_api.access.openapi import CRAWLER_SECURITY
from licensing_api.access.runtime import AuthenticatedKey, HotPathDep
from licensing_api.budgets.schemas import BudgetChange, BudgetOut
from licensing_api.budgets.service import BudgetNotSet, budget_overview, clear_budget, set_budget
from licensing_api.dependencies import ResourcesDep, SessionDep

router = APIRouter(prefix="/v1/budget", tags=["budget"])

BUDGET_DESCRIPTION = (
    "A budget per billing period, in minor units of the plan's currency, against the period's "
    "estimated bill (base fee plus metered usage, the tier math of `GET /v1/usage` and the "
    "invoice). Each threshold reached sends one `budget_threshold` notice per period. With "
    "`hard_stop`, a request whose price would take the estimated bill past the budget is "
    "refused with `429 spend-cap-reached` until the period ends (`Retry-After`)."
)


@router.get(
    "",
    summary="The budget and where the current period stands against it",
    description=BUDGET_DESCRIPTION,
    response_model=BudgetOut,
    responses=authenticated_responses(BudgetNotSet),
    openapi_extra={"security": CRAWLER_SECURITY},
)
async def get_budget(
    record: AuthenticatedKey, session: SessionDep, resources: ResourcesDep, hot_path: HotPathDep
) -> BudgetOut:
    return await budget_overview(session, resources, record.customer_id, hot_path.tally)


@router.put(
    "",
    summary="Set the budget per period, its alert thresholds and the hard stop",
    description=BUDGET_DESCRIPTION,
    response_model=BudgetOut,
    responses=authenticated_responses(),
    openapi_extra={"security": CRAWLER_SECURITY},
)
async def put_budget(
    body: BudgetChange, record: AuthenticatedKey, session: SessionDep, resources: ResourcesDep,
    hot_path: HotPathDep,
) -> BudgetOut:
    await set_budget(session, resources, record.customer_id, body)
    return await budget_overview(session, resources, record.customer_id, hot_path.tally)


@router.delete(
    "",
    summary="Remove the budget: no more notices, no hard stop",
    status_code=204,
    responses=authenticated_responses(BudgetNotSet),
    openapi_extra={"security": CRAWLER_SECURITY},
)
async def delete_budget(record: AuthenticatedKey, session: SessionDep, resources: ResourcesDep) -> Response:
    await clear_budget(session, resources, record.customer_id)
    return Response(status_code=204)
