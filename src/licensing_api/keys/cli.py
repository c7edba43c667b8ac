"""`licensing-api keys create|list|revoke`."""

from __future__ import annotations

import asyncio
import uuid

import typer
from redis.exceptions import RedisError

from licensing_api.access.invalidation import publish_invalidation
from licensing_api.cli_support import (
    cli_resources, echo_secret, embedded_redis_note, redis_url_shown, require_customer, run, when,
)
from licensing_api.db import session_scope
from licensing_api.keys.models import ApiKey, KeyStatus
from licensing_api.keys.service import create_key, find_key, list_keys, revoke_key
from licensing_api.resources import Resources
from licensing_api.standards.cli import bind_bot_key

keys_app = typer.Typer(help="Crawler API keys.", no_args_is_help=True)
keys_app.command("bind-bot-key")(bind_bot_key)  # Web Bot Auth, standards/cli.py

# Publishing a revocation is retried this many times, waiting longer each time (seconds).
PUBLISH_RETRY_DELAYS = (0.25, 0.5, 1.0, 2.0)


@keys_app.command("create")
def create(
    customer: uuid.UUID = typer.Option(..., "--customer", help="customer id"),
    name: str | None = typer.Option(None, help="a label for the key"),
) -> None:
    """Create an API key; its secret is printed once, on a line of its own."""

    async def go() -> None:
        async with cli_resources() as resources:
            async with session_scope(resources.sessionmaker) as session:
                await require_customer(session, customer)
                new_key = await create_key(session, customer, name=name)
        typer.echo(f"key {new_key.key.id} ({new_key.key.prefix}…) for customer {customer}; "
                   "the secret below is shown once:", err=True)
        echo_secret(new_key.secret)

    run(go())


@keys_app.command("list")
def list_command(customer: uuid.UUID = typer.Option(..., "--customer", help="customer id")) -> None:
    """A customer's keys: id, prefix, status, last used (never the secret)."""

    async def go() -> list[ApiKey]:
        async with cli_resources() as resources:
            async with session_scope(resources.sessionmaker) as session:
                await require_customer(session, customer)
                return await list_keys(session, customer)

    keys = run(go())
    typer.echo(f"{'id':<36}  {'prefix':<12} {'status':<8} {'last_used':<20} {'created':<20} name")
    for key in keys:
        typer.echo(f"{key.id!s:<36}  {key.prefix + '…':<12} {key.status:<8} "
                   f"{when(key.last_used_at):<20} {when(key.created_at):<20} {key.name or ''}")
    typer.echo(f"{len(keys)} keys, {sum(k.status == KeyStatus.ACTIVE for k in keys)} active")


@keys_app.command("revoke")
def revoke(
    key_reference: str = typer.Argument(
        ..., metavar="KEY", help="the key's id or its prefix (lk_…, unique among all keys)"
    ),
) -> None:
    """Revoke a key; every worker refuses it within a second."""

    async def go() -> None:
        async with cli_resources() as resources:
            async with session_scope(resources.sessionmaker) as session:
                key = await find_key(session, key_reference)
                already = key.status == KeyStatus.REVOKED
                if not already:
                    await revoke_key(session, key.id)
            if already:
                typer.echo(f"key {key.id} ({key.prefix}…) was already revoked at "
                           f"{when(key.revoked_at)}; nothing changed")
            else:
                typer.echo(f"revoked key {key.id} ({key.prefix}…)")
            # Published again for a key revoked before: that is how an earlier run whose
            # message never went out is completed.
            await _tell_every_worker(resources, key)

    run(go())


async def _tell_every_worker(resources: Resources, key: ApiKey) -> None:
    """Publish the key's invalidation (retried); say plainly when it could not be sent."""
    ttl = resources.settings.access_cache_ttl_seconds
    if embedded_redis_note(resources, f"the running service refuses the key once its cache "
                                      f"entry expires (ACCESS_CACHE_TTL_SECONDS={ttl:g} s)"):
        return
    error: Exception | None = None
    for delay in (0.0, *PUBLISH_RETRY_DELAYS):
        await asyncio.sleep(delay)
        try:
            await publish_invalidation(
                resources.redis, resources.settings.redis_key_prefix, key_digest=key.digest
            )
            return
        except (RedisError, OSError) as exc:
            error = exc
    typer.echo(
        f"warning: the revocation is saved but not yet propagated: Redis ({redis_url_shown(resources)}) "
        f"is unreachable ({type(error).__name__}: {error}); workers that cached the key accept it "
        f"for at most ACCESS_CACHE_TTL_SECONDS={ttl:g} s more (a worker that loses Redis drops "
        "its whole cache at once); run this command again to retry",
        err=True,
    )
    raise typer.Exit(1)
