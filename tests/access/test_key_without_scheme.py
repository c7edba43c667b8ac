"""A key sent in `Authorization` without its `Bearer ` scheme is told so, not called malformed."""

from __future__ import annotations

from tests.access.helpers import new_crawler

ITEM = "/v1/content/sourdough-chemistry"


async def test_a_key_without_the_bearer_scheme_is_told_the_scheme_is_missing(api):
    crawler = await new_crawler(api.resources)

    response = await api.client.get(ITEM, headers={"Authorization": crawler.secret})

    assert response.status_code == 401
    detail = response.json()["detail"]
    assert "lacks the Bearer scheme" in detail and "Authorization: Bearer <key>" in detail
    assert "malformed" not in detail
    malformed = await api.client.get(ITEM, headers={"Authorization": "Bearer not-a-key"})
    assert "malformed" in malformed.json()["detail"]
