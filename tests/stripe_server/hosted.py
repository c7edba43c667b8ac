"""Minimal hosted pages for local demos: Checkout, hosted invoice, billing portal.

``GET /checkout/{cs}`` shows a "Pay" form; submitting it completes the session with the
chosen test card and redirects (303) to ``success_url`` like Stripe Checkout.
"""

from __future__ import annotations

from html import escape

from starlette.requests import Request
from starlette.responses import HTMLResponse, RedirectResponse, Response
from starlette.routing import Route

from .routing import Ctx, Server
from .wire import StripeError

_PAGE = "<!doctype html><html><head><title>{title}</title></head><body>{body}</body></html>"


def build_routes(server: Server) -> list[Route]:
    state = server.state

    def page(title: str, body: str, status: int = 200) -> HTMLResponse:
        return HTMLResponse(_PAGE.format(title=escape(title), body=body), status_code=status)

    async def checkout(request: Request) -> Response:
        cs = state.checkout_sessions.get(request.path_params["id"])
        if cs is None:
            return page("Not found", "<p>No such Checkout Session.</p>", 404)
        if request.method == "GET":
            return page("Checkout", (
                f"<h1>Test checkout</h1><p>{escape(cs['customer_email'] or cs['customer'] or '')}</p>"
                f"<form method='post'><select name='payment_method'>"
                "<option>pm_card_visa</option><option>pm_card_chargeCustomerFail</option>"
                "<option>pm_card_visa_chargeDeclined</option></select>"
                "<button type='submit'>Pay</button></form>"))
        from .resources.checkout import complete_session

        form = await request.form()
        ctx = Ctx(server, {}, {}, str(request.base_url).rstrip("/"),
                  {"id": None, "idempotency_key": None}, "hosted")
        try:
            out = complete_session(ctx, cs["id"], str(form.get("payment_method", "pm_card_visa")))
        except StripeError as err:
            return page("Declined", f"<p>{escape(err.message)}</p>", err.status)
        return RedirectResponse(out["redirect_url"] or "/", status_code=303)

    async def invoice(request: Request) -> Response:
        inv = state.invoices.get(request.path_params["id"])
        if inv is None:
            return page("Not found", "<p>No such invoice.</p>", 404)
        return page(f"Invoice {inv['number']}", (
            f"<h1>Invoice {escape(inv['number'] or inv['id'])}</h1>"
            f"<p>Status: {escape(inv['status'])}</p>"
            f"<p>Amount due: {inv['amount_due']} {escape(inv['currency'])} (minor units)</p>"))

    async def portal(request: Request) -> Response:
        ps = state.portal_sessions.get(request.path_params["id"])
        if ps is None:
            return page("Not found", "<p>No such portal session.</p>", 404)
        back = escape(ps["return_url"] or "/")
        return page("Billing portal", f"<h1>Billing portal</h1><a href='{back}'>Return</a>")

    return [
        Route("/checkout/{id}", checkout, methods=["GET", "POST"]),
        Route("/invoice/{id}", invoice, methods=["GET"]),
        Route("/billing_portal/{id}", portal, methods=["GET"]),
    ]
