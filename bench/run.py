"""Benchmark: the licensed content path against the same route serving the same bytes bare.

    .venv/bin/python bench/run.py [--rounds 60] [--duration 1] [--connections 16] [--client wrk|python]

Provisions a customer and key (real PostgreSQL in a fresh database, real Redis under a fresh
key prefix) and starts two servers of one uvicorn worker each, billing off: the service as
`licensing-api serve` runs it, and `bench/app.py`'s bare twin, whose `/v1/content/{item}`
serves the same bytes without authentication or metering. Then it alternates load between
the two with `wrk` (or `bench/loadgen.py`), a separate process on loopback; only one server
is under load at a time. Prints req/s, p50 and p99 of both and their ratios, then checks that
Redis accounts for every licensed 200 served (units counted = 200s served, exactly) and
cleans up. Not part of the test suite.
"""

from __future__ import annotations

import argparse
import asyncio
import json
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

# Deployment's plan has a rate limit that does not get in the way; the limiter still runs.
from bench.harness import REDIS_URL, Deployment, free_port  # noqa: E402
from licensing_api.billing.plans import load_catalogue  # noqa: E402
from licensing_api.resources import open_resources  # noqa: E402
from licensing_api.usage.models import UsageReport  # noqa: E402

ITEM = "sourdough-chemistry"


LICENSED_APP = "licensing_api.main:create_app_from_env"  # what `licensing-api serve` runs
BARE_APP = "bench.app:create_bare_app"


def start_server(app: str, env: dict[str, str], port: int, workdir: Path) -> subprocess.Popen[bytes]:
    log = (workdir / f"{app.split(':')[1]}.log").open("wb")
    return subprocess.Popen(
        [
            sys.executable, "-m", "uvicorn", app, "--factory",
            "--host", "127.0.0.1", "--port", str(port), "--workers", "1",
            "--no-access-log", "--log-level", "warning",
        ],
        env=env, cwd=workdir, stdout=log, stderr=subprocess.STDOUT,
    )


async def wait_ready(port: int, process: subprocess.Popen[bytes]) -> None:
    async with httpx.AsyncClient() as http:
        for _ in range(300):
            if process.poll() is not None:
                raise SystemExit("a server exited during start-up; see its log in the bench work directory")
            try:
                if (await http.get(f"http://127.0.0.1:{port}/healthz")).status_code == 200:
                    return
            except httpx.TransportError:
                pass
            await asyncio.sleep(0.1)
    raise SystemExit("the server did not start within 30 s")


def load(client: str, port: int, path: str, headers: list[str], duration: float, connections: int) -> dict:
    """One round of load: requests, 200s, req/s, p50 and p99 (ms)."""
    if client == "wrk":
        command = [
            "wrk", "-t", "1", "-c", str(connections), "-d", f"{max(1, round(duration))}s", "--latency",
            "-s", str(ROOT / "bench" / "wrk_report.lua"), f"http://127.0.0.1:{port}{path}",
        ]
        for header in headers:
            command += ["-H", header]
        output = subprocess.run(command, capture_output=True, text=True, timeout=duration + 60, check=True)
        report = json.loads(output.stdout.strip().splitlines()[-1])
        seconds = report["duration_us"] / 1e6
        return {
            "requests": report["requests"],
            "ok": report["requests"] - report["non_2xx"],
            "other": {"non-2xx": report["non_2xx"], "socket errors": report["socket_errors"]},
            "duration": seconds,
            "rps": report["requests"] / seconds,
            "p50_ms": report["p50_us"] / 1000,
            "p99_ms": report["p99_us"] / 1000,
        }
    command = [
        sys.executable, str(ROOT / "bench" / "loadgen.py"), "--port", str(port), "--path", path,
        "--duration", str(duration), "--connections", str(connections),
    ]
    for header in headers:
        command += ["--header", header]
    output = subprocess.run(command, capture_output=True, text=True, timeout=duration + 60, check=True)
    report = json.loads(output.stdout)
    statuses = report["statuses"]
    return {
        **report,
        "ok": statuses.get("200", 0),
        "other": {status: n for status, n in statuses.items() if status != "200"},
    }


async def served_by_server(port: int) -> int:
    """200 answers of the licensed item route, from the server's request metric."""
    async with httpx.AsyncClient() as http:
        text = (await http.get(f"http://127.0.0.1:{port}/metrics")).text
    served = re.compile(r'^licensing_http_requests_total\{route="/v1/content/\{path[^"]*\}",status="200"\} (\S+)$')
    return sum(int(float(m.group(1))) for line in text.splitlines() if (m := served.match(line)))


def start_profiler(py_spy: str, pid: int, name: str, duration: float) -> subprocess.Popen[bytes]:
    """py-spy sampling the server during one round: a raw (collapsed stacks) file per endpoint."""
    output = Path(f"profile-{name}.txt").resolve()
    print(f"  profiling {name} into {output}")
    return subprocess.Popen(
        [py_spy, "record", "--format", "raw", "-r", "400", "-o", str(output), "-p", str(pid),
         "-d", str(max(1, int(duration) - 1)), "--nonblocking"],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )


def cpu_seconds(pid: int) -> float:
    """User + system CPU time of a process (Linux /proc), immune to other processes' load."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def summarise(runs: list[dict]) -> dict[str, float]:
    """Req/s over all rounds; p50 and p99 as the median of the rounds' values."""
    requests = sum(run["requests"] for run in runs)
    seconds = sum(run["duration"] for run in runs)
    return {
        "rps": requests / seconds,
        "p50": statistics.median(run["p50_ms"] for run in runs),
        "p99": statistics.median(run["p99_ms"] for run in runs),
        "requests": requests,
        "cpu_us": 1e6 * sum(run["server_cpu"] for run in runs) / requests,
    }


async def main(args: argparse.Namespace) -> int:
    deployment = Deployment(Path(tempfile.mkdtemp(prefix="licensing-bench-")))
    servers: dict[str, subprocess.Popen[bytes]] = {}
    try:
        await deployment.create()
        customer = (await deployment.provision(1))[0]
        secret = customer.secret

        env = {
            "PATH": os.environ["PATH"],
            "PYTHONPATH": f"{ROOT}:{ROOT / 'src'}",
            "DATABASE_URL": deployment.database_url,
            "REDIS_URL": REDIS_URL,
            "REDIS_KEY_PREFIX": deployment.redis_prefix,
            "PLANS_FILE": str(deployment.plans_file),
            "LOG_LEVEL": "warning",
            "ACCESS_LOG": "true" if args.access_log else "false",
        }
        ports = {"licensed": free_port(), "bare": free_port()}
        for name, app in (("licensed", LICENSED_APP), ("bare", BARE_APP)):
            servers[name] = start_server(app, env, ports[name], deployment.workdir)
        for name, server in servers.items():
            await wait_ready(ports[name], server)

        path = f"/v1/content/{ITEM}"
        headers = {"bare": [], "licensed": [f"Authorization: Bearer {secret}"]}
        licensed_200s = 0
        results: dict[str, list[dict]] = {"bare": [], "licensed": []}
        print(f"warm-up {args.warmup:.0f} s each; {args.rounds} rounds × {args.duration:.0f} s, "
              f"{args.connections} connections, client {args.client}, one uvicorn worker per server",
              flush=True)
        for name in ("bare", "licensed"):
            run = await asyncio.to_thread(
                load, args.client, ports[name], path, headers[name], args.warmup, args.connections
            )
            if name == "licensed":
                licensed_200s += run["ok"]
        for round_number in range(args.rounds):
            order = ("bare", "licensed") if round_number % 2 == 0 else ("licensed", "bare")
            for name in order:
                server = servers[name]
                cpu_before = cpu_seconds(server.pid)
                profiler = None
                if args.profile and round_number == args.rounds - 1:
                    profiler = start_profiler(args.profile, server.pid, name, args.duration)
                run = await asyncio.to_thread(
                    load, args.client, ports[name], path, headers[name], args.duration, args.connections
                )
                if profiler is not None:
                    profiler.wait(60)
                run["server_cpu"] = cpu_seconds(server.pid) - cpu_before
                results[name].append(run)
                if any(run["other"].values()):
                    print(f"  {name}: unexpected answers {run['other']}")
                if name == "licensed":
                    licensed_200s += run["ok"]
                print(f"  round {round_number + 1} {name:8} {run['rps']:8.0f} req/s  "
                      f"p50 {run['p50_ms']:6.2f} ms  p99 {run['p99_ms']:6.2f} ms  "
                      f"server CPU {1e6 * run['server_cpu'] / run['requests']:6.1f} µs/request", flush=True)

        bare_s, licensed_s = summarise(results["bare"]), summarise(results["licensed"])
        per_round = [
            lic["rps"] / b["rps"] for b, lic in zip(results["bare"], results["licensed"], strict=True)
        ]
        print()
        print(f"{'':10}{'req/s':>10}{'p50 ms':>10}{'p99 ms':>10}{'CPU µs/req':>12}")
        for label, summary in (("bare", bare_s), ("licensed", licensed_s)):
            print(f"{label:10}{summary['rps']:10.0f}{summary['p50']:10.2f}{summary['p99']:10.2f}"
                  f"{summary['cpu_us']:12.1f}")
        throughput_ratio = licensed_s["rps"] / bare_s["rps"]
        p99_ratio = licensed_s["p99"] / bare_s["p99"]
        print(f"throughput licensed/bare = {throughput_ratio:.3f} (target >= 0.90; "
              f"per round: {', '.join(f'{r:.3f}' for r in per_round)}; median {statistics.median(per_round):.3f})")
        print(f"server CPU per request bare/licensed = {bare_s['cpu_us'] / licensed_s['cpu_us']:.3f} "
              "(the throughput ratio a saturated, uncontended core would give)")
        print(f"p99 licensed/bare = {p99_ratio:.3f} (target <= 1.30); "
              f"p50 licensed/bare = {licensed_s['p50'] / bare_s['p50']:.3f}")

        # Reconcile: the server's own count of 200s (its request metric, independent of the
        # tally), then a graceful stop, which moves the worker's last tally into Redis.
        await asyncio.sleep(0.5)
        served_200s = await served_by_server(ports["licensed"])
        for server in servers.values():
            server.send_signal(signal.SIGTERM)
        for server in servers.values():
            server.wait(30)
        period = await deployment.period_units(customer.item_id)
        async with open_resources(deployment.settings, load_catalogue(deployment.plans_file)) as resources:
            async with resources.sessionmaker() as session:
                ledger = int(await session.scalar(select(func.coalesce(func.sum(UsageReport.units), 0))) or 0)
        unflushed = period - ledger  # counted in Redis, above the ledger's watermark
        print(f"licensed 200s: counted by the server {served_200s}, received by the client "
              f"{licensed_200s}; Redis period total {period} (ledger {ledger}"
              f" + not yet flushed {unflushed})")
        reconciled = period == served_200s and (args.client == "wrk" or period == licensed_200s)
        print("units counted = 200s served: " + ("EXACT" if reconciled else "MISMATCH"))
        ok = reconciled and throughput_ratio >= 0.90 and p99_ratio <= 1.30
        return 0 if ok else 1
    finally:
        for server in servers.values():
            if server.poll() is None:
                server.kill()
        await deployment.destroy()


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description="licensed vs bare throughput and latency")
    # Many short rounds: this machine's speed drifts by ±15% from one second to the next, and
    # only pairs of rounds close in time compare the two servers at the same speed.
    parser.add_argument("--rounds", type=int, default=60, help="even: each endpoint goes first equally often")
    parser.add_argument("--duration", type=float, default=1.0, help="seconds per round and endpoint")
    parser.add_argument("--warmup", type=float, default=2.0)
    # 16 keep-alive connections saturate the worker; at 32, uvicorn's queueing on a saturated
    # worker gives any app p99 tails of 100-200 ms here, and p99 would measure that (README).
    parser.add_argument("--connections", type=int, default=16)
    parser.add_argument("--access-log", action="store_true", help="keep the JSON access log on")
    parser.add_argument(
        "--client", choices=("wrk", "python"), default="wrk" if shutil.which("wrk") else "python",
        help="load generator: wrk (default when installed) or bench/loadgen.py",
    )
    parser.add_argument("--profile", metavar="PY_SPY", help="path of py-spy: profile the last round")
    started = time.monotonic()
    code = asyncio.run(main(parser.parse_args()))
    print(f"({time.monotonic() - started:.0f} s)")
    sys.exit(code)
