"""Benchmark: throughput behind nginx with 2 hosts ÷ with 1 host, in one run.

    sudo .venv/bin/python bench/multihost.py [--rounds 4] [--duration 5] [--connections 32] [--workers 1]

Two `licensing-api serve --workers N` hosts laid out as tests/deploy/test_multihost.py lays
them out (each in its own network namespace where the machine allows it, else its own port;
tests/deploy/hosts.py), sharing one PostgreSQL database and Redis prefix of their own (billing
off), and two Debian nginx processes running deploy/nginx.conf (access log off): one with
host 1 alone as its upstream, one with both hosts. Rounds alternate between them under `wrk`
(licensed requests, one key), so the machine's noise hits both alike. Prints req/s, p50 and
p99 of each, the ratio, and the load averages before and after; then stops the hosts with
SIGTERM and reconciles Redis's units with the 200s wrk received (wrk abandons at most one
request per connection when a run stops, which a host still served and counted).

On a machine with fewer cores than hosts × workers + nginx + wrk the ratio shows how much
the shared CPU, not the layout, limits: read it with the load averages. Not part of the suite.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import shutil
import signal
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "src"))

from bench.harness import ADMIN_TOKEN, REDIS_URL, SESSION_SECRET, Deployment  # noqa: E402
from bench.rounds import load, summarise  # noqa: E402
from tests.deploy.hosts import host_network, start_balancer, start_host, wait_ready  # noqa: E402

ITEM = "/v1/content/urban-beekeeping"


def load_averages() -> str:
    return " ".join(Path("/proc/loadavg").read_text().split()[:3])


async def main(args: argparse.Namespace) -> int:
    deployment = Deployment(Path(tempfile.mkdtemp(prefix="licensing-bench-multihost-")))
    await deployment.create()
    balancers = []
    hosts = []
    try:
        customer = (await deployment.provision(1))[0]
        ports = [5432, int(REDIS_URL.rsplit(":", 1)[1].split("/")[0])]
        with host_network(2, ports, kind=args.network) as network:
            env = {
                "PATH": os.environ["PATH"],
                "DATABASE_URL": network.reach(deployment.database_url),
                "REDIS_URL": network.reach(REDIS_URL),
                "REDIS_KEY_PREFIX": deployment.redis_prefix, "PLANS_FILE": str(deployment.plans_file),
                "ADMIN_TOKEN": ADMIN_TOKEN, "SESSION_SECRET": SESSION_SECRET,
                "FORWARDED_ALLOW_IPS": network.balancer_address, "LOG_LEVEL": "warning",
            }
            hosts = [start_host(network, i, env, deployment.workdir / f"host{i}", args.workers) for i in range(2)]
            await asyncio.gather(*(wait_ready(host) for host in hosts))
            upstreams = [f"{network.host_addresses[i]}:{network.host_ports[i]}" for i in range(2)]
            balancers = [
                await start_balancer(deployment.workdir / "nginx-1host", upstreams[:1], access_log=False),
                await start_balancer(deployment.workdir / "nginx-2hosts", upstreams, access_log=False),
            ]
            targets = {"1 host": balancers[0], "2 hosts": balancers[1]}
            headers = [f"Authorization: Bearer {customer.secret}"]
            received = 0
            for balancer in balancers:  # warm-up: connections, caches
                received += load("wrk", int(balancer.url.rsplit(":", 1)[1]), ITEM, headers, 1, args.connections)["ok"]
            before = load_averages()
            runs: dict[str, list[dict]] = {name: [] for name in targets}
            for round_number in range(args.rounds):
                for name, balancer in targets.items():
                    run = load("wrk", int(balancer.url.rsplit(":", 1)[1]), ITEM, headers, args.duration,
                               args.connections)
                    assert not any(run["other"].values()), run["other"]
                    received += run["ok"]
                    runs[name].append(run)
                print(f"  round {round_number + 1}/{args.rounds}: "
                      + ", ".join(f"{n} {runs[n][-1]['rps']:.0f} req/s" for n in targets), flush=True)
            after = load_averages()
            for host in hosts:  # SIGTERM: each worker moves its last tally into Redis
                code = await host.stop(signal.SIGTERM)  # one worker re-raises SIGTERM once drained
                assert code in (0, -signal.SIGTERM), f"host {host.index} exited {code}"
        summary = {name: summarise(rounds) for name, rounds in runs.items()}
        print(f"\n{args.rounds} rounds × {args.duration} s per layout, {args.connections} connections, wrk, "
              f"{args.workers} worker(s) per host, hosts in {network.kind}; load averages (1, 5, 15 min) "
              f"before {before}, after {after} on {os.cpu_count()} CPUs")
        print(f"{'':8} {'req/s':>9} {'p50 ms':>8} {'p99 ms':>8}")
        for name, figures in summary.items():
            print(f"{name:8} {figures['rps']:9.0f} {figures['p50']:8.2f} {figures['p99']:8.2f}")
        print(f"2 hosts ÷ 1 host: throughput {summary['2 hosts']['rps'] / summary['1 host']['rps']:.2f}")
        counted = await deployment.period_units(customer.item_id)
        cut_off, bound = counted - received, args.connections * (2 * args.rounds + 2)
        consistent = 0 <= cut_off <= bound
        print(f"units counted in Redis {counted}, 200s received {received} (warm-up included): {cut_off} cut off "
              f"by wrk's stops, at most {bound}: " + ("consistent" if consistent else "INCONSISTENT"))
        return 0 if consistent else 1
    finally:
        for balancer in balancers:
            balancer.stop()
        for host in hosts:
            host.kill()
        await deployment.destroy()


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rounds", type=int, default=4)
    parser.add_argument("--duration", type=float, default=5)
    parser.add_argument("--connections", type=int, default=32)
    parser.add_argument("--workers", type=int, default=1, help="uvicorn workers per host")
    parser.add_argument("--network", choices=("namespaces", "ports"), default=None,
                        help="default: namespaces where the machine allows them")
    return parser.parse_args()


if __name__ == "__main__":
    if not shutil.which("wrk"):
        raise SystemExit("wrk is not installed (apt-get install -y wrk)")
    raise SystemExit(asyncio.run(main(parse_args())))
