"""Signed requests of registered bots, as the ASGI test client sends them."""

from __future__ import annotations

import time

import httpx

from tests.standards.independent_signer import new_nonce, sign_request
from tests.standards.signing import public_jwk_of, thumbprint_of

PUBLIC = "http://127.0.0.1:8000"  # the test settings' PUBLIC_BASE_URL: what @authority must be
ITEM = "/v1/content/sourdough-chemistry"


def signed_headers(private_key, path: str = ITEM, *, headers: dict | None = None, components=("@authority",),
                   nonce: str | None = None, extra: dict | None = None) -> dict[str, str]:
    """The headers of a request to this service signed by `private_key` (PyPI
    http-message-signatures), plus `extra` headers added after signing."""
    now = int(time.time())
    request = httpx.Request("GET", PUBLIC + path, headers=headers or {})
    sign_request(request, private_key, keyid=thumbprint_of(public_jwk_of(private_key)), created=now,
                 expires=now + 60, nonce=nonce or new_nonce(), components=components)
    sent = {k: v for k, v in request.headers.items() if k.lower() not in ("host",)}
    return {**sent, **(extra or {})}


async def register(client, crawler, **body) -> dict:
    response = await client.post("/v1/bots", headers=crawler.headers, json={"name": "examplebot", **body})
    assert response.status_code == 201, response.text
    return response.json()
