"""`licensing-api customers list|show`: what an operator looks at first.

Registered on the `customers` group of `billing/cli.py`, next to `customers create`.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from typing import Any

import typer
from sqlalchemy.ext.asyncio import AsyncSession

from licensing_api.accounts.models import AccountState
from licensing_api.admin.service import customer_detail, customers_query
from licensing_api.billing.cli import customers_app
from licensing_api.cli_support import cli_resources, embedded_redis_note, run, when
from licensing_api.db import session_scope
from licensing_api.resources import Resources
from licensing_api.usage.schemas import UsageSummary
from licensing_api.usage.service import NoSubscriptionUsage, current_usage

AUDIT_LINES_SHOWN = 10


@dataclass(frozen=True, slots=True)
class CustomerLine:
    id: uuid.UUID
    email: str
    state: str
    usage: UsageSummary | None  # None: no subscription with usage


@customers_app.command("list")
def list_command(
    state: AccountState | None = typer.Option(None, help="only accounts in this state"),
) -> None:
    """Every customer: id, email, state, plan and units this period."""

    async def go() -> tuple[list[CustomerLine], bool]:
        async with cli_resources() as resources:
            blind = embedded_redis_note(resources, "units this period are shown as ?")
            async with session_scope(resources.sessionmaker) as session:
                customers = list(await session.scalars(customers_query(state, None)))
                return [CustomerLine(c.id, c.email, c.state, await _usage(session, resources, c.id))
                        for c in customers], blind

    lines, blind = run(go())
    typer.echo(f"{'id':<36}  {'state':<10} {'plan':<16} {'units':>10}  email")
    for line in lines:
        plan = line.usage.plan_id if line.usage else "-"
        units = "-" if line.usage is None else "?" if blind else str(line.usage.units)
        typer.echo(f"{line.id!s:<36}  {line.state:<10} {plan:<16} {units:>10}  {line.email}")
    typer.echo(f"{len(lines)} customers")


@customers_app.command("show")
def show(customer_id: uuid.UUID = typer.Argument(..., metavar="ID", help="customer id")) -> None:
    """One customer: account state, subscription, usage this period, keys and audit log."""

    async def go() -> tuple[dict[str, Any], UsageSummary | None, bool]:
        async with cli_resources() as resources:
            blind = embedded_redis_note(resources, "units this period are not shown")
            async with session_scope(resources.sessionmaker) as session:
                detail = await customer_detail(session, customer_id)
                return detail, await _usage(session, resources, customer_id), blind

    detail, usage, blind = run(go())
    grace = f" (grace until {when(detail['grace_until'])})" if detail["grace_until"] else ""
    typer.echo(f"customer   {detail['id']}  {detail['email']}")
    typer.echo(f"state      {detail['state']}{grace}")
    typer.echo(f"stripe     {detail['stripe_customer_id'] or '- (billing off when created)'}")
    typer.echo(f"created    {when(detail['created_at'])}")
    for subscription in detail["subscriptions"]:
        typer.echo(f"plan       {subscription.plan_id}: subscription {subscription.id} "
                   f"{subscription.status}, period {when(subscription.current_period_start)} → "
                   f"{when(subscription.current_period_end)}")
    if usage is not None and not blind:
        typer.echo(f"usage      {usage.units} units this period, {usage.included_units} included, "
                   f"{usage.overage_units} over; estimated {usage.estimated_amount_display}")
    typer.echo(f"keys       {len(detail['keys'])}")
    for key in detail["keys"]:
        typer.echo(f"  {key.id}  {key.prefix}…  {key.status:<8} last used {when(key.last_used_at)}"
                   f"  {key.name or ''}")
    audit = detail["audit_log"][-AUDIT_LINES_SHOWN:]
    typer.echo(f"audit log  {len(detail['audit_log'])} entries" + (", newest shown" if audit else ""))
    for entry in audit:
        typer.echo(f"  {when(entry.created_at)}  {entry.from_state or '-'} → {entry.to_state}  "
                   f"{entry.reason} ({entry.source})")


async def _usage(session: AsyncSession, resources: Resources, customer_id: uuid.UUID) -> UsageSummary | None:
    try:
        return await current_usage(session, resources.redis, resources.settings.redis_key_prefix,
                                   resources.catalogue, customer_id)
    except NoSubscriptionUsage:
        return None
