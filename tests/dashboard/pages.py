"""Reading the dashboard's HTML in ASGI tests: forms, tokens and the numbers it shows."""

from __future__ import annotations

import re

from httpx import AsyncClient, Response


def hidden(html: str, name: str) -> str:
    match = re.search(rf'name="{name}" value="([^"]*)"', html)
    assert match, f"no hidden field {name}"
    return match.group(1)


def value_of(html: str, element_id: str) -> int:
    match = re.search(rf'id="{element_id}"[^>]*data-value="(-?\d+)"', html)
    assert match, f"no #{element_id} with a data-value"
    return int(match.group(1))


async def sign_in(client: AsyncClient, secret: str) -> Response:
    form = await client.get("/dashboard")
    return await client.post(
        "/dashboard/sign-in", data={"api_key": secret, "nonce": hidden(form.text, "nonce")}
    )


async def signed_in_page(client: AsyncClient, secret: str) -> str:
    response = await sign_in(client, secret)
    assert response.status_code == 303, response.text
    page = await client.get("/dashboard")
    assert page.status_code == 200 and 'id="units-used"' in page.text
    return page.text
