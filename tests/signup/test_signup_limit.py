"""Signups per client address: each is a Stripe Checkout Session, so an anonymous flood stops."""

from __future__ import annotations

from httpx import ASGITransport, AsyncClient

from tests.billing.stripe_setup import unique_email


async def test_signups_beyond_the_limit_get_429_and_create_no_checkout_session(
    app_resources, settings, standard, stripe_client
):
    app, _ = app_resources
    emails = [unique_email() for _ in range(settings.signup_limit + 4)]

    async with _from(app, "198.51.100.7") as flooder, _from(app, "198.51.100.8") as neighbour:
        answers = [await flooder.post("/v1/signup", json={"email": email, "plan": standard.id})
                   for email in emails[:-1]]
        other = await neighbour.post("/v1/signup", json={"email": emails[-1], "plan": standard.id})

    statuses = [answer.status_code for answer in answers]
    assert statuses == [201] * settings.signup_limit + [429] * 3
    refused = answers[-1]
    assert refused.headers["content-type"] == "application/problem+json"
    assert refused.json()["type"].endswith("/too-many-signups")
    assert 1 <= int(refused.headers["retry-after"]) <= settings.signup_window_seconds
    assert other.status_code == 201  # another address keeps its own allowance
    sessions = stripe_client.v1.checkout.sessions.list({"limit": 100}).auto_paging_iter()
    assert sum(1 for s in sessions if s.customer_email in emails) == settings.signup_limit + 1


def _from(app, address: str) -> AsyncClient:
    transport = ASGITransport(app=app, client=(address, 40000))  # type: ignore[arg-type]
    return AsyncClient(transport=transport, base_url="http://testserver")
