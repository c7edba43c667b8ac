"""``/_control/…`` endpoints: test-only levers that no real Stripe offers (JSON in/out)."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

from .routing import Ctx, Server, error_response
from .store import new_id
from .wire import StripeError


def _num(d: Decimal) -> int | float:
    return int(d) if d == d.to_integral() else float(d)


def build_routes(server: Server) -> list[Route]:
    state = server.state

    async def body(request: Request) -> dict[str, Any]:
        raw = await request.body()
        return (await request.json()) if raw else {}

    def ctx_for(request: Request, params: dict | None = None) -> Ctx:
        return Ctx(server, params or {}, dict(request.path_params),
                   str(request.base_url).rstrip("/"), {"id": None, "idempotency_key": None},
                   "control")

    async def reset(request: Request) -> JSONResponse:
        await server.deliverer.aclose()
        state.reset()
        server.faults.clear()
        return JSONResponse({"ok": True})

    async def config(request: Request) -> JSONResponse:
        """Server settings a test may change (e.g. `finalization_grace_seconds`)."""
        if request.method == "POST":
            for name, value in (await body(request)).items():
                if not hasattr(server.config, name):
                    return JSONResponse({"error": f"no setting {name}"}, status_code=400)
                setattr(server.config, name, type(getattr(server.config, name))(value))
        return JSONResponse(vars(server.config))

    async def bulk_customers(request: Request) -> JSONResponse:
        """Benchmarks' set-up: `count` customers at once (no events), their ids in order."""
        from .resources.customers import create_customer

        count = int((await body(request)).get("count", 1))
        ids = []
        for index in range(count):
            ctx = ctx_for(request, {"email": f"bulk-{index}@example.com"})
            ctx.emit = lambda *args, **kwargs: {}  # type: ignore[method-assign]
            ids.append(create_customer(ctx)["id"])
        return JSONResponse({"ids": ids})

    async def validate_meter_events(request: Request) -> JSONResponse:
        from .resources import meter_validation

        return JSONResponse(meter_validation.run(server))

    async def faults(request: Request) -> JSONResponse:
        if request.method == "DELETE":
            server.faults.clear()
        elif request.method == "POST":
            b = await body(request)
            try:
                server.faults.add(b.pop("method", "*"), b.pop("path"), b.pop("kind"),
                                  b.pop("count", 1), **b)
            except (KeyError, ValueError) as exc:
                return JSONResponse({"error": str(exc)}, status_code=400)
        return JSONResponse({"faults": server.faults.describe()})

    async def rate_limits(request: Request) -> JSONResponse:
        if request.method == "POST":
            b = await body(request)
            try:
                server.limiter.configure(b.get("profile", server.limiter.profile), b.get("overrides"))
            except ValueError as exc:
                return JSONResponse({"error": str(exc)}, status_code=400)
        return JSONResponse({"profile": server.limiter.profile, "limits": server.limiter.limits})

    async def deliveries(request: Request) -> JSONResponse:
        if request.query_params.get("wait"):
            await server.deliverer.idle(float(request.query_params["wait"]))
        return JSONResponse({"data": state.deliveries, "in_flight": len(server.deliverer.tasks)})

    def find_endpoint(ref: str | None) -> list[dict]:
        eps = list(state.webhook_endpoints.values())
        if ref:
            eps = [e for e in eps if ref in (e["id"], e["url"])]
        return eps

    async def redeliver(request: Request) -> JSONResponse:
        b = await body(request)
        event = state.events_by_id.get(request.path_params["id"])
        if event is None:
            return JSONResponse({"error": "no such event"}, status_code=404)
        eps = find_endpoint(b.get("endpoint"))
        for ep in eps:
            server.deliverer.schedule(event, ep, retries=b.get("retries", False))
        return JSONResponse({"scheduled": [e["id"] for e in eps]})

    async def deliver(request: Request) -> JSONResponse:
        b = await body(request)
        eps = find_endpoint(b.get("endpoint"))
        if not eps:
            return JSONResponse({"error": "no such webhook endpoint"}, status_code=404)
        events = [state.events_by_id.get(i) for i in b.get("event_ids", [])]
        if any(e is None for e in events):
            return JSONResponse({"error": "unknown event id"}, status_code=404)
        results = await server.deliverer.deliver_in_order(eps[0], events)
        return JSONResponse({"results": results})

    async def meter_total(request: Request) -> JSONResponse:
        from .resources.meters import meter_total as total

        from .resources import meter_validation

        meter_validation.run(server)  # what Stripe will have once it validated what it accepted
        q = request.query_params
        ref = q.get("meter", "")
        meter = state.meters.get(ref) or next(
            (m for m in state.meters.values() if m["event_name"] == ref), None)
        if meter is None:
            return JSONResponse({"error": "no such meter"}, status_code=404)
        start = int(q["start"]) if q.get("start") else None
        end = int(q["end"]) if q.get("end") else None
        value = total(state, meter, q.get("customer", ""), start, end)
        return JSONResponse({"meter": meter["id"], "total": _num(value)})

    async def meter_errors(request: Request) -> JSONResponse:
        return JSONResponse({"data": state.meter_errors})

    async def complete_checkout(request: Request) -> JSONResponse:
        from .resources.checkout import complete_session

        b = await body(request)
        try:
            out = complete_session(ctx_for(request), request.path_params["id"],
                                   b.get("payment_method", "pm_card_visa"))
        except StripeError as err:
            return error_response(err, new_id("req_"))
        return JSONResponse(out)

    async def dispute(request: Request) -> JSONResponse:
        from .resources.disputes import open_dispute

        b = await body(request)
        try:
            out = open_dispute(ctx_for(request), request.path_params["id"],
                               b.get("reason", "fraudulent"))
        except StripeError as err:
            return error_response(err, new_id("req_"))
        return JSONResponse(out)

    return [
        Route("/_control/reset", reset, methods=["POST"]),
        Route("/_control/config", config, methods=["GET", "POST"]),
        Route("/_control/meter_events/validate", validate_meter_events, methods=["POST"]),
        Route("/_control/customers", bulk_customers, methods=["POST"]),
        Route("/_control/faults", faults, methods=["GET", "POST", "DELETE"]),
        Route("/_control/rate_limits", rate_limits, methods=["GET", "POST"]),
        Route("/_control/deliveries", deliveries, methods=["GET"]),
        Route("/_control/events/{id}/redeliver", redeliver, methods=["POST"]),
        Route("/_control/deliver", deliver, methods=["POST"]),
        Route("/_control/meter_total", meter_total, methods=["GET"]),
        Route("/_control/meter_errors", meter_errors, methods=["GET"]),
        Route("/_control/checkout_sessions/{id}/complete", complete_checkout, methods=["POST"]),
        Route("/_control/charges/{id}/dispute", dispute, methods=["POST"]),
    ]
