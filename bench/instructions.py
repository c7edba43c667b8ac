"""Instruction counts per request (callgrind): the licensed route and the two reference apps.

    .venv/bin/python bench/instructions.py [--requests 400] [--apps licensed,fastapi,starlette]

Exact and immune to the machine's load, so a change to the request path can be judged by
its cost before any wall-clock run. For each app a child process runs under
`valgrind --tool=callgrind`: it builds the app the way its server does (the service through
`create_app_from_env`, as `licensing-api serve` runs it, on its defaults: access log,
metrics, security headers, crawler counts), runs its lifespan, and drives it in-process
through uvicorn's own HTTP protocol (httptools, uvloop) over a fake socket: the same request
bytes for every app (a crawler's User-Agent and the key, which the reference apps ignore),
one keep-alive connection, one request at a time. Only the measured requests are counted
(callgrind client requests through a tiny C shim compiled here: needs `cc` and valgrind's
headers). Work the service batches on a timer is run the way a busy worker runs it: the
access-log writer every `--batch` requests (≈ 100 ms at 2,500 req/s); the tally mover's
200 ms tick is left out (one Redis round trip per tick, nothing per request).

Prints instructions per request and the ratios (reference ÷ licensed: the throughput ratio
a saturated core would give if the kernel's share were nothing). Not part of the test suite.
"""

from __future__ import annotations

import argparse
import asyncio
import ctypes
import os
import re
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "src"))

ITEM = "sourdough-chemistry"
USER_AGENT = "Mozilla/5.0 AppleWebKit/537.36 (KHTML, like Gecko; compatible; GPTBot/1.2; +https://openai.com/gptbot)"
APPS = {
    "licensed": "licensing_api.main:create_app_from_env",
    "fastapi": "bench.reference_apps:create_fastapi_app",
    "starlette": "bench.reference_apps:create_starlette_app",
    "twin": "bench.app:create_bare_app",  # the first wave's twin (bench/app.py)
    "asgi": "bench.reference_apps:create_asgi_app",  # calibration: uvicorn's own floor
}
SERVED_BY_SERVE = {"licensed", "twin"}  # through `licensing-api serve`'s uvicorn options
SHIM = r"""
#include <valgrind/callgrind.h>
void measure_start(void) { CALLGRIND_START_INSTRUMENTATION; CALLGRIND_TOGGLE_COLLECT; }
void measure_stop(void) { CALLGRIND_TOGGLE_COLLECT; CALLGRIND_STOP_INSTRUMENTATION; }
"""


class FakeTransport:
    """What uvicorn's protocol needs of a socket transport; responses are counted, not kept."""

    def __init__(self) -> None:
        self.written = 0
        self.closing = False

    def write(self, data: bytes) -> None:
        self.written += len(data)

    def get_extra_info(self, name: str, default: object = None) -> object:
        return {"sockname": ("127.0.0.1", 8000), "peername": ("127.0.0.1", 40000)}.get(name, default)

    def is_closing(self) -> bool:
        return self.closing

    def close(self) -> None:
        self.closing = True

    def pause_reading(self) -> None: ...

    def resume_reading(self) -> None: ...

    def set_protocol(self, protocol: object) -> None: ...


def request_bytes(secret: str) -> bytes:
    return (
        f"GET /v1/content/{ITEM} HTTP/1.1\r\nHost: 127.0.0.1:8000\r\nUser-Agent: {USER_AGENT}\r\n"
        f"Accept: */*\r\nAuthorization: Bearer {secret}\r\n\r\n"
    ).encode()


async def drive(app_name: str, requests: int, warmup: int, batch: int, shim: str | None) -> None:
    import uvicorn
    from uvicorn.lifespan.on import LifespanOn
    from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol
    from uvicorn.server import ServerState

    from licensing_api.http_protocol import ServiceHttpProtocol
    from licensing_api.observability import access_log as access_log_module
    from licensing_api.logging import configure_logging

    # What uvicorn.run does before loading the app: its logging config (the service then
    # replaces it with JSON lines in create_app_from_env).
    config = uvicorn.Config(APPS[app_name], factory=True, log_level="info", access_log=False)
    if app_name != "licensed":
        configure_logging("info")  # not used per request; only keeps stderr quiet alike
    # The access-log writer's timer would write batches as small as valgrind is slow (and the
    # machine busy); the batches are written here instead, every `batch` requests.
    access_log_module.WRITE_INTERVAL_SECONDS = 3600
    config.load()
    lifespan = LifespanOn(config)
    await lifespan.startup()
    state = ServerState()
    # Each app's own server protocol: `serve` bounds the request headers and writes each
    # response in one write (http_protocol.py);
    # the reference apps get uvicorn's default, as a minimal app run with uvicorn does.
    protocol_class = ServiceHttpProtocol if app_name in SERVED_BY_SERVE else HttpToolsProtocol
    protocol = protocol_class(config, state, lifespan.state, asyncio.get_running_loop())
    transport = FakeTransport()
    protocol.connection_made(transport)  # type: ignore[arg-type]
    request = request_bytes(os.environ.get("BENCH_SECRET", "lk_none"))
    access_log = getattr(getattr(config.loaded_app, "app", None), "state", None)
    writer = getattr(access_log, "access_log", None)  # the service's batched access log

    async def one() -> None:
        done = state.total_requests + 1
        protocol.data_received(request)
        while state.total_requests < done:
            await asyncio.sleep(0)

    for _ in range(warmup):
        await one()
    body_bytes = transport.written
    library = ctypes.CDLL(shim) if shim else None
    started = time.perf_counter()
    if library:
        library.measure_start()
    for n in range(1, requests + 1):
        await one()
        if writer is not None and n % batch == 0:
            writer.write_pending()
    if library:
        library.measure_stop()
    print(f"µs per request: {1e6 * (time.perf_counter() - started) / requests:.1f}", file=sys.stderr)
    print(f"bytes per response: {body_bytes / max(1, warmup):.0f}", file=sys.stderr)
    transport.close()
    await lifespan.shutdown()


def compile_shim(workdir: Path) -> Path:
    source, library = workdir / "shim.c", workdir / "shim.so"
    source.write_text(SHIM)
    subprocess.run(["cc", "-O1", "-shared", "-fPIC", "-o", str(library), str(source)], check=True)
    return library


def measure(app: str, args: argparse.Namespace, env: dict[str, str], workdir: Path, shim: Path) -> float:
    out = workdir / f"callgrind.{app}.out"
    log = workdir / f"{app}.log"
    child = [
        sys.executable, __file__, "--child", app, "--requests", str(args.requests),
        "--warmup", str(args.warmup), "--batch", str(args.batch),
    ]
    valgrind = [
        "valgrind", "--tool=callgrind", "--instr-atstart=no", "--collect-atstart=no",
        f"--callgrind-out-file={out}",
    ]
    command = child if args.native else [*valgrind, *child, "--shim", str(shim)]
    with log.open("wb") as stream:
        subprocess.run(command, env=env, cwd=workdir, stdout=stream, stderr=subprocess.STDOUT, check=True)
    if args.native:
        return float(re.findall(r"µs per request: ([\d.]+)", log.read_text())[-1])
    totals = re.search(r"^totals: (\d+)", out.read_text(), re.MULTILINE)
    if totals is None:
        raise SystemExit(f"no totals in {out}; see {log}")
    return int(totals.group(1)) / args.requests


async def parent(args: argparse.Namespace) -> int:
    from bench.harness import REDIS_URL, Deployment

    workdir = Path(tempfile.mkdtemp(prefix="licensing-instructions-"))
    deployment = Deployment(workdir)
    await deployment.create()
    try:
        (customer,) = await deployment.provision(1)
        env = {
            "PATH": os.environ["PATH"], "HOME": str(workdir), "PYTHONPATH": f"{ROOT}:{ROOT / 'src'}",
            "DATABASE_URL": deployment.database_url, "REDIS_URL": REDIS_URL,
            "REDIS_KEY_PREFIX": deployment.redis_prefix, "PLANS_FILE": str(deployment.plans_file),
            "BENCH_SECRET": customer.secret, "TALLY_FLUSH_INTERVAL_MS": "5000",
            **dict(setting.split("=", 1) for setting in args.env),
        }
        shim = compile_shim(workdir)
        counts = {}
        for app in args.apps.split(","):
            counts[app] = await asyncio.to_thread(measure, app, args, env, workdir, shim)
            unit = "µs" if args.native else "instructions"
            print(f"{app:10} {counts[app]:12,.1f} {unit}/request", flush=True)
        if "licensed" in counts:
            for app, count in counts.items():
                if app != "licensed":
                    print(f"{app} ÷ licensed = {count / counts['licensed']:.3f} "
                          f"(licensed ÷ {app} throughput, by instructions)")
        print(f"(work directory: {workdir})")
        return 0
    finally:
        await deployment.destroy()


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description="callgrind instructions per request")
    parser.add_argument("--apps", default="licensed,fastapi,starlette")
    parser.add_argument("--requests", type=int, default=400)
    parser.add_argument("--warmup", type=int, default=200)
    parser.add_argument("--batch", type=int, default=250, help="requests per access-log write")
    parser.add_argument("--env", action="append", default=[], metavar="NAME=VALUE",
                        help="a setting for the apps (e.g. ACCESS_LOG=false), repeatable")
    parser.add_argument("--native", action="store_true", help="no valgrind: wall-clock µs instead")
    parser.add_argument("--child", choices=sorted(APPS), help=argparse.SUPPRESS)
    parser.add_argument("--shim", help=argparse.SUPPRESS)
    arguments = parser.parse_args()
    if arguments.child:
        import uvloop

        uvloop.run(drive(arguments.child, arguments.requests, arguments.warmup, arguments.batch, arguments.shim))
        sys.exit(0)
    sys.exit(asyncio.run(parent(arguments)))
