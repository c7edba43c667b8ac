"""Benchmark: the licensed route as `licensing-api serve` runs it, against two reference apps.

    .venv/bin/python bench/run.py [--rounds 12] [--duration 1] [--connections 16]

Provisions a customer and key (real PostgreSQL in a fresh database, real Redis under a fresh
key prefix, billing off; a plan whose rate limit does not get in the way: the limiter still
runs) and starts six servers on loopback:

- `licensed`: `licensing-api serve --workers 1` on its defaults (access log on at LOG_LEVEL
  info, request metrics, security headers, crawler counts, header limits), the deployment's
  secrets set (the log redacts them);
- `licensed-2w`: the same with `--workers 2`;
- `fastapi` and `starlette`: bench/reference_apps.py, a minimal FastAPI app and a raw Starlette
  app (one route, no middleware) serving the same bytes, one uvicorn worker;
- `fastapi-2w` and `starlette-2w`: the same with two workers, for how far two workers can
  scale on this machine at all.

Then it alternates load between them with `wrk` (1 thread, keep-alive, `--connections` per
worker), one server at a time, the order rotating every round, and prints each server's req/s
(all rounds), p50 and p99 (median of rounds), server CPU per request (from /proc), the ratios
the issue sets targets for (licensed ÷ FastAPI throughput ≥ 1.0 and p99 ≤ 1.3, licensed ÷
Starlette ≥ 0.5, 2 workers ÷ 1 worker ≥ 1.6), the load averages before and after, and checks
that Redis accounts for every licensed 200 the servers counted (units counted = 200s served,
exactly) after a graceful stop.

wrk runs on the same cores as the servers, so two workers cannot go faster than the cores the
load generator leaves them: each line shows the load generator's CPU per request too, and
each two-worker line the throughput the cores allow at the measured CPU per request,
cores ÷ (server + wrk), and the 2 ÷ 1 worker ratio that ceiling implies. The last line is a
one-line summary, for repeated runs:

    for i in 1 2 3 4 5; do .venv/bin/python bench/run.py | tail -1; done

The default run takes about 100 s. Exit status 0 when every target is met. Not part of the test
suite.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import re
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import httpx
from sqlalchemy import func, select

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "src"))

from bench.harness import Deployment, free_port  # noqa: E402
from bench.rounds import load, summarise  # noqa: E402
from bench.scale_workers import server_cpu_seconds  # noqa: E402
from licensing_api.billing.plans import load_catalogue  # noqa: E402
from licensing_api.resources import open_resources  # noqa: E402
from licensing_api.usage.models import UsageReport  # noqa: E402

ITEM = "sourdough-chemistry"
PATH = f"/v1/content/{ITEM}"
LICENSED = {"licensed": 1, "licensed-2w": 2}  # name → serve --workers
REFERENCES = {"fastapi": ("fastapi", 1), "starlette": ("starlette", 1),  # name → (app, workers)
              "fastapi-2w": ("fastapi", 2), "starlette-2w": ("starlette", 2)}
ONE_WORKER_OF = {"licensed-2w": "licensed", "fastapi-2w": "fastapi", "starlette-2w": "starlette"}
SERVED = re.compile(r'^licensing_http_requests_total\{route="/v1/content/\{path[^"]*\}",status="200"\} (\S+)$')


class Server:
    def __init__(self, name: str, process: subprocess.Popen[bytes], port: int, workers: int) -> None:
        self.name, self.process, self.port, self.workers = name, process, port, workers
        self.runs: list[dict] = []


def start_reference(name: str, port: int, env: dict[str, str], workdir: Path) -> subprocess.Popen[bytes]:
    app, workers = REFERENCES[name]
    log = (workdir / f"{name}.log").open("wb")
    return subprocess.Popen(
        [sys.executable, "-m", "bench.reference_apps", app, "--port", str(port), "--workers", str(workers)],
        env={**env, "LOG_LEVEL": "warning"}, cwd=workdir, stdout=log, stderr=subprocess.STDOUT,
    )


async def wait_ready(server: Server, headers: dict[str, str]) -> None:
    async with httpx.AsyncClient() as http:
        for _ in range(600):
            if server.process.poll() is not None:
                raise SystemExit(f"{server.name} exited during start-up; see its log in the bench work directory")
            try:
                if (await http.get(f"http://127.0.0.1:{server.port}{PATH}", headers=headers)).status_code == 200:
                    return
            except httpx.TransportError:
                pass
            await asyncio.sleep(0.1)
    raise SystemExit(f"{server.name} did not start within 60 s")


async def served_200s(server: Server) -> int:
    """200s of the licensed item route, from the server's own request metric (all workers)."""
    async with httpx.AsyncClient() as http:
        text = (await http.get(f"http://127.0.0.1:{server.port}/metrics")).text
    return sum(int(float(m.group(1))) for line in text.splitlines() if (m := SERVED.match(line)))


def load_averages() -> str:
    return "/".join(f"{value:.2f}" for value in os.getloadavg())


async def main(args: argparse.Namespace) -> int:
    if shutil.which("wrk") is None:
        raise SystemExit("wrk not found: apt-get install -y wrk")
    started = time.monotonic()
    deployment = Deployment(Path(tempfile.mkdtemp(prefix="licensing-bench-")))
    servers: list[Server] = []
    try:
        await deployment.create()
        (customer,) = await deployment.provision(1)
        for name, workers in LICENSED.items():
            port = free_port()
            # LOG_LEVEL info: serve's default, at which the access log writes its lines.
            servers.append(Server(name, deployment.launch(workers, port, LOG_LEVEL="info"), port, workers))
        env = {"PATH": os.environ["PATH"], "HOME": str(deployment.workdir), "PYTHONPATH": f"{ROOT}:{ROOT / 'src'}"}
        for name, (_, workers) in REFERENCES.items():
            port = free_port()
            servers.append(Server(name, start_reference(name, port, env, deployment.workdir), port, workers))
        auth = {"Authorization": f"Bearer {customer.secret}"}
        for server in servers:
            await wait_ready(server, auth)
        headers = {s.name: [f"Authorization: Bearer {customer.secret}"] for s in servers}  # ignored by the references
        by_name = {server.name: server for server in servers}

        load_before = load_averages()
        print(f"{args.rounds} rounds × {args.duration:.0f} s per server after {args.warmup:.0f} s of warm-up, wrk 1 "
              f"thread, {args.connections} connections per worker, {os.cpu_count()} cores; "
              f"load average before {load_before}", flush=True)
        for server in servers:
            await asyncio.to_thread(load, "wrk", server.port, PATH, headers[server.name], args.warmup,
                                    args.connections * server.workers)
        for round_number in range(args.rounds):
            shift = round_number % len(servers)
            cells = []
            for server in servers[shift:] + servers[:shift]:
                cpu_before = server_cpu_seconds(server.process.pid)
                run = await asyncio.to_thread(load, "wrk", server.port, PATH, headers[server.name], args.duration,
                                              args.connections * server.workers)
                run["server_cpu"] = server_cpu_seconds(server.process.pid) - cpu_before
                server.runs.append(run)
                if errors := sum(run["other"].values()):
                    print(f"  {server.name}: {errors} non-2xx answers or socket errors")
                cells.append(f"{server.name} {run['rps']:6.0f}")
            print(f"  round {round_number + 1:2}: " + "  ".join(cells) + f"  (load {os.getloadavg()[0]:.2f})",
                  flush=True)
        load_after = load_averages()

        summary = {server.name: summarise(server.runs) for server in servers}
        print()
        cores = os.cpu_count() or 1
        print(f"{'':13}{'req/s':>9}{'p50 ms':>9}{'p99 ms':>9}{'CPU µs/req':>12}{'wrk µs/req':>12}"
              f"{'cores allow':>13}{'2w/1w':>7}{'allowed':>9}")
        for name, figures in summary.items():
            line = (f"{name:13}{figures['rps']:9.0f}{figures['p50']:9.2f}{figures['p99']:9.2f}"
                    f"{figures['cpu_us']:12.1f}{figures['client_cpu_us']:12.1f}")
            if one_worker := ONE_WORKER_OF.get(name):
                allowed = cores * 1e6 / (figures["cpu_us"] + figures["client_cpu_us"])
                line += (f"{allowed:13.0f}{figures['rps'] / summary[one_worker]['rps']:7.3f}"
                         f"{allowed / summary[one_worker]['rps']:9.3f}")
            print(line)
        lic, fastapi, starlette, two = (summary[n] for n in ("licensed", "fastapi", "starlette", "licensed-2w"))
        ratios = {
            "licensed/fastapi": (lic["rps"] / fastapi["rps"], ">=", 1.0),
            "p99 licensed/fastapi": (lic["p99"] / fastapi["p99"], "<=", 1.3),
            "licensed/starlette": (lic["rps"] / starlette["rps"], ">=", 0.5),
            "2 workers/1 worker": (two["rps"] / lic["rps"], ">=", 1.6),
        }
        per_round = [
            a["rps"] / b["rps"] for a, b in zip(by_name["licensed"].runs, by_name["fastapi"].runs, strict=True)
        ]
        for label, (value, relation, target) in ratios.items():
            print(f"{label:22} {value:6.3f}  (target {relation} {target})")
        print(f"{'':22} licensed/fastapi per round: median {statistics.median(per_round):.3f}, "
              f"range {min(per_round):.3f}–{max(per_round):.3f}")
        print(f"{'':22} CPU per request fastapi/licensed {fastapi['cpu_us'] / lic['cpu_us']:.3f}, "
              f"starlette/licensed {starlette['cpu_us'] / lic['cpu_us']:.3f}")

        # Reconcile: each licensed server's own count of 200s (its request metric, independent
        # of the tally), then a graceful stop, which moves the workers' last tallies into Redis.
        await asyncio.sleep(0.5)
        counted = {name: await served_200s(by_name[name]) for name in LICENSED}
        for server in servers:
            server.process.send_signal(signal.SIGTERM)
        for server in servers:
            server.process.wait(60)
        period = await deployment.period_units(customer.item_id)
        async with open_resources(deployment.settings, load_catalogue(deployment.plans_file)) as resources:
            async with resources.sessionmaker() as session:
                ledger = int(await session.scalar(select(func.coalesce(func.sum(UsageReport.units), 0))) or 0)
        exact = period == sum(counted.values())
        print(f"licensed 200s counted by the servers {' + '.join(map(str, counted.values()))} = "
              f"{sum(counted.values())}; units in Redis {period} (ledger {ledger} + not yet flushed {period - ledger}): "
              + ("EXACT" if exact else "MISMATCH"))
        print(f"load average before {load_before}, after {load_after} (1/5/15 min)")
        met = exact and all(
            value >= target if relation == ">=" else value <= target for value, relation, target in ratios.values()
        )
        print("SUMMARY " + " ".join(f"{label.replace(' ', '_')}={value:.3f}" for label, (value, _, _) in ratios.items())
              + f" units={'EXACT' if exact else 'MISMATCH'} load={load_before}->{load_after}"
              + f" {'MET' if met else 'NOT-MET'} ({time.monotonic() - started:.0f} s)")
        return 0 if met else 1
    finally:
        for server in servers:
            if server.process.poll() is None:
                server.process.kill()
        await deployment.destroy()


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description="licensed route at serve's defaults vs bare FastAPI and Starlette")
    # Many short rounds: this machine's speed drifts from one second to the next, and only
    # rounds close in time compare the servers at the same speed.
    parser.add_argument("--rounds", type=int, default=12, help="a multiple of 4 rotates the order evenly")
    parser.add_argument("--duration", type=float, default=1.0, help="seconds per round and server")
    parser.add_argument("--warmup", type=float, default=1.0, help="seconds per server before the rounds")
    # 16 keep-alive connections saturate a worker; more only lengthen the queue (README).
    parser.add_argument("--connections", type=int, default=16, help="per worker")
    sys.exit(asyncio.run(main(parser.parse_args())))
