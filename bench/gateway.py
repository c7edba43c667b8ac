"""Benchmark: a site through `licensing-api gateway` against the same site straight from its
origin, in one run.

    .venv/bin/python bench/gateway.py [--rounds 20] [--duration 2] [--connections 16] [--size 16384]

The origin is Debian's nginx serving one static page of `--size` bytes (a fast origin: what
the figures show is the gateway's own cost). The gateway is `licensing-api gateway` with one
uvicorn worker (billing off; a real PostgreSQL database and Redis prefix of its own, one
customer and key). Rounds alternate, one target under load at a time, with `wrk` (or
bench/loadgen.py) on loopback:

    origin       the page straight from nginx
    licensed     the page through the gateway with an API key: decided, streamed, metered
    passthrough  the page through the gateway from a browser: streamed untouched, free

Prints req/s, p50 and p99 of each and the gateway ÷ origin ratios, the gateway's CPU per
request, and the machine's load averages before and after (a shared machine is noisy); then
reconciles Redis's units with the licensed 200s wrk received (wrk abandons one request per
connection when a run stops, which the gateway billed). Not part of the test suite.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

import httpx

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "src"))

from bench.harness import REDIS_URL, Deployment, free_port  # noqa: E402
from bench.rounds import cpu_seconds, load, summarise  # noqa: E402

PAGE = "/articles/page.html"
BROWSER = "User-Agent: Mozilla/5.0 (X11; Linux x86_64) Firefox/128.0"
NGINX_CONF = """daemon off;
{user}worker_processes 1;
pid {folder}/nginx.pid;
error_log {folder}/error.log warn;
events {{ worker_connections 1024; }}
http {{
    access_log off;
    client_body_temp_path {folder}/tmp; proxy_temp_path {folder}/tmp;
    fastcgi_temp_path {folder}/tmp; uwsgi_temp_path {folder}/tmp; scgi_temp_path {folder}/tmp;
    server {{
        listen 127.0.0.1:{port};
        root {folder}/site;
        keepalive_requests 1000000;
    }}
}}
"""


def start_origin(workdir: Path, size: int) -> tuple[subprocess.Popen[bytes], int]:
    nginx = shutil.which("nginx") or "/usr/sbin/nginx"
    page = workdir / "site" / PAGE.lstrip("/")
    page.parent.mkdir(parents=True)
    page.write_bytes(b"<html><body>" + b"x" * max(0, size - 28) + b"</body></html>\n")
    (workdir / "tmp").mkdir()
    port = free_port()
    user = "user root;\n" if os.geteuid() == 0 else ""
    (workdir / "nginx.conf").write_text(NGINX_CONF.format(folder=workdir, port=port, user=user))
    process = subprocess.Popen([nginx, "-p", str(workdir), "-c", str(workdir / "nginx.conf")],
                               stdout=subprocess.DEVNULL, stderr=subprocess.STDOUT)
    return process, port


def start_gateway(deployment: Deployment, origin_port: int) -> tuple[subprocess.Popen[bytes], int]:
    port = free_port()
    env = {
        "PATH": os.environ["PATH"], "HOME": str(deployment.workdir),
        "DATABASE_URL": deployment.database_url, "REDIS_URL": REDIS_URL,
        "REDIS_KEY_PREFIX": deployment.redis_prefix, "PLANS_FILE": str(deployment.plans_file),
        "ORIGIN_URL": f"http://127.0.0.1:{origin_port}", "GATEWAY_PUBLIC_URL": "http://site.example",
        "LOG_LEVEL": "warning", "ACCESS_LOG": "true",
    }
    log = (deployment.workdir / "gateway.log").open("wb")
    process = subprocess.Popen(
        [sys.executable, "-m", "licensing_api.cli", "gateway", "--port", str(port), "--workers", "1"],
        cwd=deployment.workdir, env=env, stdout=log, stderr=subprocess.DEVNULL,
    )
    return process, port


async def wait_ready(url: str, process: subprocess.Popen[bytes]) -> None:
    async with httpx.AsyncClient() as http:
        for _ in range(300):
            if process.poll() is not None:
                raise SystemExit(f"{url} exited during start-up")
            try:
                if (await http.get(url)).status_code == 200:
                    return
            except httpx.TransportError:
                pass
            await asyncio.sleep(0.1)
    raise SystemExit(f"{url} did not answer within 30 s")


def load_averages() -> str:
    return " ".join(Path("/proc/loadavg").read_text().split()[:3])


async def main(args: argparse.Namespace) -> int:
    deployment = Deployment(Path(tempfile.mkdtemp(prefix="licensing-bench-gateway-")))
    processes: list[subprocess.Popen[bytes]] = []
    try:
        await deployment.create()
        customer = (await deployment.provision(1))[0]
        origin, origin_port = start_origin(deployment.workdir / "origin", args.size)
        processes.append(origin)
        gateway, gateway_port = start_gateway(deployment, origin_port)
        processes.append(gateway)
        await wait_ready(f"http://127.0.0.1:{origin_port}{PAGE}", origin)
        await wait_ready(f"http://127.0.0.1:{gateway_port}/license.xml", gateway)
        targets = {
            "origin": (origin_port, [BROWSER], None),
            "licensed": (gateway_port, [f"Authorization: Bearer {customer.secret}"], gateway.pid),
            "passthrough": (gateway_port, [BROWSER], gateway.pid),
        }
        warm_up_licensed = 0
        for name, (port, headers, _) in targets.items():  # warm-up: connections, caches, memo
            warm_up = load(args.client, port, PAGE, headers, 1, args.connections)
            warm_up_licensed += warm_up["ok"] if name == "licensed" else 0
        before = load_averages()
        runs: dict[str, list[dict]] = {name: [] for name in targets}
        for round_number in range(args.rounds):
            for name, (port, headers, pid) in targets.items():
                cpu = cpu_seconds(pid) if pid else 0.0
                run = load(args.client, port, PAGE, headers, args.duration, args.connections)
                run["server_cpu"] = (cpu_seconds(pid) - cpu) if pid else 0.0
                runs[name].append(run)
            print(f"  round {round_number + 1}/{args.rounds}: "
                  + ", ".join(f"{n} {runs[n][-1]['rps']:.0f} req/s" for n in targets), flush=True)
        after = load_averages()
        summary = {name: summarise(rounds) for name, rounds in runs.items()}
        print(f"\n{args.rounds} rounds × {args.duration} s, {args.connections} connections, a {args.size}-byte page, "
              f"{args.client}; load averages (1, 5, 15 min) before {before}, after {after} on {os.cpu_count()} CPUs")
        print(f"{'':12} {'req/s':>9} {'p50 ms':>8} {'p99 ms':>8} {'CPU µs/req':>11}")
        for name, figures in summary.items():
            cpu = f"{figures['cpu_us']:.0f}" if targets[name][2] else "-"
            print(f"{name:12} {figures['rps']:9.0f} {figures['p50']:8.2f} {figures['p99']:8.2f} {cpu:>11}")
        origin_figures = summary["origin"]
        for name in ("licensed", "passthrough"):
            print(f"{name} ÷ origin: throughput {summary[name]['rps'] / origin_figures['rps']:.2f}, "
                  f"p99 {summary[name]['p99'] / origin_figures['p99']:.2f}")
        licensed_ok = warm_up_licensed + sum(run["ok"] for run in runs["licensed"])
        gateway.terminate()  # SIGTERM: the tally's last units move to Redis
        gateway.wait(60)
        counted = await deployment.period_units(customer.item_id)
        # wrk stops with one request in flight per connection: the gateway counted it (its 2xx
        # status arrived) but wrk did not wait for it. So counted - received is in [0, c × runs].
        cut_off = counted - licensed_ok
        bound = args.connections * (args.rounds + 1)
        print(f"units counted in Redis {counted}, licensed 200s received {licensed_ok} (warm-up included): "
              f"{cut_off} cut off by wrk's stop, at most {bound} ({args.connections} per run): "
              + ("consistent" if 0 <= cut_off <= bound else "INCONSISTENT"))
        failures = sum(sum(run["other"].values()) for rounds in runs.values() for run in rounds)
        return 0 if failures == 0 and 0 <= cut_off <= bound else 1
    finally:
        for process in processes:  # SIGTERM: nginx's master then stops its workers too
            if process.poll() is None:
                process.terminate()
                process.wait(60)
        await deployment.destroy()


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rounds", type=int, default=20)
    parser.add_argument("--duration", type=float, default=2)
    parser.add_argument("--connections", type=int, default=16)
    parser.add_argument("--size", type=int, default=16384, help="bytes of the page served")
    parser.add_argument("--client", choices=("wrk", "python"), default="wrk" if shutil.which("wrk") else "python")
    return parser.parse_args()


if __name__ == "__main__":
    raise SystemExit(asyncio.run(main(parse_args())))
