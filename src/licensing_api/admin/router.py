"""`/admin/*`: thin routes over `admin/service.py`, all behind `require_admin`."""

from __future__ import annotations

import uuid
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Path, Query

from licensing_api.accounts.models import AccountState
from licensing_api.admin import service
from licensing_api.admin.auth import AdminApiOff, AdminUnauthorized, require_admin
from licensing_api.admin.schemas import (
    CustomerDetail, CustomerOut, AdminKeyOut, Page, PlanOut, ReinstateOut, ReinstateRequest,
    RetryResult, StateChange, SubscriptionDetail, SubscriptionOut, UsageReportOut,
)
from licensing_api.billing.errors import StripeRejected, StripeUnavailable
from licensing_api.billing.plan_change import (
    NoSubscriptionToChange, PlanChangeRefused, SamePlan, change_plan,
)
from licensing_api.billing.plan_schemas import PlanChangeOut, PlanChangeRequest
from licensing_api.billing.reinstatement import NotReinstatable, reinstate
from licensing_api.billing.service import PlanNotFound, PlanNotSynced
from licensing_api.budgets.schemas import BudgetChange, BudgetOut, BudgetRemoved
from licensing_api.budgets.service import BudgetNotSet, budget_overview, clear_budget, set_budget
from licensing_api.dependencies import CatalogueDep, ResourcesDep, SessionDep
from licensing_api.errors import ProblemError, problem_responses
from licensing_api.keys.models import KeyStatus
from licensing_api.keys.service import KeyNotFound
from licensing_api.plain_text import plain_text
from licensing_api.usage.models import ReportState

router = APIRouter(prefix="/admin", tags=["admin"], dependencies=[Depends(require_admin)])


def admin_errors(*errors: type[ProblemError], **examples: str) -> dict[int | str, dict[str, Any]]:
    """OpenAPI responses of a route: its own errors plus the admin authentication errors."""
    return problem_responses(
        AdminUnauthorized, AdminApiOff, *errors,
        AdminApiOff="the admin API is off; set ADMIN_TOKEN to turn it on", **examples,
    )

Limit = Annotated[int, Query(ge=1, le=500, description="page size")]
Offset = Annotated[int, Query(ge=0, le=10_000_000, description="items to skip")]
ReportId = Annotated[str, Path(min_length=1, max_length=100, description="the report's id")]


@router.get(
    "/customers", summary="List customers", response_model=Page[CustomerOut],
    responses=admin_errors(),
)
async def list_customers(
    session: SessionDep,
    state: Annotated[AccountState | None, Query(description="only accounts in this state")] = None,
    email: Annotated[plain_text(320) | None, Query(description="exact email")] = None,
    limit: Limit = 100,
    offset: Offset = 0,
) -> Page[CustomerOut]:
    rows, next_offset = await service.page_of(
        session, service.customers_query(state, email), limit, offset
    )
    return Page(items=rows, limit=limit, offset=offset, next_offset=next_offset)  # type: ignore[arg-type]


@router.get(
    "/customers/{customer_id}",
    summary="One customer with subscriptions, keys and audit log",
    response_model=CustomerDetail,
    responses=admin_errors(service.CustomerNotFound),
)
async def get_customer(customer_id: uuid.UUID, session: SessionDep) -> CustomerDetail:
    return CustomerDetail.model_validate(await service.customer_detail(session, customer_id))


@router.post(
    "/customers/{customer_id}/state",
    summary="Change an account's state (audited; every worker's cache is invalidated)",
    response_model=CustomerOut,
    responses=admin_errors(
        service.CustomerNotFound, service.TransitionNotAllowed,
        TransitionNotAllowed="an account cannot go from revoked to active",
    ),
)
async def change_customer_state(
    customer_id: uuid.UUID, change: StateChange, session: SessionDep, resources: ResourcesDep
) -> CustomerOut:
    customer = await service.set_customer_state(
        session, resources, customer_id, change.state, change.reason
    )
    return CustomerOut.model_validate(customer)


@router.post(
    "/customers/{customer_id}/plan",
    summary="Change a customer's plan: at the next period (default) or now, with prorations",
    response_model=PlanChangeOut,
    responses=admin_errors(
        service.CustomerNotFound, PlanNotFound, NoSubscriptionToChange, SamePlan, PlanChangeRefused,
        PlanNotSynced,
        StripeUnavailable, StripeRejected,
    ),
)
async def change_customer_plan(
    customer_id: uuid.UUID, change: PlanChangeRequest, session: SessionDep, resources: ResourcesDep
) -> PlanChangeOut:
    result = await change_plan(session, resources, customer_id, change.plan, change.when, source="admin")
    return PlanChangeOut.of(result)


@router.post(
    "/customers/{customer_id}/reinstate",
    summary="Reinstate a suspended or revoked account (audited; a new subscription if it ended)",
    response_model=ReinstateOut,
    responses=admin_errors(
        service.CustomerNotFound, NotReinstatable, PlanNotSynced, StripeUnavailable, StripeRejected,
        NotReinstatable="the account is active: only a suspended or revoked account can be reinstated",
    ),
)
async def reinstate_customer(
    customer_id: uuid.UUID, body: ReinstateRequest, session: SessionDep, resources: ResourcesDep
) -> ReinstateOut:
    done = await reinstate(session, resources, customer_id, reason=body.reason, source="admin")
    return ReinstateOut(customer=CustomerOut.model_validate(done.customer),
                        subscription=SubscriptionOut.model_validate(done.subscription),
                        new_subscription=done.new_subscription)


@router.get(
    "/subscriptions", summary="List subscriptions", response_model=Page[SubscriptionOut],
    responses=admin_errors(),
)
async def list_subscriptions(
    session: SessionDep,
    customer_id: Annotated[uuid.UUID | None, Query(description="only this customer's")] = None,
    status: Annotated[plain_text(32) | None, Query(description="Stripe status")] = None,
    limit: Limit = 100,
    offset: Offset = 0,
) -> Page[SubscriptionOut]:
    rows, next_offset = await service.page_of(
        session, service.subscriptions_query(customer_id, status), limit, offset
    )
    return Page(items=rows, limit=limit, offset=offset, next_offset=next_offset)  # type: ignore[arg-type]


@router.get(
    "/subscriptions/{subscription_id}",
    summary="One subscription with its items",
    response_model=SubscriptionDetail,
    responses=admin_errors(service.SubscriptionNotFound),
)
async def get_subscription(subscription_id: uuid.UUID, session: SessionDep) -> SubscriptionDetail:
    return SubscriptionDetail.model_validate(await service.subscription_detail(session, subscription_id))


@router.get(
    "/keys", summary="List API keys (prefixes only)", response_model=Page[AdminKeyOut],
    responses=admin_errors(),
)
async def list_keys(
    session: SessionDep,
    customer_id: Annotated[uuid.UUID | None, Query(description="only this customer's")] = None,
    status: Annotated[KeyStatus | None, Query(description="active or revoked")] = None,
    limit: Limit = 100,
    offset: Offset = 0,
) -> Page[AdminKeyOut]:
    rows, next_offset = await service.page_of(
        session, service.keys_query(customer_id, status), limit, offset
    )
    return Page(items=rows, limit=limit, offset=offset, next_offset=next_offset)  # type: ignore[arg-type]


@router.post(
    "/keys/{key_id}/revoke",
    summary="Revoke a key now, in every worker (idempotent)",
    response_model=AdminKeyOut,
    responses=admin_errors(KeyNotFound),
)
async def revoke_key(key_id: uuid.UUID, session: SessionDep, resources: ResourcesDep) -> AdminKeyOut:
    return AdminKeyOut.model_validate(await service.revoke_key(session, resources, key_id))


@router.get(
    "/plans", summary="The plan catalogue and its Stripe objects", response_model=list[PlanOut],
    responses=admin_errors(),
)
async def list_plans(session: SessionDep, catalogue: CatalogueDep) -> list[PlanOut]:
    return [PlanOut.model_validate(plan) for plan in await service.plans(session, catalogue)]


@router.get(
    "/usage-reports",
    summary="List usage reports (the flush ledger), newest first",
    response_model=Page[UsageReportOut],
    responses=admin_errors(),
)
async def list_usage_reports(
    session: SessionDep,
    state: Annotated[ReportState | None, Query(description="e.g. failed")] = None,
    subscription_item_id: Annotated[uuid.UUID | None, Query(description="one item's")] = None,
    limit: Limit = 100,
    offset: Offset = 0,
) -> Page[UsageReportOut]:
    rows, next_offset = await service.page_of(
        session, service.usage_reports_query(state, subscription_item_id), limit, offset
    )
    return Page(items=rows, limit=limit, offset=offset, next_offset=next_offset)  # type: ignore[arg-type]


@router.post(
    "/usage-reports/{report_id}/retry",
    summary="Send a failed report again at the next flush",
    response_model=UsageReportOut,
    responses=admin_errors(
        service.UsageReportNotFound, service.ReportNotFailed,
        ReportNotFailed="usage report … is sent, not failed",
    ),
)
async def retry_usage_report(report_id: ReportId, session: SessionDep) -> UsageReportOut:
    return UsageReportOut.model_validate(await service.retry_report(session, report_id))


@router.post(
    "/usage-reports/retry-failed",
    summary="Send every failed report again at the next flush",
    response_model=RetryResult,
    responses=admin_errors(),
)
async def retry_failed_usage_reports(session: SessionDep) -> RetryResult:
    return RetryResult(retried=await service.retry_failed_reports(session))


@router.get(
    "/customers/{customer_id}/budget",
    summary="A customer's budget and where the current period stands against it",
    response_model=BudgetOut,
    responses=admin_errors(BudgetNotSet),
)
async def get_customer_budget(customer_id: uuid.UUID, session: SessionDep, resources: ResourcesDep) -> BudgetOut:
    return await budget_overview(session, resources, customer_id)


@router.put(
    "/customers/{customer_id}/budget",
    summary="Set a customer's budget, thresholds and hard stop (every worker's cache is invalidated)",
    response_model=BudgetOut,
    responses=admin_errors(service.CustomerNotFound),
)
async def put_customer_budget(
    customer_id: uuid.UUID, change: BudgetChange, session: SessionDep, resources: ResourcesDep
) -> BudgetOut:
    await set_budget(session, resources, customer_id, change)
    return await budget_overview(session, resources, customer_id)


@router.delete(
    "/customers/{customer_id}/budget",
    summary="Remove a customer's budget (no more notices, no hard stop)",
    response_model=BudgetRemoved,
    responses=admin_errors(BudgetNotSet),
)
async def delete_customer_budget(customer_id: uuid.UUID, session: SessionDep, resources: ResourcesDep) -> BudgetRemoved:
    await clear_budget(session, resources, customer_id)
    return BudgetRemoved(customer_id=customer_id)
