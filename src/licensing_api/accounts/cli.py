"""`licensing-api reconcile`: repair local subscription and account state from Stripe."""

from __future__ import annotations

import typer
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table
from sqlalchemy import func, select

from licensing_api.accounts.reconcile import ReconcileChange, ReconcileReport, reconcile
from licensing_api.accounts.stripe_sync import ENDED_STATUSES
from licensing_api.billing.models import Subscription
from licensing_api.billing.stripe_client import require_stripe
from licensing_api.cli_support import cli_resources, run
from licensing_api.db import session_scope


def reconcile_command() -> None:
    """Pull subscription state from Stripe and repair local state (missed webhooks)."""
    console = Console(stderr=True)

    async def go() -> ReconcileReport:
        async with cli_resources() as resources:
            require_stripe(resources.stripe)
            async with session_scope(resources.sessionmaker) as session:
                total = await session.scalar(
                    select(func.count()).select_from(Subscription).where(
                        Subscription.stripe_subscription_id.is_not(None),
                        Subscription.status.not_in(ENDED_STATUSES)))
            with Progress(TextColumn("reconciling"), BarColumn(), MofNCompleteColumn(),
                          TimeElapsedColumn(), console=console, transient=True) as progress:
                task = progress.add_task("subscriptions", total=total or 0)

                def advance(_: str, __: list[ReconcileChange]) -> None:
                    progress.advance(task)

                return await reconcile(resources, advance)

    report = run(go())
    print_summary(report)


def print_summary(report: ReconcileReport) -> None:
    console = Console()
    if report.changes:
        table = Table(title="Repaired from Stripe")
        for column in ("customer", "Stripe subscription", "change"):
            table.add_column(column)
        for change in report.changes:
            table.add_row(str(change.customer_id), change.stripe_subscription_id, change.change)
        console.print(table)
    for missing in report.missing_in_stripe:
        console.print(f"not found in Stripe (treated as canceled): {missing}")
    typer.echo(f"checked {report.checked} subscriptions, {len(report.changes)} changes")
