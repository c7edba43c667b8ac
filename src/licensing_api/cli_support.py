"""Shared plumbing of CLI commands: settings, resources, one-line errors."""

from __future__ import annotations

import asyncio
import shutil
import sys
import uuid
from collections.abc import AsyncIterator, Awaitable, Iterator
from contextlib import asynccontextmanager, contextmanager
from datetime import datetime
from pathlib import Path
from typing import TypeVar

import typer
from redis.exceptions import RedisError
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.ext.asyncio import AsyncSession

from licensing_api.accounts.models import Customer
from licensing_api.billing.plans import CatalogueError, load_catalogue
from licensing_api.db_errors import database_problem, without_password
from licensing_api.errors import NotFound, ProblemError
from licensing_api.resources import Resources, open_resources
from licensing_api.settings import SettingsError, load_settings, unknown_env_file_settings

T = TypeVar("T")


@contextmanager
def fail_on_config_errors() -> Iterator[None]:
    """Configuration and domain errors end the command with one line on stderr, exit 2."""
    try:
        yield
    except (SettingsError, CatalogueError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        sys.exit(2)
    except ProblemError as exc:
        print(f"error: {exc.detail}", file=sys.stderr)
        sys.exit(2)
    except RedisError as exc:
        where = without_password(load_settings().redis_url)
        print(f"error: cannot use Redis (REDIS_URL={where}): {exc}; start it or fix REDIS_URL",
              file=sys.stderr)
        sys.exit(2)
    except (SQLAlchemyError, OSError) as exc:
        problem = database_problem(exc, load_settings().database_url)
        if problem is None:
            raise
        print(f"error: {problem}", file=sys.stderr)
        sys.exit(2)


def warn_about_unknown_settings() -> None:
    for warning in unknown_env_file_settings():
        print(f"warning: {warning}", file=sys.stderr)


def run(awaitable: Awaitable[T]) -> T:
    with fail_on_config_errors():
        return asyncio.run(awaitable)  # type: ignore[arg-type]


@asynccontextmanager
async def cli_resources() -> AsyncIterator[Resources]:
    settings = load_settings()
    async with open_resources(settings, load_catalogue(settings.plans_file)) as resources:
        yield resources


def cli_command() -> str:
    """How the operator runs this CLI from where they are: `licensing-api` only if that is on
    PATH (a virtualenv's bin often is not), else the path they started it by."""
    started_as = Path(sys.argv[0])
    if started_as.name != "licensing-api":  # python -m licensing_api.cli
        return f"{sys.executable} -m licensing_api.cli"
    on_path = shutil.which("licensing-api")
    if on_path is not None and Path(on_path).resolve() == started_as.resolve():
        return "licensing-api"
    return str(started_as)


def echo_secret(secret: str) -> None:
    """A new key's secret: shown once, on a line of its own."""
    typer.echo(secret)


def embedded_redis_note(resources: Resources, consequence: str) -> bool:
    """With REDIS_URL=memory:// the counters and caches live inside the service process,
    out of this command's reach: say so (and what follows) on stderr. True if so."""
    if resources.settings.redis_url != "memory://":
        return False
    typer.echo(f"note: REDIS_URL=memory:// lives inside the running service, out of this "
               f"command's reach; {consequence}", err=True)
    return True


def redis_url_shown(resources: Resources) -> str:
    return f"REDIS_URL={without_password(resources.settings.redis_url)}"


def when(moment: datetime | None) -> str:
    """A timestamp for CLI tables: UTC, to the second; "-" for none."""
    return moment.strftime("%Y-%m-%d %H:%M:%SZ") if moment is not None else "-"


async def require_customer(session: AsyncSession, customer_id: uuid.UUID) -> Customer:
    customer = await session.get(Customer, customer_id)
    if customer is None:
        raise NotFound(f"no customer {customer_id}")
    return customer
