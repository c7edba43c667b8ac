"""`licensing-api serve` as a real subprocess on a free loopback port, for operations tests."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import httpx

START_TIMEOUT_SECONDS = 60
EXIT_TIMEOUT_SECONDS = 40  # the graceful shutdown (20 s) plus start-up slack


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


class Server:
    def __init__(self, process: subprocess.Popen[bytes], port: int, log_path: Path) -> None:
        self.process = process
        self.url = f"http://127.0.0.1:{port}"
        self.port = port
        self.log_path = log_path

    @property
    def log(self) -> str:
        return self.log_path.read_text(errors="replace")

    def wait_ready(self) -> None:
        deadline = time.monotonic() + START_TIMEOUT_SECONDS
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise AssertionError(f"serve exited with {self.process.returncode}:\n{self.log}")
            try:
                if httpx.get(self.url + "/healthz", timeout=1).status_code == 200:
                    return
            except httpx.TransportError:
                pass
            time.sleep(0.2)
        raise AssertionError(f"serve did not answer /healthz in {START_TIMEOUT_SECONDS} s:\n{self.log}")

    def terminate(self) -> None:
        """SIGTERM, as an orchestrator stops a container; asserts a clean, graceful exit."""
        self.process.send_signal(signal.SIGTERM)
        self.assert_clean_exit()

    def assert_clean_exit(self) -> None:
        status = self.process.wait(timeout=EXIT_TIMEOUT_SECONDS)
        # One worker: uvicorn re-raises the SIGTERM it handled once shut down (exit -15).
        assert status in (0, -signal.SIGTERM), self.log
        log = self.log
        workers = log.count("Started server process")
        assert log.count("Application shutdown complete.") == workers, log
        assert log.count("Finished server process") == workers, log
        assert "Traceback" not in log, log


@contextmanager
def serving(
    env: dict[str, str], cwd: Path, *args: str, port: int | None = None
) -> Iterator[Server]:
    port = port or free_port()
    log_path = cwd / f"serve-{port}.log"
    full_env = {"PATH": os.environ["PATH"], "HOME": str(cwd), "PORT": str(port), **env}
    with log_path.open("wb") as log:
        process = subprocess.Popen(
            [str(Path(sys.executable).with_name("licensing-api")), "serve", *args],  # the image's command
            cwd=cwd, env=full_env, stdout=log, stderr=subprocess.STDOUT,
        )
    server = Server(process, port, log_path)
    try:
        yield server
    finally:
        if process.poll() is None:
            process.kill()  # only when a test failed before its own clean stop
            process.wait(timeout=10)
