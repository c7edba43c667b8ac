"""Oversized request bodies are refused with 413 problem+json, declared or streamed."""

from __future__ import annotations

import pytest
from asgi_lifespan import LifespanManager
from fastapi import Request
from httpx import ASGITransport, AsyncClient

from licensing_api.main import create_app

LIMIT = 2048


@pytest.fixture
async def small_limit_client(settings):
    app = create_app(settings.model_copy(update={"max_request_bytes": LIMIT}))

    @app.post("/echo-length")  # a route that reads its whole body, as the webhook endpoint does
    async def echo_length(request: Request) -> dict[str, int]:
        return {"length": len(await request.body())}

    async with LifespanManager(app) as manager:
        async with AsyncClient(transport=ASGITransport(app=manager.app), base_url="http://t") as http:
            yield http


async def test_a_body_within_the_limit_is_accepted(small_limit_client):
    response = await small_limit_client.post("/echo-length", content=b"x" * LIMIT)
    assert response.status_code == 200
    assert response.json() == {"length": LIMIT}


async def test_a_declared_oversized_body_is_refused_before_the_app_reads_it(small_limit_client):
    response = await small_limit_client.post("/echo-length", content=b"x" * (LIMIT + 1))
    assert response.status_code == 413
    assert response.headers["content-type"] == "application/problem+json"
    assert response.json()["status"] == 413


async def test_a_streamed_oversized_body_without_length_is_refused(small_limit_client):
    async def chunks():
        for _ in range(4):
            yield b"y" * 1000

    response = await small_limit_client.post("/echo-length", content=chunks())
    assert response.status_code == 413
    assert response.headers["content-type"] == "application/problem+json"


async def test_an_invalid_content_length_is_refused(small_limit_client):
    response = await small_limit_client.post(
        "/echo-length", content=b"x", headers={"Content-Length": "-1"}
    )
    assert response.status_code in (400, 413)
