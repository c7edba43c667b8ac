"""Usage reports → Stripe Billing Meter events, through the process's `StripeClient`.

Small batches go one by one through v1 `billing.meter_events`. Batches above
`STREAM_ABOVE` events, where v1 calls would crowd its per-account rate limit, go through the
v2 high-throughput stream: one `meter_event_session` (its token refreshed before it expires)
and `meter_event_stream` calls of up to 100 events. Every event carries `identifier` = the
report id, so whatever Stripe already recorded is deduplicated on a resend.

Outcomes: `sent` on Stripe's acknowledgement, or when Stripe says the identifier already
exists (an earlier attempt was recorded); `retry` for 429, 5xx, timeouts, dropped connections
and our own credential problems; `failed` for other rejections. An acknowledgement is not
the end: Stripe validates meter events asynchronously, and one it later rejects (unknown
customer, no meter, bad value) comes back as a `v1.billing.meter.error_report_triggered`
or `v1.billing.meter.no_meter_found` event (`usage/meter_errors.py`).
"""

from __future__ import annotations

import asyncio
import enum
import logging
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

import stripe

from licensing_api import metrics

logger = logging.getLogger(__name__)

STREAM_ABOVE = 200  # events per flush above which the v2 stream is used
STREAM_BATCH = 100  # Stripe's maximum events per stream call
V1_CONCURRENCY = 8
STREAM_CONCURRENCY = 8
SESSION_REFRESH_MARGIN = timedelta(minutes=2)


class Outcome(enum.StrEnum):
    SENT = "sent"
    RETRY = "retry"
    FAILED = "failed"


@dataclass(frozen=True, slots=True)
class MeterEvent:
    report_id: str
    event_name: str
    stripe_customer_id: str
    units: int
    usage_at: datetime


@dataclass(frozen=True, slots=True)
class SendResult:
    report_id: str
    outcome: Outcome
    via: str  # "v1" | "stream"
    error: str | None = None
    duplicate: bool = False


class StripeMeterReporter:
    """Sends meter events; keeps one v2 stream session across flushes."""

    def __init__(self, client: stripe.StripeClient, *, stream_above: int = STREAM_ABOVE) -> None:
        self._client = client
        self._stream_above = stream_above
        self._session_token: str | None = None
        self._session_expires_at: datetime | None = None

    async def send(self, events: Sequence[MeterEvent]) -> list[SendResult]:
        if len(events) > self._stream_above:
            return await self._send_stream(events)
        return await self._send_v1(events)

    # -- v1: one call per event ------------------------------------------------
    async def _send_v1(self, events: Sequence[MeterEvent]) -> list[SendResult]:
        limit = asyncio.Semaphore(V1_CONCURRENCY)

        async def one(event: MeterEvent) -> SendResult:
            async with limit:
                return await self._send_one(event)

        return list(await asyncio.gather(*(one(e) for e in events)))

    async def _send_one(self, event: MeterEvent) -> SendResult:
        params: stripe.billing.MeterEventService.CreateParams = {
            "event_name": event.event_name,
            "identifier": event.report_id,
            "timestamp": int(event.usage_at.timestamp()),
            "payload": {"stripe_customer_id": event.stripe_customer_id, "value": str(event.units)},
        }
        try:
            await self._client.v1.billing.meter_events.create_async(params)
        except stripe.StripeError as exc:
            result = _classify(event.report_id, exc, "v1")
            metrics.STRIPE_CALLS.labels("meter_event", _call_outcome(result)).inc()
            return result
        metrics.STRIPE_CALLS.labels("meter_event", "ok").inc()
        return SendResult(event.report_id, Outcome.SENT, "v1")

    # -- v2: session + stream in batches of 100 ---------------------------------
    async def _send_stream(self, events: Sequence[MeterEvent]) -> list[SendResult]:
        try:
            token = await self._token()
        except stripe.StripeError as exc:
            return [_classify(e.report_id, exc, "stream") for e in events]
        limit = asyncio.Semaphore(STREAM_CONCURRENCY)
        batches = [events[i:i + STREAM_BATCH] for i in range(0, len(events), STREAM_BATCH)]

        async def one(batch: Sequence[MeterEvent]) -> list[SendResult]:
            async with limit:
                return await self._send_batch(batch, token)

        results: list[SendResult] = []
        for batch_results in await asyncio.gather(*(one(b) for b in batches)):
            results.extend(batch_results)
        return results

    async def _send_batch(self, batch: Sequence[MeterEvent], token: str) -> list[SendResult]:
        body = {"events": [_stream_event(e) for e in batch]}
        for attempt in range(2):
            try:
                await self._client.v2.billing.meter_event_stream.create_async(
                    body, {"api_key": token}  # type: ignore[arg-type]
                )
            except stripe.TemporarySessionExpiredError as exc:
                metrics.STRIPE_CALLS.labels("meter_event_stream", "session_expired").inc()
                self._session_token = None
                try:
                    if attempt == 1:
                        raise
                    token = await self._token()
                except stripe.StripeError as final:
                    return [_classify(e.report_id, final or exc, "stream") for e in batch]
                continue
            except stripe.StripeError as exc:
                results = [_classify(e.report_id, exc, "stream") for e in batch]
                metrics.STRIPE_CALLS.labels("meter_event_stream", _call_outcome(results[0])).inc()
                return results
            metrics.STRIPE_CALLS.labels("meter_event_stream", "ok").inc()
            return [SendResult(e.report_id, Outcome.SENT, "stream") for e in batch]
        raise AssertionError("unreachable")

    async def _token(self) -> str:
        now = datetime.now(UTC)
        if (
            self._session_token is None
            or self._session_expires_at is None
            or self._session_expires_at - SESSION_REFRESH_MARGIN <= now
        ):
            try:
                session = await self._client.v2.billing.meter_event_session.create_async()
            except stripe.StripeError:
                metrics.STRIPE_CALLS.labels("meter_event_session", "error").inc()
                raise
            metrics.STRIPE_CALLS.labels("meter_event_session", "ok").inc()
            self._session_token = session.authentication_token
            self._session_expires_at = _as_datetime(session.expires_at)
        return self._session_token


def _stream_event(event: MeterEvent) -> dict[str, object]:
    return {
        "event_name": event.event_name,
        "identifier": event.report_id,
        "timestamp": event.usage_at.astimezone(UTC).isoformat(timespec="seconds").replace("+00:00", "Z"),
        "payload": {"stripe_customer_id": event.stripe_customer_id, "value": str(event.units)},
    }


def _as_datetime(value: object) -> datetime:
    if isinstance(value, datetime):
        return value.astimezone(UTC)
    if isinstance(value, (int, float)):
        return datetime.fromtimestamp(value, UTC)
    return datetime.fromisoformat(str(value).replace("Z", "+00:00"))


DUPLICATE_MESSAGE = "an event already exists with identifier"


def is_duplicate_identifier(exc: stripe.StripeError) -> bool:
    """Stripe's answer to a resend of an identifier it already recorded (24 h window):
    400 `invalid_request_error` "An event already exists with identifier …" with
    `Stripe-Should-Retry: false`; `param` may be absent, and is `identifier` when present."""
    if not isinstance(exc, stripe.InvalidRequestError) or exc.http_status != 400:
        return False
    param = getattr(exc, "param", None)
    message = str(getattr(exc, "user_message", None) or exc).lower()
    return DUPLICATE_MESSAGE in message and param in (None, "identifier")


def _classify(report_id: str, exc: stripe.StripeError, via: str) -> SendResult:
    status = exc.http_status
    message = f"{type(exc).__name__} {status}: {getattr(exc, 'user_message', None) or exc}"[:500]
    if is_duplicate_identifier(exc):
        return SendResult(report_id, Outcome.SENT, via, duplicate=True)
    transient = (
        isinstance(exc, (stripe.APIConnectionError, stripe.RateLimitError, stripe.AuthenticationError,
                         stripe.PermissionError, stripe.TemporarySessionExpiredError))
        or status is None
        or status in (401, 403, 409, 429)
        or status >= 500
    )
    if transient:
        return SendResult(report_id, Outcome.RETRY, via, error=message)
    logger.warning("usage_report_rejected", extra={"report_id": report_id, "error": message})
    return SendResult(report_id, Outcome.FAILED, via, error=message)


def _call_outcome(result: SendResult) -> str:
    if result.duplicate:
        return "duplicate"
    return "transient" if result.outcome is Outcome.RETRY else "rejected"
