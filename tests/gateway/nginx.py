"""A real Debian nginx for the tests, running a configuration of deploy/gateway/ rendered as
the nginx image renders its templates (only the named variables; nginx's own are kept)."""

from __future__ import annotations

import asyncio
import os
import shutil
import subprocess
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path
from string import Template

import httpx

from tests.access.service_process import free_port

DEPLOY = Path(__file__).resolve().parents[2] / "deploy" / "gateway"
MAIN_CONF = """daemon off;
{user}worker_processes 1;
pid {folder}/nginx.pid;
error_log {folder}/error.log info;
events {{ worker_connections 256; }}
http {{
    client_body_temp_path {folder}/client_body;
    proxy_temp_path {folder}/proxy;
    fastcgi_temp_path {folder}/fastcgi;
    uwsgi_temp_path {folder}/uwsgi;
    scgi_temp_path {folder}/scgi;
    include {folder}/site.conf;
}}
"""


@dataclass
class Nginx:
    process: subprocess.Popen[bytes]
    base_url: str
    folder: Path

    def quit(self) -> None:
        """A graceful stop: requests in flight finish and are logged (reported) first."""
        if self.process.poll() is None:
            subprocess.run([nginx_binary(), "-p", str(self.folder), "-c", str(self.folder / "nginx.conf"),
                            "-s", "quit"], check=True, capture_output=True)
            self.process.wait(20)

    def log(self) -> str:
        return (self.folder / "error.log").read_text(errors="replace")


def nginx_binary() -> str:
    binary = shutil.which("nginx") or ("/usr/sbin/nginx" if Path("/usr/sbin/nginx").exists() else None)
    assert binary, "nginx is not installed: scripts/test installs Debian's nginx package"
    return binary


def render(template: str, **values: str) -> str:
    return Template((DEPLOY / template).read_text()).safe_substitute(values)


@asynccontextmanager
async def running_nginx(folder: Path, template: str, **values: str) -> AsyncIterator[Nginx]:
    port = free_port()
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "site.conf").write_text(render(template, LISTEN_PORT=f"127.0.0.1:{port}", **values))
    # As root, workers would run as nobody, who cannot write this test's temporary folders.
    user = "user root;\n" if os.geteuid() == 0 else ""
    (folder / "nginx.conf").write_text(MAIN_CONF.format(folder=folder, user=user))
    with (folder / "stdout.log").open("wb") as stdout:
        process = subprocess.Popen(
            [nginx_binary(), "-p", str(folder), "-c", str(folder / "nginx.conf")],
            stdout=stdout, stderr=subprocess.STDOUT,
        )
    nginx = Nginx(process, f"http://127.0.0.1:{port}", folder)
    try:
        async with httpx.AsyncClient() as http:
            for _ in range(100):
                assert process.poll() is None, f"nginx exited:\n{nginx.log()[-3000:]}"
                try:
                    await http.get(nginx.base_url + "/license.xml")
                    break
                except httpx.TransportError:
                    await asyncio.sleep(0.1)
        yield nginx
    finally:
        stop_nginx(process)


def stop_nginx(process: subprocess.Popen[bytes]) -> None:
    """SIGTERM (nginx's fast shutdown: the master stops its workers), SIGKILL only if it hangs;
    a SIGKILLed master would leave its workers running."""
    if process.poll() is None:
        process.terminate()
        try:
            process.wait(10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(10)
