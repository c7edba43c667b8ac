"""Run `licensing-api usage flush` as a real process, configured only through its environment."""

from __future__ import annotations

import asyncio
import os
import sys
from dataclasses import dataclass
from pathlib import Path

from licensing_api.settings import Settings

FLUSH_TIMEOUT_SECONDS = 60


@dataclass(frozen=True, slots=True)
class Finished:
    returncode: int
    stdout: str
    stderr: str


def environment(settings: Settings, **extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k in ("PATH", "HOME", "LANG", "TMPDIR")}
    env.update(
        DATABASE_URL=settings.database_url,
        REDIS_URL=settings.redis_url,
        REDIS_KEY_PREFIX=settings.redis_key_prefix,
        PLANS_FILE=str(settings.plans_file),
        LOG_LEVEL="warning",
    )
    if settings.stripe_api_key is not None:
        env["STRIPE_API_KEY"] = settings.stripe_api_key.get_secret_value()
    if settings.stripe_api_base:
        env["STRIPE_API_BASE"] = settings.stripe_api_base
    env.update(extra)
    return env


async def start_cli(settings: Settings, cwd: Path, *args: str, **env: str) -> asyncio.subprocess.Process:
    return await asyncio.create_subprocess_exec(
        sys.executable, "-m", "licensing_api.cli", *args, cwd=cwd,
        env=environment(settings, **env),
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE,
    )


async def finish(process: asyncio.subprocess.Process) -> Finished:
    try:
        out, err = await asyncio.wait_for(process.communicate(), FLUSH_TIMEOUT_SECONDS)
    except asyncio.TimeoutError:
        process.kill()
        await process.wait()
        raise
    return Finished(process.returncode if process.returncode is not None else -1, out.decode(), err.decode())


async def run_cli(settings: Settings, cwd: Path, *args: str, **env: str) -> Finished:
    return await finish(await start_cli(settings, cwd, *args, **env))
