"""A small closed-loop HTTP/1.1 load generator (run as its own process by bench/run.py).

N keep-alive connections each send a request, read the whole response, and repeat until
the deadline; a request in flight at the deadline is awaited, so every response the server
sent is counted. Prints one JSON object: requests by status, duration, latency percentiles.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import time
from collections import Counter


def build_request(host: str, port: int, path: str, headers: list[str]) -> bytes:
    lines = [f"GET {path} HTTP/1.1", f"Host: {host}:{port}", "Accept: application/json", *headers]
    return ("\r\n".join(lines) + "\r\n\r\n").encode()


async def read_response(reader: asyncio.StreamReader) -> tuple[int, bytes]:
    """One response off a keep-alive connection: its status and lowercased head (the body is
    read and dropped)."""
    head = await reader.readuntil(b"\r\n\r\n")
    lowered = head.lower()
    at = lowered.find(b"content-length:")
    length = int(lowered[at + 15 : lowered.find(b"\r\n", at)]) if at >= 0 else 0
    if length:
        await reader.readexactly(length)
    return int(head[9:12]), lowered


async def connection(
    host: str, port: int, request: bytes, deadline: float, statuses: Counter[int], latencies: list[float]
) -> None:
    reader, writer = await asyncio.open_connection(host, port)
    clock = time.perf_counter
    try:
        while clock() < deadline:
            started = clock()
            writer.write(request)
            status, _ = await read_response(reader)
            latencies.append(clock() - started)
            statuses[status] += 1
    finally:
        writer.close()


def percentile(sorted_values: list[float], fraction: float) -> float:
    if not sorted_values:
        return float("nan")
    index = min(len(sorted_values) - 1, max(0, round(fraction * (len(sorted_values) - 1))))
    return sorted_values[index]


async def main(args: argparse.Namespace) -> dict[str, object]:
    statuses: Counter[int] = Counter()
    latencies: list[float] = []
    request = build_request(args.host, args.port, args.path, args.header)
    started = time.perf_counter()
    deadline = started + args.duration
    await asyncio.gather(
        *(
            connection(args.host, args.port, request, deadline, statuses, latencies)
            for _ in range(args.connections)
        )
    )
    elapsed = time.perf_counter() - started
    latencies.sort()
    return {
        "path": args.path,
        "duration": elapsed,
        "requests": sum(statuses.values()),
        "statuses": {str(k): v for k, v in sorted(statuses.items())},
        "rps": sum(statuses.values()) / elapsed,
        "p50_ms": percentile(latencies, 0.50) * 1000,
        "p99_ms": percentile(latencies, 0.99) * 1000,
    }


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--path", required=True)
    parser.add_argument("--header", action="append", default=[])
    parser.add_argument("--duration", type=float, default=5.0)
    parser.add_argument("--connections", type=int, default=32)
    arguments = parser.parse_args()
    try:
        import uvloop

        result = uvloop.run(main(arguments))
    except ImportError:
        result = asyncio.run(main(arguments))
    print(json.dumps(result))
