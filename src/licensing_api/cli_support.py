"""Shared plumbing of CLI commands: settings, resources, one-line errors."""

from __future__ import annotations

import asyncio
import shutil
import sys
from collections.abc import AsyncIterator, Awaitable, Iterator
from contextlib import asynccontextmanager, contextmanager
from pathlib import Path
from typing import TypeVar

import typer

from licensing_api.billing.plans import CatalogueError, load_catalogue
from licensing_api.errors import ProblemError
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
