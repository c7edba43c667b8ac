"""`licensing-api plans sync` and `licensing-api customers create`."""

from __future__ import annotations

import typer

from licensing_api.billing.catalogue_sync import SyncOutcome, SyncStep, sync_catalogue
from licensing_api.billing.provisioning import already_provisioned, provision_local_customer
from licensing_api.billing.service import plan_spec
from licensing_api.billing.stripe_client import require_stripe
from licensing_api.billing.stripe_provisioning import provision_stripe_customer
from licensing_api.cli_support import cli_resources, echo_secret, fail_on_config_errors, run
from licensing_api.db import session_scope
from licensing_api.errors import BadRequest

customers_app = typer.Typer(help="Customers and their subscriptions.", no_args_is_help=True)
plans_app = typer.Typer(help="The plan catalogue and its Stripe objects.", no_args_is_help=True)

OUTCOME_STYLES = {
    SyncOutcome.CREATED: "green",
    SyncOutcome.UPDATED: "yellow",
    SyncOutcome.REPLACED: "magenta",
    SyncOutcome.KEPT: "dim",
}


@plans_app.command("sync")
def sync() -> None:
    """Create or update the Stripe products, meters and prices of the catalogue (idempotent)."""
    from rich.console import Console
    from rich.progress import Progress, SpinnerColumn, TextColumn

    console = Console(stderr=True, soft_wrap=True)

    async def go() -> list[SyncStep]:
        async with cli_resources() as resources:
            client = require_stripe(resources.stripe)
            with Progress(SpinnerColumn(), TextColumn("{task.description}"), console=console,
                          transient=True) as progress:
                task = progress.add_task("syncing plans with Stripe", total=None)

                def show(step: SyncStep) -> None:
                    style = OUTCOME_STYLES[step.outcome]
                    progress.console.print(
                        f"[{style}]{step.outcome.value:>8}[/] {step.plan_id:<24} "
                        f"{step.kind:<14} {step.stripe_id}"
                    )
                    progress.update(task, description=f"syncing {step.plan_id}")

                return await sync_catalogue(resources, client, show)

    steps = run(go())
    counts = {outcome: sum(1 for s in steps if s.outcome is outcome) for outcome in SyncOutcome}
    typer.echo(", ".join(f"{n} {outcome.value}" for outcome, n in counts.items()))


@customers_app.command("create")
def create(
    email: str = typer.Option(..., help="the customer's billing email"),
    plan: str = typer.Option(..., help="plan id from the catalogue, e.g. standard"),
) -> None:
    """Create a customer, its subscription and first API key; prints the customer id last."""

    email = _validated_email(email)

    async def go() -> None:
        async with cli_resources() as resources:
            spec = plan_spec(resources.catalogue, plan)
            async with session_scope(resources.sessionmaker) as session:
                if resources.stripe is None:
                    provisioned = await already_provisioned(session, email, spec.id) or \
                        await provision_local_customer(session, email, spec)
                else:
                    provisioned = await provision_stripe_customer(
                        session, resources.stripe, email, spec
                    )
        customer_id = provisioned.customer.id
        if provisioned.first_key is None:
            typer.echo(f"customer {customer_id} on plan {spec.id} already existed; its keys are "
                       f"unchanged (new key: licensing-api keys create --customer {customer_id})",
                       err=True)
        else:
            typer.echo(f"customer {customer_id} on plan {spec.id}; first API key (shown once):",
                       err=True)
            echo_secret(provisioned.first_key.secret)
        typer.echo(str(customer_id))

    run(go())


def _validated_email(email: str) -> str:
    from email_validator import EmailNotValidError, validate_email

    try:
        return validate_email(email, check_deliverability=False).normalized
    except EmailNotValidError as exc:
        with fail_on_config_errors():
            raise BadRequest(f"invalid email {email!r}: {exc}") from None
    raise AssertionError("unreachable")
