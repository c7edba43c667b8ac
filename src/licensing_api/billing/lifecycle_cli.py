"""`licensing-api customers change-plan ID --plan P [--now]` and `customers reinstate ID`."""

from __future__ import annotations

import uuid

import typer

from licensing_api.billing.plan_change import ChangeWhen, change_plan
from licensing_api.billing.pricing import format_amount
from licensing_api.billing.reinstatement import reinstate
from licensing_api.cli_support import cli_resources, run
from licensing_api.db import session_scope


def change_plan_command(
    customer_id: uuid.UUID = typer.Argument(..., help="the customer's id"),
    plan: str = typer.Option(..., help="plan id from the catalogue, e.g. premium"),
    now: bool = typer.Option(False, "--now", help="switch at once, base fees prorated and "
                                                  "invoiced now (default: at the period end)"),
) -> None:
    """Move a customer to another plan (at the next period unless --now)."""

    async def go() -> None:
        async with cli_resources() as resources:
            async with session_scope(resources.sessionmaker) as session:
                result = await change_plan(session, resources, customer_id, plan,
                                           ChangeWhen.NOW if now else ChangeWhen.PERIOD_END, source="cli")
        if result.canceled_scheduled_change:
            typer.echo(f"customer {customer_id} stays on {result.to_plan}; the waiting change was canceled")
            return
        when = "now" if now else "from"
        typer.echo(f"customer {customer_id}: {result.from_plan} → {result.to_plan} {when} "
                   f"{result.effective_at.isoformat()}")
        if result.invoice_now is not None:
            for line in result.invoice_now.lines:
                typer.echo(f"  {line.description}: {format_amount(line.amount, result.invoice_now.currency)}")
            typer.echo(f"  invoiced now: {format_amount(result.invoice_now.total, result.invoice_now.currency)}")

    run(go())


def reinstate_command(
    customer_id: uuid.UUID = typer.Argument(..., help="the customer's id"),
    reason: str = typer.Option("reinstated by an operator", help="why; kept in the audit log"),
) -> None:
    """Reinstate a suspended or revoked account (a new subscription if the old one ended)."""

    async def go() -> None:
        async with cli_resources() as resources:
            async with session_scope(resources.sessionmaker) as session:
                done = await reinstate(session, resources, customer_id, reason=reason, source="cli")
        extra = f"; new subscription {done.subscription.stripe_subscription_id or done.subscription.id}" \
            if done.new_subscription else ""
        typer.echo(f"customer {customer_id} is active again on {done.subscription.plan_id}{extra}")

    run(go())
