"""The gateway's tests' processes: a real origin (tests/gateway/origin_server.py) and the
gateway as operators run it (a uvicorn subprocess, as `licensing-api gateway` starts it)."""

from __future__ import annotations

import asyncio
import subprocess
import sys
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path

from licensing_api.settings import Settings
from tests.access.service_process import ServiceProcess, free_port, running_service

GATEWAY_FACTORY = "licensing_api.gateway.app:create_gateway_from_env"
GATEWAY_UVICORN_ARGS = (  # as `licensing-api gateway` runs it
    "--no-server-header", "--no-date-header", "--http", "licensing_api.http_protocol:ServiceHttpProtocol",
)
REPO = Path(__file__).resolve().parents[2]


@dataclass
class OriginProcess:
    process: subprocess.Popen[bytes]
    base_url: str
    port: int

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.kill()
            self.process.wait(10)


@asynccontextmanager
async def running_origin(folder: Path, port: int | None = None) -> AsyncIterator[OriginProcess]:
    port = port or free_port()
    process = subprocess.Popen(
        [sys.executable, "-m", "tests.gateway.origin_server", str(port), str(folder)],
        cwd=REPO, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
    )
    origin = OriginProcess(process, f"http://127.0.0.1:{port}", port)
    try:
        assert process.stdout is not None
        line = await asyncio.wait_for(asyncio.to_thread(process.stdout.readline), 30)
        assert line.strip() == b"ready", line
        yield origin
    finally:
        origin.stop()


def rss_peak_kib(pid: int) -> int:
    """The process's resident set high-water mark (VmHWM), KiB."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1])
    raise AssertionError("no VmHWM in /proc status")


@asynccontextmanager
async def running_gateway(settings: Settings, origin_url: str, **env: str) -> AsyncIterator[ServiceProcess]:
    billing = {}
    if settings.stripe_api_key is not None:
        billing = {"STRIPE_API_KEY": settings.stripe_api_key.get_secret_value(),
                   "STRIPE_API_BASE": settings.stripe_api_base or "",
                   "USAGE_FLUSH_INTERVAL_SECONDS": str(settings.usage_flush_interval_seconds)}
    async with running_service(
        settings, factory=GATEWAY_FACTORY, ready_path="/license.xml", uvicorn_args=GATEWAY_UVICORN_ARGS,
        ORIGIN_URL=origin_url, **{**billing, **env},
    ) as gateway:
        yield gateway
