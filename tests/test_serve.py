"""`licensing-api serve` as a newcomer runs it: links, the start-up banner, and a restart on
the embedded defaults that keeps every unit."""

from __future__ import annotations

import os
import signal
import sqlite3
import subprocess
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import httpx

from tests.observability.serving import EXIT_TIMEOUT_SECONDS, Server, free_port, serving


def test_serve_port_option_moves_every_link_to_that_port(tmp_path):
    port = free_port()
    # PORT says 8000; the option wins, and PUBLIC_BASE_URL (unset) follows what is bound.
    env = {"PORT": "8000", "PATH": "/usr/bin:/bin"}  # the virtualenv's bin is not on PATH
    with serving(env, tmp_path, "--port", str(port), port=port) as server:
        server.wait_ready()
        offer = httpx.get(server.url + "/v1/content").json()
        license_xml = httpx.get(server.url + "/license.xml").text
        server.terminate()
    base = f"http://127.0.0.1:{port}"
    assert offer["license_url"] == f"{base}/license.xml"
    assert f"{base}/license" in license_xml
    assert ":8000" not in license_xml + str(offer)
    banner = next(line for line in server.log.splitlines() if line.startswith("licensing-api on"))
    assert banner.startswith(f"licensing-api on {base}, docs at {base}/docs")
    # So the banner names the command by its path, not as a bare `licensing-api`.
    assert "create a customer and key: /" in banner and "/licensing-api customers create" in banner


PROJECT_ROOT = Path(__file__).resolve().parents[1]


def test_scripts_serve_then_ctrl_c_then_again_keeps_every_unit(tmp_path):
    # The embedded defaults (SQLite, REDIS_URL=memory://, billing off), kept under tmp_path.
    env = {
        "PATH": os.environ["PATH"], "HOME": str(tmp_path),
        "DATABASE_URL": f"sqlite+aiosqlite:///{tmp_path}/licensing.db",
        "EMBEDDED_REDIS_FILE": str(tmp_path / "embedded-redis.json"),
        # Nothing reaches the ledger before the stop, and the last units are still in the
        # worker's tally when ctrl-C comes.
        "USAGE_FLUSH_INTERVAL_SECONDS": "3600", "TALLY_FLUSH_INTERVAL_MS": "5000",
    }
    with scripts_serve(env, tmp_path) as server:
        secret = _create_customer(env)
        for _ in range(5):
            assert httpx.get(server.url + "/v1/content", headers=_bearer(secret)).status_code == 200
    with scripts_serve(env, tmp_path) as server:
        assert httpx.get(server.url + "/v1/usage", headers=_bearer(secret)).json()["units"] == 5
        for _ in range(3):
            served = httpx.get(server.url + "/v1/content", headers=_bearer(secret))
        assert served.headers["X-Usage-Units"] == "8"
    # Now let the flusher run: every unit reaches the ledger, once.
    with scripts_serve({**env, "USAGE_FLUSH_INTERVAL_SECONDS": "0.2"}, tmp_path) as server:
        assert httpx.get(server.url + "/v1/usage", headers=_bearer(secret)).json()["units"] == 8
        deadline = time.monotonic() + 30
        while _ledger_units(tmp_path / "licensing.db") < 8 and time.monotonic() < deadline:
            time.sleep(0.2)
    assert _ledger_units(tmp_path / "licensing.db") == 8
    # Restarted after that flush, flushing again: nothing is counted twice.
    with scripts_serve({**env, "USAGE_FLUSH_INTERVAL_SECONDS": "0.2"}, tmp_path) as server:
        deadline = time.monotonic() + 30
        while server.log.count('"event": "usage_flushed"') < 2 and time.monotonic() < deadline:
            time.sleep(0.2)
        assert server.log.count('"event": "usage_flushed"') >= 2
        assert httpx.get(server.url + "/v1/usage", headers=_bearer(secret)).json()["units"] == 8
    assert _ledger_units(tmp_path / "licensing.db") == 8


@contextmanager
def scripts_serve(env: dict[str, str], tmp_path: Path) -> Iterator[Server]:
    """`bash scripts/serve --port P` in a terminal of its own; ctrl-C (SIGINT to the terminal's
    process group) when the block ends, and a clean exit asserted."""
    port = free_port()
    log_path = tmp_path / f"scripts-serve-{port}.log"
    with log_path.open("wb") as log:
        process = subprocess.Popen(
            ["bash", str(PROJECT_ROOT / "scripts" / "serve"), "--port", str(port)],
            env=env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True,
        )
    server = Server(process, port, log_path)
    try:
        server.wait_ready()
        yield server
        os.killpg(process.pid, signal.SIGINT)
        status = process.wait(timeout=EXIT_TIMEOUT_SECONDS)
        assert status in (0, -signal.SIGINT), server.log
        assert "Application shutdown complete." in server.log, server.log
        assert "Traceback" not in server.log, server.log
    finally:
        if process.poll() is None:
            process.kill()  # only when the test failed before its own ctrl-C
            process.wait(timeout=10)


def _create_customer(env: dict[str, str]) -> str:
    created = subprocess.run(
        [str(PROJECT_ROOT / ".venv" / "bin" / "licensing-api"), "customers", "create",
         "--email", "restart@example.com", "--plan", "standard"],
        env=env, capture_output=True, text=True, timeout=60,
    )
    assert created.returncode == 0, created.stderr
    return created.stdout.splitlines()[0]


def _bearer(secret: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {secret}"}


def _ledger_units(database: Path) -> int:
    with sqlite3.connect(database) as connection:
        return int(connection.execute("SELECT coalesce(sum(units), 0) FROM usage_reports").fetchone()[0])


def _raw_request(port: int, request: bytes) -> bytes:
    import socket

    with socket.create_connection(("127.0.0.1", port), timeout=10) as connection:
        try:
            connection.sendall(request)
        except (BrokenPipeError, ConnectionResetError):
            pass  # refused mid-send: the answer is already waiting
        reply = b""
        while chunk := connection.recv(65536):
            reply += chunk
    return reply


def test_serve_refuses_oversized_or_too_many_request_headers_with_431(tmp_path):
    with serving({}, tmp_path) as server:
        server.wait_ready()
        huge = _raw_request(server.port, b"GET /healthz HTTP/1.1\r\nHost: t\r\nX-Big: "
                            + b"a" * 200_000 + b"\r\nConnection: close\r\n\r\n")
        many = _raw_request(server.port, b"GET /healthz HTTP/1.1\r\nHost: t\r\n"
                            + b"".join(b"X-H%d: v\r\n" % i for i in range(5000))
                            + b"Connection: close\r\n\r\n")
        endless = _raw_request(server.port, b"GET /healthz HTTP/1.1\r\nX-Endless: " + b"b" * 100_000)
        fine = _raw_request(server.port, b"GET /healthz HTTP/1.1\r\nHost: t\r\nX-Ok: "
                            + b"c" * 8000 + b"\r\nConnection: close\r\n\r\n")
        # A body is not headers: reads that carry a message's end are not counted as such.
        body = _raw_request(server.port, b"POST /v1/signup HTTP/1.1\r\nHost: t\r\nContent-Length: 900000\r\n"
                            b"Content-Type: application/json\r\n"
                            b"Connection: close\r\n\r\n" + b"d" * 900_000)
        server.terminate()
    for reply in (huge, many, endless):
        assert reply.startswith(b"HTTP/1.1 431 "), reply[:200]
        assert b"application/problem+json" in reply
    assert b"more than 100 header lines" in many
    assert fine.startswith(b"HTTP/1.1 200 "), fine[:200]
    assert body.startswith(b"HTTP/1.1 422 ") and b" 431 " not in body, body[:400]  # read, then refused as JSON
