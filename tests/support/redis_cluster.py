"""A real local Redis Cluster for tests and benchmarks: 3 masters and 3 replicas, each a
`redis-server --cluster-enabled yes` of its own on a free loopback port, joined with
`redis-cli --cluster create --cluster-replicas 1`. Nothing is persisted; `stop` kills every
process it started. Also a pytest plugin (`tests/conftest.py`): `healthy_redis_cluster`, one
cluster for the whole run, for the tests that leave it whole (each uses a key prefix of its
own); a test that kills nodes starts its own (`started`)."""

from __future__ import annotations

import socket
import subprocess
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest
import redis

MASTERS = 3
NODE_TIMEOUT_MS = 1000  # how long a silent master stays "up" before its replica takes over


def free_ports(count: int) -> list[int]:
    sockets = []
    try:
        for _ in range(count):
            sock = socket.socket()
            sock.bind(("127.0.0.1", 0))
            sockets.append(sock)
        return [int(s.getsockname()[1]) for s in sockets]
    finally:
        for sock in sockets:
            sock.close()


@dataclass
class LocalRedisCluster:
    folder: Path
    ports: list[int] = field(default_factory=list)
    processes: dict[int, subprocess.Popen[bytes]] = field(default_factory=dict)

    @property
    def url(self) -> str:
        """REDIS_URL naming one node: the client discovers the others."""
        return f"redis://127.0.0.1:{self.ports[0]}/0"

    def start(self) -> None:
        ports = free_ports(4 * MASTERS)  # a client port and a cluster bus port per node
        self.ports, bus_ports = ports[:2 * MASTERS], ports[2 * MASTERS:]
        try:
            for port, bus_port in zip(self.ports, bus_ports, strict=True):
                self._start_node(port, bus_port)
            for port in self.ports:
                self._wait(lambda p=port: self.client(p).ping())
            subprocess.run(
                ["redis-cli", "--cluster", "create", *(f"127.0.0.1:{p}" for p in self.ports),
                 "--cluster-replicas", "1", "--cluster-yes"],
                check=True, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, timeout=60,
            )
            self.wait_until_healthy()
        except BaseException:
            self.stop()
            raise

    def _start_node(self, port: int, bus_port: int) -> None:
        folder = self.folder / str(port)
        folder.mkdir(parents=True, exist_ok=True)
        self.processes[port] = subprocess.Popen(
            ["redis-server", "--bind", "127.0.0.1", "--port", str(port), "--cluster-enabled", "yes",
             "--cluster-port", str(bus_port),
             "--cluster-config-file", str(folder / "nodes.conf"), "--cluster-node-timeout",
             str(NODE_TIMEOUT_MS), "--save", "", "--appendonly", "no", "--dir", str(folder),
             "--repl-diskless-sync-delay", "0"],  # a replica's first sync at once, not after 5 s
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
        )

    def client(self, port: int) -> redis.Redis:
        return redis.Redis(host="127.0.0.1", port=port, socket_timeout=5)

    def roles(self) -> dict[int, str]:
        """Port → "master" or "slave", for the nodes still running."""
        found = {}
        for port in self.running():
            with self.client(port) as node:
                found[port] = node.info("replication")["role"]
        return found

    def running(self) -> list[int]:
        return [p for p, process in self.processes.items() if process.poll() is None]

    def masters(self) -> list[int]:
        return [p for p, role in self.roles().items() if role == "master"]

    def replica_of(self, master_port: int) -> int:
        for port, role in self.roles().items():
            if role == "slave":
                with self.client(port) as node:
                    if int(node.info("replication")["master_port"]) == master_port:
                        return port
        raise LookupError(f"no replica of {master_port}")

    def master_of_slot(self, slot: int) -> int:
        with self.client(self.running()[0]) as node:
            for start, end, master, *_ in node.execute_command("CLUSTER", "SLOTS"):
                if int(start) <= slot <= int(end):
                    return int(master[1])
        raise LookupError(slot)

    def kill(self, port: int) -> None:
        process = self.processes[port]
        process.kill()
        process.wait(timeout=10)

    def promote(self, replica_port: int) -> None:
        """Its master is dead: the replica takes over at once (no vote of the others needed)."""
        with self.client(replica_port) as node:
            node.execute_command("CLUSTER", "FAILOVER", "TAKEOVER")
        self._wait(lambda: self.roles().get(replica_port) == "master")
        self.wait_until_healthy()

    def wait_until_healthy(self) -> None:
        """Every running node sees the cluster ok, and every replica's link to its master is up."""
        def healthy() -> bool:
            for port in self.running():
                with self.client(port) as node:
                    if "cluster_state:ok" not in node.execute_command("CLUSTER", "INFO").decode():
                        return False
                    replication = node.info("replication")
                    if replication["role"] == "slave" and replication["master_link_status"] != "up":
                        return False
            return True

        self._wait(healthy)

    def _wait(self, condition, seconds: float = 20.0) -> None:  # type: ignore[no-untyped-def]
        deadline = time.monotonic() + seconds
        while True:
            try:
                if condition():
                    return
            except (redis.RedisError, OSError):
                pass
            if time.monotonic() > deadline:
                raise TimeoutError("the local Redis Cluster did not get there in time")
            time.sleep(0.05)

    def stop(self) -> None:
        for process in self.processes.values():
            if process.poll() is None:
                process.kill()
            process.wait(timeout=10)
        self.processes.clear()


def started(folder: Path) -> Iterator[LocalRedisCluster]:
    local = LocalRedisCluster(folder)
    local.start()
    try:
        yield local
    finally:
        local.stop()


@pytest.fixture(scope="session")
def healthy_redis_cluster(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LocalRedisCluster]:
    yield from started(tmp_path_factory.mktemp("redis-cluster"))
