"""The edge's reports of forward-auth grants (forward_auth.py, `billing=report`): one line per
request that had a grant, with the status the edge answered, sent as a UDP datagram to
`FORWARD_AUTH_REPORT_ADDRESS` (nginx: `access_log syslog:server=…`, deploy/gateway/nginx.conf).

    … licensing-report <grant> <status>

A report counts its grant's units (access/meter.py `count_granted`) only if the status is 2xx,
the grant is this service's and unexpired, and it was not reported before: each grant is
single-use, checked in Redis with the Web Bot Auth nonce store (coalesced into one pipeline
per batch of reports; after the response was sent, so no request waits for it). Every worker
listens on the same port (`SO_REUSEPORT`: the kernel spreads datagrams across them).

Nothing is counted twice; what can be lost is a datagram (the service down, a full socket
buffer) or a report Redis cannot check: such a request is not billed, and logged.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass

from redis.exceptions import RedisError

from licensing_api.access.meter import Metering
from licensing_api.bots.nonces import NonceStore
from licensing_api.gateway.grants import GrantedUse, GrantSigner

logger = logging.getLogger(__name__)

MARKER = b"licensing-report "
NONCE_KEY_ID = "forward-auth-grant"


@dataclass
class ReportCounts:
    counted: int = 0
    not_2xx: int = 0
    rejected: int = 0  # forged, malformed, expired
    replayed: int = 0
    unchecked: int = 0  # Redis could not tell whether it was reported before


def parse_report(line: bytes) -> tuple[bytes, int] | None:
    """(grant, status) of a report line, or None."""
    _, marker, rest = line.partition(MARKER)
    if not marker:
        return None
    fields = rest.split()
    if len(fields) < 2 or not fields[1].isdigit():
        return None
    return fields[0], int(fields[1])


class EdgeReports(asyncio.DatagramProtocol):
    def __init__(
        self, grants: GrantSigner, nonces: NonceStore, metering: Metering, clock: Callable[[], float] = time.time
    ) -> None:
        self.grants = grants
        self.nonces = nonces
        self.metering = metering
        self.clock = clock
        self.counts = ReportCounts()
        self._pending: set[asyncio.Task[None]] = set()

    def datagram_received(self, data: bytes, addr: object) -> None:
        for line in data.splitlines():
            report = parse_report(line)
            if report is None:
                continue
            token, status = report
            if not 200 <= status < 300:
                self.counts.not_2xx += 1
                continue
            now = self.clock()
            use = self.grants.read(token, now)
            if use is None:
                self.counts.rejected += 1
                logger.warning("forward_auth_report_rejected", extra={"reason": "forged, malformed or expired"})
                continue
            task = asyncio.ensure_future(self._count(use, now))
            self._pending.add(task)
            task.add_done_callback(self._pending.discard)

    async def _count(self, use: GrantedUse, now: float) -> None:
        try:
            first = await self.nonces.first_use(NONCE_KEY_ID, use.grant_id, use.expires, now)
        except (RedisError, OSError) as exc:
            self.counts.unchecked += 1
            logger.error("forward_auth_report_unchecked", extra={"error": type(exc).__name__, "units": use.units})
            return
        if not first:
            self.counts.replayed += 1
            logger.warning("forward_auth_report_replayed")
            return
        self.metering.count_granted(use.period_field, use.key_id, use.units, self.clock(), use.path)
        self.counts.counted += 1

    async def drain(self) -> None:
        """Wait for the reports being checked (at shutdown, before the tally's last move)."""
        while self._pending:
            await asyncio.gather(*list(self._pending), return_exceptions=True)


@contextlib.asynccontextmanager
async def receiving_edge_reports(address: str, reports: EdgeReports) -> AsyncIterator[EdgeReports]:
    host, _, port = address.rpartition(":")
    loop = asyncio.get_running_loop()
    transport, _ = await loop.create_datagram_endpoint(
        lambda: reports, local_addr=(host.strip("[]"), int(port)), reuse_port=True
    )
    logger.info("forward_auth_reports_listening", extra={"address": address})
    try:
        yield reports
    finally:
        transport.close()
        await reports.drain()
