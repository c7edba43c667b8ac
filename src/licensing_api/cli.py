"""The `licensing-api` command line: one sub-app per domain, registered here."""

from __future__ import annotations

import typer

from licensing_api.accounts import customers_cli  # noqa: F401  (registers customers list|show)
from licensing_api.accounts.cli import reconcile_command
from licensing_api.billing.cli import customers_app, plans_app
from licensing_api.billing.lifecycle_cli import change_plan_command, reinstate_command
from licensing_api.bots.cli import bots_app
from licensing_api.budgets.cli import budgets_app
from licensing_api.cli_support import fail_on_config_errors, warn_about_unknown_settings
from licensing_api.db_cli import db_app
from licensing_api.gateway.cli import gateway
from licensing_api.keys.cli import keys_app
from licensing_api.serve import serve
from licensing_api.standards.cli import crawlers_app
from licensing_api.usage.cli import usage_app

app = typer.Typer(
    name="licensing-api",
    help="License web content to AI crawlers and bill them through Stripe.",
    no_args_is_help=True,
    add_completion=False,
    rich_markup_mode=None,  # plain help: no `<bool>` type labels on flags
)
app.command("serve")(serve)
app.command("gateway")(gateway)
app.add_typer(db_app, name="db")
app.add_typer(plans_app, name="plans")
customers_app.command("change-plan")(change_plan_command)
customers_app.command("reinstate")(reinstate_command)
app.add_typer(customers_app, name="customers")
app.add_typer(keys_app, name="keys")
app.add_typer(bots_app, name="bots")
app.add_typer(budgets_app, name="budgets")
app.add_typer(usage_app, name="usage")
app.add_typer(crawlers_app, name="crawlers")
app.command("reconcile")(reconcile_command)


def main() -> None:
    with fail_on_config_errors():
        warn_about_unknown_settings()
        app()


if __name__ == "__main__":
    main()
