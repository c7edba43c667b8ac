"""Request dispatch: auth, params, faults, rate limits, idempotency, errors, expand.

Resource modules declare handlers with :class:`Router`; a handler takes a :class:`Ctx`
and returns the JSON body (a dict) or raises :class:`~.wire.StripeError`.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
from dataclasses import dataclass, field
from typing import Any, Callable

from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from .faults import Faults
from .params_spec import validate
from .ratelimit import RateLimiter
from .store import API_VERSION, State, new_id
from .wire import StripeError, expand, expand_list, parse_form


@dataclass
class Config:
    webhook_retry_seconds: float = 1.0
    webhook_max_attempts: int = 4
    webhook_timeout: float = 5.0
    meter_session_ttl: int = 15 * 60
    meter_validation_seconds: float = 0.05  # delay of the asynchronous meter event validation
    meter_error_samples: int = 10  # sample errors per error code in a meter error report
    finalization_grace_seconds: int = 3600  # a cycle invoice stays a draft this long
    clock_advance_seconds: float = 0.05  # a test clock is `advancing` at least this long


@dataclass
class Server:
    """Everything the handlers share."""

    state: State = field(default_factory=State)
    faults: Faults = field(default_factory=Faults)
    limiter: RateLimiter = field(default_factory=RateLimiter)
    config: Config = field(default_factory=Config)
    deliverer: Any = None  # webhooks.Deliverer, set by app factory


@dataclass
class Ctx:
    server: Server
    params: dict[str, Any]
    path: dict[str, str]
    base_url: str
    request: dict[str, Any]  # Stripe's event.request: {"id", "idempotency_key"}
    api_key: str

    @property
    def state(self) -> State:
        return self.server.state

    def emit(self, type_: str, obj: dict, previous: dict | None = None) -> dict:
        return self.state.emit(type_, obj, previous, self.request)


Handler = Callable[[Ctx], dict]


@dataclass
class RouteDef:
    method: str
    path: str
    handler: Handler
    v2: bool = False
    session_auth: bool = False


class Router:
    def __init__(self) -> None:
        self.routes: list[RouteDef] = []

    def route(self, method: str, path: str, **kw: Any) -> Callable[[Handler], Handler]:
        def deco(fn: Handler) -> Handler:
            self.routes.append(RouteDef(method, path, fn, v2=path.startswith("/v2/"), **kw))
            return fn

        return deco


def error_response(err: StripeError, request_id: str) -> JSONResponse:
    headers = {"Request-Id": request_id, "Stripe-Version": API_VERSION, **err.headers}
    return JSONResponse(err.body(), status_code=err.status, headers=headers)


async def _read_params(request: Request, v2: bool) -> dict[str, Any]:
    if request.method in ("GET", "DELETE"):
        params = parse_form(request.url.query)
        if request.method == "GET" or not v2:
            return params
    raw = (await request.body()).decode()
    if v2:
        if not raw:
            return {}
        try:
            body = json.loads(raw)
        except ValueError:
            raise StripeError("Request body is not valid JSON.") from None
        if not isinstance(body, dict):
            raise StripeError("Request body must be a JSON object.")
        return body
    return parse_form(raw)


def _authenticate(request: Request, route: RouteDef, server: Server) -> str:
    auth = request.headers.get("authorization", "")
    key = auth[7:] if auth.lower().startswith("bearer ") else ""
    if auth.lower().startswith("basic "):  # curl -u sk_test_…:
        import base64

        try:
            key = base64.b64decode(auth[6:]).decode().split(":", 1)[0]
        except (ValueError, UnicodeDecodeError):
            key = ""
    if route.session_auth:
        session = server.state.meter_sessions.get(key)
        if session is None or session["expires_at_unix"] <= server.state.now():
            raise StripeError(
                "The temporary session token has expired.",
                status=401,
                type="temporary_session_expired",
                code="billing_meter_event_session_expired",
            )
        return key
    if not (key.startswith("sk_test_") or key.startswith("rk_test_")):
        shown = (key[:8] + "*" * max(0, len(key) - 12) + key[-4:]) if key else ""
        msg = f"Invalid API Key provided: {shown}" if key else (
            "You did not provide an API key. You need to provide your API key in the "
            "Authorization header, using Bearer auth (e.g. 'Authorization: Bearer YOUR_SECRET_KEY')."
        )
        raise StripeError(msg, status=401)
    return key


def _drop_connection(request: Request) -> None:
    send = request.scope.get("stripe_server.raw_send")
    transport = getattr(getattr(send, "__self__", None), "transport", None)
    if transport is not None:
        transport.abort()


class _Dropped(Exception):
    pass


def _rate_limited(message: str, retry_after: float | None = None) -> StripeError:
    headers = {"Retry-After": str(retry_after)} if retry_after is not None else {}
    return StripeError(
        message, status=429, type="invalid_request_error", code="rate_limit", headers=headers
    )


IDEMPOTENCY_TTL = 24 * 3600  # Stripe prunes idempotency keys after at least 24 hours


def clock_of(state: State, params: dict[str, Any]) -> str | None:
    """The test clock of the customer a request is about, if any."""
    payload = params.get("payload")
    customer = params.get("customer") or (payload.get("stripe_customer_id") if isinstance(payload, dict) else None)
    found = state.customers.get(customer) if isinstance(customer, str) else None
    return found.get("test_clock") if found else None


def idempotency_expired(state: State, stored: dict[str, Any]) -> bool:
    """24 h of wall time, or of the test clock of the request's customer, have passed."""
    if state.now() - stored["created"] >= IDEMPOTENCY_TTL:
        return True
    clock = state.clocks.get(stored["clock"] or "")
    return clock is not None and clock["frozen_time"] - stored["clock_time"] >= IDEMPOTENCY_TTL


def make_endpoint(route: RouteDef, server: Server) -> Callable[[Request], Any]:
    async def endpoint(request: Request) -> Response:
        request_id = new_id("req_", 14)
        try:
            return await _dispatch(request, route, server, request_id)
        except _Dropped:
            await asyncio.sleep(0.01)
            return Response(status_code=500)  # never reaches the closed socket
        except StripeError as err:
            return error_response(err, request_id)

    return endpoint


async def _dispatch(request: Request, route: RouteDef, server: Server, request_id: str) -> Response:
    method, path = request.method, request.url.path
    api_key = _authenticate(request, route, server)
    params = await _read_params(request, route.v2)

    fault = server.faults.take(method, path)
    if fault is not None:
        if fault.kind == "rate_limit":
            raise _rate_limited(
                "Too many requests hit the API too quickly. We recommend an exponential "
                "backoff of your requests.",
                fault.params.get("retry_after", 1),
            )
        if fault.kind == "error":
            raise StripeError(
                "An unknown error occurred (injected).", status=500, type="api_error"
            )
        if fault.kind == "drop":
            _drop_connection(request)
            raise _Dropped()
        if fault.kind == "delay":
            await asyncio.sleep(float(fault.params.get("seconds", 1.0)))

    validate(method, path, params, form=not route.v2 or method == "GET")

    bucket = server.limiter.bucket_for(method, path)
    cost_ok = server.limiter.allow(bucket)
    if not cost_ok:
        raise _rate_limited(
            "Request rate limit exceeded. Learn more about rate limits here "
            "https://stripe.com/docs/rate-limits.",
            1,
        )

    idem_key = request.headers.get("idempotency-key")
    fingerprint = hashlib.sha256(
        json.dumps([method, path, params], sort_keys=True).encode()
    ).hexdigest()
    if idem_key and method == "POST":
        stored = server.state.idempotency.get((api_key, idem_key))
        if stored is not None and idempotency_expired(server.state, stored):
            del server.state.idempotency[(api_key, idem_key)]
            stored = None
        if stored is not None:
            if stored["fingerprint"] != fingerprint:
                raise StripeError(
                    "Keys for idempotent requests can only be used with the same parameters "
                    "they were first used with. Try using a key other than "
                    f"'{idem_key}' if you meant to execute a different request.",
                    type="idempotency_error",
                )
            headers = dict(stored["headers"], **{"Idempotent-Replayed": "true",
                                                 "Original-Request": stored["request_id"],
                                                 "Request-Id": request_id})
            return Response(stored["body"], status_code=stored["status"], headers=headers,
                            media_type="application/json")

    base_url = str(request.base_url).rstrip("/")
    ctx = Ctx(server, params, dict(request.path_params), base_url,
              {"id": request_id, "idempotency_key": idem_key}, api_key)
    headers = {"Request-Id": request_id, "Stripe-Version": API_VERSION}
    if idem_key:
        headers["Idempotency-Key"] = idem_key
    try:
        body = route.handler(ctx)
        status = 200
        if not route.v2 or route.path != "/v2/billing/meter_event_stream":
            exp = expand_list(params) if not route.v2 else []
            if exp:
                body = expand(body, exp, server.state.find_rendered)
        raw = json.dumps(body).encode()
    except StripeError as err:
        if err.status != 402 or not idem_key:
            raise
        status, raw = err.status, json.dumps(err.body()).encode()
        headers.update(err.headers)
    if idem_key and method == "POST":
        clock = clock_of(server.state, params)
        server.state.idempotency[(api_key, idem_key)] = {
            "fingerprint": fingerprint, "status": status, "body": raw,
            "headers": headers, "request_id": request_id, "created": server.state.now(),
            "clock": clock, "clock_time": server.state.clocks[clock]["frozen_time"] if clock else None,
        }
    if fault is not None and fault.kind == "commit_then_fail":
        if fault.params.get("then", "error") == "drop":
            _drop_connection(request)
            raise _Dropped()
        raise StripeError("An unknown error occurred (injected after commit).",
                          status=500, type="api_error")
    return Response(raw, status_code=status, headers=headers, media_type="application/json")
