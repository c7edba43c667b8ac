"""Several `licensing-api serve` hosts behind a real Debian nginx, as deploy/README.md lays
them out: each host its own network namespace (a veth pair on a bridge of the test's own)
where the machine allows it (root, iproute2, socat), otherwise its own loopback port.

In namespaces the hosts reach the shared PostgreSQL, Redis and Stripe server at the bridge's
address, where socat forwards to their loopback ports (they listen on 127.0.0.1 only, which a
namespace cannot reach); nginx, in the root namespace, reaches the hosts at their own
addresses, so the hosts see nginx's connections come from the bridge's address, the one
FORWARDED_ALLOW_IPS trusts. The nginx configuration is deploy/nginx.conf with only the
upstream servers, the listen address and the process's own paths substituted.
"""

from __future__ import annotations

import asyncio
import os
import random
import re
import shutil
import signal
import subprocess
import sys
import uuid
from collections.abc import Iterator, Sequence
from contextlib import contextmanager, suppress
from dataclasses import dataclass, field
from pathlib import Path

import httpx

from tests.access.service_process import free_port, stop_process

REPO = Path(__file__).resolve().parents[2]
DEPLOY_NGINX_CONF = REPO / "deploy" / "nginx.conf"
HOST_PORT = 8000  # in its own namespace each host listens where the image does
START_TIMEOUT_SECONDS = 60
STOP_TIMEOUT_SECONDS = 30


def namespaces_available() -> bool:
    if os.geteuid() != 0 or not shutil.which("ip") or not shutil.which("socat"):
        return False
    probe = f"licprobe{uuid.uuid4().hex[:6]}"
    if subprocess.run(["ip", "netns", "add", probe], capture_output=True).returncode != 0:
        return False
    subprocess.run(["ip", "netns", "del", probe], capture_output=True)
    return True


@dataclass
class Network:
    """Where hosts live and how they reach the shared services."""

    kind: str  # "namespaces" or "ports"
    services_address: str  # PostgreSQL, Redis and Stripe as the hosts reach them
    balancer_address: str  # nginx's address as the hosts see it (FORWARDED_ALLOW_IPS)
    host_addresses: list[str]
    host_ports: list[int]
    namespaces: list[str] = field(default_factory=list)

    def command(self, index: int, argv: Sequence[str]) -> list[str]:
        if self.kind == "namespaces":
            return ["ip", "netns", "exec", self.namespaces[index], *argv]
        return list(argv)

    def url(self, index: int) -> str:
        return f"http://{self.host_addresses[index]}:{self.host_ports[index]}"

    def reach(self, url: str) -> str:
        """A root-namespace URL on 127.0.0.1 (database, Redis, Stripe) as the hosts reach it."""
        return url.replace("127.0.0.1", self.services_address)


def _run(*argv: str) -> None:
    subprocess.run(argv, check=True, capture_output=True)


def _free_subnet() -> int:
    taken = subprocess.run(["ip", "-4", "-o", "addr"], capture_output=True, text=True).stdout
    for _ in range(100):
        octet = random.randrange(256)
        if f"10.213.{octet}." not in taken:
            return octet
    raise AssertionError("no free 10.213.x.0/24 subnet")


@contextmanager
def host_network(count: int, forwarded_ports: Sequence[int], *, kind: str | None = None) -> Iterator[Network]:
    """`count` host slots; in namespaces, socat forwards `forwarded_ports` from the bridge
    address to 127.0.0.1."""
    kind = kind or ("namespaces" if namespaces_available() else "ports")
    if kind == "ports":
        yield Network("ports", "127.0.0.1", "127.0.0.1", ["127.0.0.1"] * count,
                      [free_port() for _ in range(count)])
        return
    tag = uuid.uuid4().hex[:5]
    octet = _free_subnet()
    bridge, gateway = f"lbr{tag}", f"10.213.{octet}.1"
    namespaces = [f"lic{tag}h{i}" for i in range(count)]
    forwarders: list[subprocess.Popen[bytes]] = []
    try:
        _run("ip", "link", "add", bridge, "type", "bridge")
        _run("ip", "addr", "add", f"{gateway}/24", "dev", bridge)
        _run("ip", "link", "set", bridge, "up")
        addresses = []
        for i, namespace in enumerate(namespaces):
            address = f"10.213.{octet}.{11 + i}"
            _run("ip", "netns", "add", namespace)
            _run("ip", "link", "add", f"lv{tag}h{i}", "type", "veth", "peer", "name", "eth0", "netns", namespace)
            _run("ip", "link", "set", f"lv{tag}h{i}", "master", bridge, "up")
            _run("ip", "-n", namespace, "addr", "add", f"{address}/24", "dev", "eth0")
            _run("ip", "-n", namespace, "link", "set", "eth0", "up")
            _run("ip", "-n", namespace, "link", "set", "lo", "up")
            addresses.append(address)
        for port in forwarded_ports:
            forwarders.append(subprocess.Popen(
                ["socat", f"TCP-LISTEN:{port},bind={gateway},fork,reuseaddr", f"TCP:127.0.0.1:{port}"],
                stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True,
            ))
        yield Network("namespaces", gateway, gateway, addresses, [HOST_PORT] * count, namespaces)
    finally:
        for forwarder in forwarders:  # with the children it forked per connection
            kill_group(forwarder)
        for namespace in namespaces:
            # Whatever still runs there (a host that failed half-way) would keep it alive.
            pids = subprocess.run(["ip", "netns", "pids", namespace], capture_output=True, text=True).stdout
            for pid in pids.split():
                with suppress(ProcessLookupError):
                    os.kill(int(pid), signal.SIGKILL)
            subprocess.run(["ip", "netns", "del", namespace], capture_output=True)  # its veths go too
        subprocess.run(["ip", "link", "del", bridge], capture_output=True)


@dataclass
class Host:
    index: int
    process: subprocess.Popen[bytes]
    url: str
    log: Path

    async def stop(self, sig: signal.Signals = signal.SIGTERM) -> int:
        """Send `sig` (SIGTERM: the orchestrator's graceful stop) and wait for the exit code."""
        return await stop_process(self.process, sig, f"host {self.index}", STOP_TIMEOUT_SECONDS)

    def kill(self) -> None:
        """The host's whole process group: a SIGKILLed uvicorn parent would orphan its workers."""
        kill_group(self.process)


def kill_group(process: subprocess.Popen[bytes]) -> None:
    """SIGKILL a process started with `start_new_session=True` and everything in its group."""
    with suppress(ProcessLookupError):
        os.killpg(process.pid, signal.SIGKILL)
    process.wait(10)


def start_host(network: Network, index: int, env: dict[str, str], folder: Path, workers: int) -> Host:
    """`licensing-api serve --no-migrate --workers N` in host `index`'s namespace (or port)."""
    folder.mkdir(parents=True, exist_ok=True)  # its working directory: no stray .env is read
    log = folder / f"host{index}.log"
    bind = "0.0.0.0" if network.kind == "namespaces" else "127.0.0.1"
    argv = [sys.executable, "-m", "licensing_api.cli", "serve", "--no-migrate", "--workers", str(workers),
            "--host", bind, "--port", str(network.host_ports[index])]
    with log.open("wb") as log_file:
        process = subprocess.Popen(network.command(index, argv), env={**env, "HOME": str(folder)},
                                   cwd=folder, stdout=log_file, stderr=subprocess.STDOUT,
                                   start_new_session=True)  # its own group: kill() takes the workers too
    return Host(index, process, network.url(index), log)


async def wait_ready(host: Host) -> None:
    last = "no answer"
    async with httpx.AsyncClient(base_url=host.url, timeout=5) as http:
        for _ in range(START_TIMEOUT_SECONDS * 10):
            if host.process.poll() is not None:
                raise AssertionError(f"host {host.index} exited:\n{host.log.read_text()[-3000:]}")
            try:
                answer = await http.get("/readyz")
                if answer.status_code == 200:
                    return
                last = f"{answer.status_code} {answer.text[:300]}"
            except httpx.TransportError as error:
                last = repr(error)
            await asyncio.sleep(0.1)
    raise AssertionError(f"host {host.index} was not ready within {START_TIMEOUT_SECONDS} s ({last}):\n"
                         f"{host.log.read_text()[-3000:]}")


# -- nginx ------------------------------------------------------------------------------------

ACCESS_LOG_FORMAT = "log_format upstreams '$status $request_uri $upstream_addr';"


def nginx_config(folder: Path, listen: str, upstreams: Sequence[str], *, access_log: bool = True) -> str:
    """deploy/nginx.conf with the hosts as upstream servers (no Docker DNS), listening on
    `listen`, and this process's pid, logs and temporary files in `folder`."""
    text = DEPLOY_NGINX_CONF.read_text()
    replacements = [
        (r"\n\s*resolver [^;]*;[^\n]*", ""),  # Docker's DNS: the upstreams are addresses here
        (r"server api:8000 resolve;", " ".join(f"server {u};" for u in upstreams)),
        (r"listen 8080;", f"listen {listen};"),
        (r"http \{", "http {\n" + "\n".join([
            f"    client_body_temp_path {folder}/tmp; proxy_temp_path {folder}/tmp;",
            f"    fastcgi_temp_path {folder}/tmp; uwsgi_temp_path {folder}/tmp; scgi_temp_path {folder}/tmp;",
            f"    {ACCESS_LOG_FORMAT}",
            f"    access_log {folder}/access.log upstreams;" if access_log else "    access_log off;",
        ])),
        (r"events \{\}", "events { worker_connections 1024; }"),
    ]
    for pattern, replacement in replacements:
        text, found = re.subn(pattern, lambda _: replacement, text)
        assert found == 1, f"deploy/nginx.conf changed: {pattern!r} found {found} times"
    user = "user root;\n" if os.geteuid() == 0 else ""  # as root, workers would be nobody
    return f"daemon off;\n{user}worker_processes 1;\npid {folder}/nginx.pid;\nerror_log {folder}/error.log warn;\n{text}"


@dataclass
class Balancer:
    process: subprocess.Popen[bytes]
    url: str
    folder: Path

    def served_by(self, path: str) -> dict[str, int]:
        """200s to `path` in the access log, per upstream that answered them (the last tried)."""
        counts: dict[str, int] = {}
        for line in (self.folder / "access.log").read_text().splitlines():
            status, uri, upstreams = line.split(" ", 2)
            if status == "200" and uri == path:
                last = upstreams.split(",")[-1].strip()
                counts[last] = counts.get(last, 0) + 1
        return counts

    def stop(self) -> None:
        """SIGTERM (fast shutdown: the master stops its workers), SIGKILL only if it hangs."""
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(10)


def nginx_binary() -> str:
    binary = shutil.which("nginx") or ("/usr/sbin/nginx" if Path("/usr/sbin/nginx").exists() else None)
    assert binary, "nginx is not installed: scripts/test installs Debian's nginx package"
    return binary


async def start_balancer(folder: Path, upstreams: Sequence[str], *, access_log: bool = True) -> Balancer:
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "tmp").mkdir(exist_ok=True)
    port = free_port()
    (folder / "nginx.conf").write_text(nginx_config(folder, f"127.0.0.1:{port}", upstreams, access_log=access_log))
    with (folder / "stdout.log").open("wb") as stdout:
        process = subprocess.Popen([nginx_binary(), "-p", str(folder), "-c", str(folder / "nginx.conf")],
                                   stdout=stdout, stderr=subprocess.STDOUT)
    balancer = Balancer(process, f"http://127.0.0.1:{port}", folder)
    async with httpx.AsyncClient(base_url=balancer.url) as http:
        for _ in range(100):
            if process.poll() is not None:
                raise AssertionError(f"nginx exited:\n{(folder / 'error.log').read_text()[-3000:]}")
            try:
                await http.get("/healthz")
                return balancer
            except httpx.TransportError:
                await asyncio.sleep(0.1)
    balancer.stop()
    raise AssertionError("nginx did not answer")
