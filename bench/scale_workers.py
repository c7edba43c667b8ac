"""Benchmark: throughput of `licensing-api serve` with 1 worker against 2 workers.

    .venv/bin/python bench/scale_workers.py [--rounds 3] [--duration 10] [--connections 32]

A fresh deployment (bench/harness.py: PostgreSQL, Redis, billing off, access log off). For
each round, 1 worker then 2 workers: start `serve`, warm up, then `wrk` (Debian package
`wrk`, one thread, keep-alive connections, fixed duration) on the licensed content path
`/v1/content/{item}` with a valid key; stop with SIGTERM. Prints each run's req/s and
non-2xx count, the server's CPU (cores used, CPU µs per request: if that stays flat from 1 to 2
workers, the workers scale and only the cores they get limit them), the medians and their
ratio (the target is ≥ 1.6× on a 2-core machine), plus the load average before each run: the
machine is shared, so read the figures with it.
Not part of the test suite.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.harness import Deployment  # noqa: E402

ITEM = "sourdough-chemistry"
WARM_UP_SECONDS = 3


def server_cpu_seconds(root_pid: int) -> float:
    """User + system CPU of `serve` and its worker processes so far (Linux /proc)."""
    ticks = os.sysconf("SC_CLK_TCK")
    total = 0.0
    for stat_path in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat_path.read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        pid, ppid = int(stat_path.parent.name), int(fields[1])
        if root_pid in (pid, ppid):
            total += (int(fields[11]) + int(fields[12])) / ticks
    return total


def wrk(url: str, secret: str, duration: float, connections: int) -> tuple[float, int, str]:
    """req/s, non-2xx responses, the p99 latency line."""
    result = subprocess.run(
        ["wrk", "-t1", f"-c{connections}", f"-d{duration:.0f}s", "--latency",
         "-H", f"Authorization: Bearer {secret}", f"{url}/v1/content/{ITEM}"],
        capture_output=True, text=True, timeout=duration + 30, check=True,
    )
    rps = float(re.search(r"Requests/sec:\s+([\d.]+)", result.stdout).group(1))
    non_2xx = re.search(r"Non-2xx or 3xx responses:\s+(\d+)", result.stdout)
    p99 = re.search(r"99%\s+(\S+)", result.stdout)
    return rps, int(non_2xx.group(1)) if non_2xx else 0, p99.group(1) if p99 else "?"


async def measure(deployment: Deployment, workers: int, secret: str, args: argparse.Namespace) -> float:
    deployment.start(workers, ACCESS_LOG="false")
    try:
        await deployment.wait_ready()
        await asyncio.to_thread(wrk, deployment.url, secret, WARM_UP_SECONDS, args.connections)
        load = os.getloadavg()[0]
        assert deployment.process is not None
        cpu_before = server_cpu_seconds(deployment.process.pid)
        rps, non_2xx, p99 = await asyncio.to_thread(wrk, deployment.url, secret, args.duration, args.connections)
        cpu = server_cpu_seconds(deployment.process.pid) - cpu_before
        print(f"  {workers} worker(s): {rps:8.0f} req/s  p99 {p99:>8}  non-2xx {non_2xx}  "
              f"server CPU {cpu / args.duration:.2f} cores, {cpu * 1e6 / (rps * args.duration):.0f} µs/request  "
              f"(1-min load average before: {load:.2f})", flush=True)
        if non_2xx:
            raise SystemExit(f"{non_2xx} non-2xx responses: the measurement is not of served requests")
        return rps
    finally:
        await asyncio.to_thread(deployment.stop)


async def main(args: argparse.Namespace) -> int:
    if shutil.which("wrk") is None:
        raise SystemExit("wrk not found: apt-get install -y wrk")
    deployment = Deployment(Path(tempfile.mkdtemp(prefix="licensing-scale-")))
    await deployment.create()
    try:
        (customer,) = await deployment.provision(1)
        print(f"cores: {os.cpu_count()}  rounds: {args.rounds}  duration: {args.duration:.0f}s  "
              f"connections: {args.connections}  path: /v1/content/{ITEM}")
        results: dict[int, list[float]] = {1: [], 2: []}
        for round_number in range(1, args.rounds + 1):
            print(f"round {round_number}")
            for workers in (1, 2):
                results[workers].append(await measure(deployment, workers, customer.secret, args))
        ratios = ", ".join(f"{b / a:.2f}x" for a, b in zip(results[1], results[2], strict=True))
        print(f"per round (2 workers / 1 worker): {ratios}")
        one, two = statistics.median(results[1]), statistics.median(results[2])
        print(f"median: 1 worker {one:.0f} req/s, 2 workers {two:.0f} req/s, "
              f"scaling {two / one:.2f}x (target >= 1.6x)")
        return 0
    finally:
        await deployment.destroy()


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--duration", type=float, default=10.0)
    parser.add_argument("--connections", type=int, default=32)
    sys.exit(asyncio.run(main(parser.parse_args())))
