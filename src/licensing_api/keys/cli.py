"""`licensing-api keys create|revoke`."""

from __future__ import annotations

import uuid

import typer

from licensing_api.cli_support import cli_resources, echo_secret, run
from licensing_api.db import session_scope
from licensing_api.keys.service import create_key, revoke_key_everywhere
from licensing_api.standards.cli import bind_bot_key

keys_app = typer.Typer(help="Crawler API keys.", no_args_is_help=True)
keys_app.command("bind-bot-key")(bind_bot_key)  # Web Bot Auth, standards/cli.py


@keys_app.command("create")
def create(
    customer: uuid.UUID = typer.Option(..., "--customer", help="customer id"),
    name: str | None = typer.Option(None, help="a label for the key"),
) -> None:
    """Create an API key; its secret is printed once, on a line of its own."""

    async def go() -> None:
        async with cli_resources() as resources:
            async with session_scope(resources.sessionmaker) as session:
                await _require_customer(session, customer)
                new_key = await create_key(session, customer, name=name)
        typer.echo(f"key {new_key.key.id} ({new_key.key.prefix}…) for customer {customer}; "
                   "the secret below is shown once:", err=True)
        echo_secret(new_key.secret)

    run(go())


@keys_app.command("revoke")
def revoke(key_id: uuid.UUID = typer.Argument(..., help="id of the key")) -> None:
    """Revoke a key; every worker refuses it within a second."""

    async def go() -> None:
        async with cli_resources() as resources:
            async with session_scope(resources.sessionmaker) as session:
                key = await revoke_key_everywhere(
                    session, resources.redis, resources.settings.redis_key_prefix, key_id
                )
        typer.echo(f"revoked key {key.id} ({key.prefix}…)")

    run(go())


async def _require_customer(session, customer_id: uuid.UUID) -> None:  # type: ignore[no-untyped-def]
    from licensing_api.accounts.models import Customer
    from licensing_api.errors import NotFound

    if await session.get(Customer, customer_id) is None:
        raise NotFound(f"no customer {customer_id}")
