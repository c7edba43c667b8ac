"""One round of load and its summary, shared by the benchmarks (`run.py`, `gateway.py`,
`multihost.py`): wrk (or `loadgen.py`, no wrk needed) against one port, the load generator's
CPU and the server's."""

from __future__ import annotations

import json
import os
import resource
import statistics
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def load(client: str, port: int, path: str, headers: list[str], duration: float, connections: int) -> dict:
    """One round of load: requests, 200s ("ok", and "other" statuses), req/s, p50 and p99 (ms),
    and the load generator's own CPU seconds ("client_cpu")."""
    before = _children_cpu_seconds()
    run = _load(client, port, path, headers, duration, connections)
    return {**run, "client_cpu": _children_cpu_seconds() - before}


def _children_cpu_seconds() -> float:
    # Only reaped children count, and the load generator is the only child reaped during a
    # round (the servers outlive it), so the difference is its user + system time.
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def _load(client: str, port: int, path: str, headers: list[str], duration: float, connections: int) -> dict:
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


def cpu_seconds(pid: int) -> float:
    """User + system CPU time of a process (Linux /proc), immune to other processes' load."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def summarise(runs: list[dict]) -> dict[str, float]:
    """Req/s over all rounds; p50 and p99 as the median of the rounds' values; server CPU per
    request from each round's `server_cpu` seconds (0 when not measured) and the load
    generator's from its `client_cpu`."""
    requests = sum(run["requests"] for run in runs)
    return {
        "rps": requests / sum(run["duration"] for run in runs),
        "p50": statistics.median(run["p50_ms"] for run in runs),
        "p99": statistics.median(run["p99_ms"] for run in runs),
        "requests": requests,
        "cpu_us": 1e6 * sum(run.get("server_cpu", 0.0) for run in runs) / requests,
        "client_cpu_us": 1e6 * sum(run["client_cpu"] for run in runs) / requests,
    }
