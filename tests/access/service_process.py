"""The service as operators run it: a uvicorn subprocess on a free loopback port."""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
import socket
import subprocess
import sys
import tempfile
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path

import httpx

from licensing_api.settings import Settings

START_TIMEOUT_SECONDS = 30
STOP_TIMEOUT_SECONDS = 20


@dataclass
class ServiceProcess:
    process: subprocess.Popen[bytes]
    base_url: str
    log: Path

    async def stop(self, sig: signal.Signals = signal.SIGTERM) -> int:
        """Send `sig` and wait for the process to end; returns its exit code."""
        return await stop_process(self.process, sig, "the service", STOP_TIMEOUT_SECONDS)


async def stop_process(process: subprocess.Popen[bytes], sig: signal.Signals, what: str, seconds: int) -> int:
    """Send `sig` and wait up to `seconds` for the exit code; killed and an AssertionError after."""
    process.send_signal(sig)
    for _ in range(seconds * 10):
        code = process.poll()
        if code is not None:
            return code
        await asyncio.sleep(0.1)
    process.kill()
    raise AssertionError(f"{what} did not stop within {seconds} s of {sig.name}")


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def service_env(settings: Settings, **overrides: str) -> dict[str, str]:
    return {
        "PATH": os.environ["PATH"],
        "DATABASE_URL": settings.database_url,
        "REDIS_URL": settings.redis_url,
        "REDIS_KEY_PREFIX": settings.redis_key_prefix,
        "PLANS_FILE": str(settings.plans_file),
        "LOG_LEVEL": "info",
        "ACCESS_LOG": "false",
        **overrides,
    }


SERVICE_FACTORY = "licensing_api.main:create_app_from_env"


@asynccontextmanager
async def running_service(
    settings: Settings, *, factory: str = SERVICE_FACTORY, ready_path: str = "/healthz",
    uvicorn_args: tuple[str, ...] = (), **env: str,
) -> AsyncIterator[ServiceProcess]:
    port = free_port()
    workdir = Path(tempfile.mkdtemp(prefix="licensing-service-"))  # no stray .env is read
    log = workdir / "service.log"
    with log.open("wb") as log_file:
        process = subprocess.Popen(
            [
                sys.executable, "-m", "uvicorn", factory,
                "--factory", "--host", "127.0.0.1", "--port", str(port),
                "--no-access-log", "--timeout-graceful-shutdown", "10", *uvicorn_args,
            ],
            env=service_env(settings, **env),
            cwd=workdir,
            stdout=log_file,
            stderr=subprocess.STDOUT,
            start_new_session=True,  # its own process group: its workers are stopped with it
        )
    service = ServiceProcess(process, f"http://127.0.0.1:{port}", log)
    try:
        await _wait_until_ready(service, ready_path)
        yield service
    finally:
        # The whole group: killing only uvicorn's supervisor left `--workers N` children
        # running (and, e.g., checking budgets) into the next tests.
        with contextlib.suppress(ProcessLookupError):
            os.killpg(process.pid, signal.SIGKILL)
        process.wait(STOP_TIMEOUT_SECONDS)


async def _wait_until_ready(service: ServiceProcess, ready_path: str) -> None:
    async with httpx.AsyncClient(base_url=service.base_url) as http:
        for _ in range(START_TIMEOUT_SECONDS * 10):
            if service.process.poll() is not None:
                raise AssertionError(f"the service exited:\n{service.log.read_text()[-3000:]}")
            try:
                if (await http.get(ready_path)).status_code == 200:
                    return
            except httpx.TransportError:
                pass
            await asyncio.sleep(0.1)
    raise AssertionError("the service did not start in time")
