"""`licensing-api budgets show|set|clear CUSTOMER`: a customer's spend controls."""

from __future__ import annotations

import uuid

import typer

from licensing_api.billing.pricing import format_amount
from licensing_api.budgets.models import DEFAULT_THRESHOLDS
from licensing_api.budgets.schemas import BudgetChange, BudgetOut
from licensing_api.budgets.service import budget_overview, clear_budget, set_budget
from licensing_api.cli_support import cli_resources, embedded_redis_note, require_customer, run
from licensing_api.db import session_scope

budgets_app = typer.Typer(help="Customers' budgets: threshold notices and the hard stop.", no_args_is_help=True)

STALE_CACHE = "running workers apply the change when their cached records expire (ACCESS_CACHE_TTL_SECONDS)"


@budgets_app.command("show")
def show(customer_id: uuid.UUID = typer.Argument(..., help="the customer's id")) -> None:
    """The budget and where the current period stands against it."""

    async def go() -> BudgetOut:
        async with cli_resources() as resources:
            async with session_scope(resources.sessionmaker) as session:
                await require_customer(session, customer_id)
                return await budget_overview(session, resources, customer_id)

    echo_budget(run(go()))


@budgets_app.command("set")
def set_command(
    customer_id: uuid.UUID = typer.Argument(..., help="the customer's id"),
    amount: int = typer.Option(..., help="budget per period, in minor units of the plan's currency (cents)"),
    thresholds: str = typer.Option(",".join(map(str, DEFAULT_THRESHOLDS)),
                                   help="comma-separated percentages that send a notice, e.g. 50,80,100"),
    hard_stop: bool = typer.Option(False, "--hard-stop/--no-hard-stop",
                                   help="refuse requests that would take the bill past the budget (429)"),
) -> None:
    """Set (or replace) a customer's budget."""
    change = parse_change(amount, thresholds, hard_stop)

    async def go() -> BudgetOut:
        async with cli_resources() as resources:
            async with session_scope(resources.sessionmaker) as session:
                await set_budget(session, resources, customer_id, change)
            embedded_redis_note(resources, STALE_CACHE)
            async with session_scope(resources.sessionmaker) as session:
                return await budget_overview(session, resources, customer_id)

    echo_budget(run(go()))


@budgets_app.command("clear")
def clear(customer_id: uuid.UUID = typer.Argument(..., help="the customer's id")) -> None:
    """Remove a customer's budget (no more notices, no hard stop)."""

    async def go() -> None:
        async with cli_resources() as resources:
            async with session_scope(resources.sessionmaker) as session:
                await clear_budget(session, resources, customer_id)
            embedded_redis_note(resources, STALE_CACHE)

    run(go())
    typer.echo(f"customer {customer_id} has no budget now")


def parse_change(amount: int, thresholds: str, hard_stop: bool) -> BudgetChange:
    """The options as the API validates them; a bad value ends the command with one line."""
    from pydantic import ValidationError

    try:
        percents = [int(part) for part in thresholds.split(",") if part.strip()]
        return BudgetChange(amount=amount, thresholds=percents, hard_stop=hard_stop)
    except ValueError as exc:  # ValidationError is a ValueError
        reason = exc.errors()[0]["msg"] if isinstance(exc, ValidationError) else "use whole percentages, e.g. 50,80,100"
        typer.echo(f"error: invalid budget: {reason}", err=True)
        raise typer.Exit(2) from exc


def echo_budget(budget: BudgetOut) -> None:
    currency = budget.currency or "usd"
    money = (lambda amount: format_amount(amount, currency)) if budget.currency else str
    typer.echo(f"customer {budget.customer_id}: budget {money(budget.amount)} per period, "
               f"thresholds {', '.join(f'{t}%' for t in budget.thresholds) or 'none'}, "
               f"hard stop {'on' if budget.hard_stop else 'off'}")
    if budget.period_start is None or budget.estimated_amount is None:
        typer.echo("  no subscription yet: no period to measure")
        return
    typer.echo(f"  period {budget.period_start.isoformat()} → {budget.period_end.isoformat() if budget.period_end else '-'}: "
               f"estimated {money(budget.estimated_amount)}, remaining {money(budget.remaining_amount or 0)}")
    typer.echo(f"  reached: {', '.join(f'{t}%' for t in budget.thresholds_reached) or 'none'}; "
               f"notified: {', '.join(f'{t}%' for t in budget.thresholds_notified) or 'none'}")
    if budget.stops_at_units is not None:
        typer.echo(f"  the hard stop refuses requests past {budget.stops_at_units} units this period")
