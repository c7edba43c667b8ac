"""`licensing-api customers create`."""

from __future__ import annotations

import typer

from licensing_api.billing.provisioning import provision_local_customer
from licensing_api.cli_support import cli_resources, echo_secret, fail_on_config_errors, run
from licensing_api.db import session_scope
from licensing_api.errors import BadRequest, NotFound

customers_app = typer.Typer(help="Customers and their subscriptions.", no_args_is_help=True)


@customers_app.command("create")
def create(
    email: str = typer.Option(..., help="the customer's billing email"),
    plan: str = typer.Option(..., help="plan id from the catalogue, e.g. standard"),
) -> None:
    """Create a customer, its subscription and first API key; prints the customer id last."""

    email = _validated_email(email)

    async def go() -> None:
        async with cli_resources() as resources:
            spec = resources.catalogue.get(plan)
            if spec is None:
                choices = ", ".join(p.id for p in resources.catalogue)
                raise NotFound(f"no plan {plan!r}; choose one of: {choices}")
            async with session_scope(resources.sessionmaker) as session:
                provisioned = await provision_local_customer(session, email, spec)
        typer.echo(f"customer {provisioned.customer.id} on plan {spec.id}; first API key "
                   "(shown once):", err=True)
        echo_secret(provisioned.first_key.secret)
        typer.echo(str(provisioned.customer.id))

    run(go())


def _validated_email(email: str) -> str:
    from email_validator import EmailNotValidError, validate_email

    try:
        return validate_email(email, check_deliverability=False).normalized
    except EmailNotValidError as exc:
        with fail_on_config_errors():
            raise BadRequest(f"invalid email {email!r}: {exc}") from None
    raise AssertionError("unreachable")
