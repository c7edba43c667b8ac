"""`licensing-api bots add --customer C (--directory URL | --jwk FILE)`, `bots list`, `bots delete`."""

from __future__ import annotations

import uuid
from pathlib import Path
from typing import Any

import typer

from licensing_api.bots.directory import KeyDirectoryFetcher, directory_ssl_context
from licensing_api.bots.service import (
    InvalidBotRegistration,
    delete_bot,
    jwks_from_json,
    list_bots,
    register_bot,
)
from licensing_api.cli_support import cli_resources, run
from licensing_api.db import session_scope

bots_app = typer.Typer(help="Verified bots (Web Bot Auth) of customers.", no_args_is_help=True)


@bots_app.command("add")
def add(
    customer: uuid.UUID = typer.Option(..., "--customer", help="customer id"),
    directory: str | None = typer.Option(None, "--directory", help="the bot's key directory URL (https)"),
    jwk: Path | None = typer.Option(
        None, "--jwk", exists=True, dir_okay=False, help="the bot's public key(s): a JWK or a JWKS file",
    ),
    name: str = typer.Option("bot", help="a label for the bot"),
) -> None:
    """Register a bot: its signed requests become the customer's licensed requests."""
    if (directory is None) == (jwk is None):
        raise typer.BadParameter("give --directory URL or --jwk FILE")
    jwks = read_jwks(jwk) if jwk is not None else None

    async def go() -> None:
        async with cli_resources() as resources:
            settings = resources.settings
            fetcher = KeyDirectoryFetcher(directory_ssl_context(settings.bot_directory_ca_file))
            try:
                async with session_scope(resources.sessionmaker) as session:
                    view = await register_bot(
                        session, resources.redis, settings.redis_key_prefix, fetcher, customer,
                        name=name, directory_url=directory, jwks=jwks,
                    )
            finally:
                await fetcher.aclose()
        keyids = ", ".join(key.thumbprint for key in view.keys)
        typer.echo(f"bot {view.bot.id} ({view.bot.name}) for customer {customer}; keyids: {keyids}")

    run(go())


@bots_app.command("list")
def list_command(customer: uuid.UUID = typer.Option(..., "--customer", help="customer id")) -> None:
    """The customer's active bots, one per line."""

    async def go() -> None:
        async with cli_resources() as resources:
            async with session_scope(resources.sessionmaker) as session:
                views = await list_bots(session, customer)
        for view in views:
            source = view.bot.directory_url or "uploaded keys"
            typer.echo(f"{view.bot.id}  {view.bot.name}  {source}  "
                       + " ".join(key.thumbprint for key in view.keys))

    run(go())


@bots_app.command("delete")
def delete(bot_id: uuid.UUID = typer.Argument(..., help="id of the bot")) -> None:
    """Delete a bot: every worker refuses its signatures within a second."""

    async def go() -> None:
        async with cli_resources() as resources:
            async with session_scope(resources.sessionmaker) as session:
                bot = await delete_bot(session, resources.redis, resources.settings.redis_key_prefix, bot_id)
        typer.echo(f"bot {bot.id} deleted")

    run(go())


def read_jwks(path: Path) -> list[dict[str, Any]]:
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise InvalidBotRegistration(f"{path}: {exc.strerror}") from None
    return jwks_from_json(text)
