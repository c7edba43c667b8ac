from licensing_api.main import create_app


async def test_liveness_and_readiness_against_real_postgres_and_redis(client):
    assert (await client.get("/healthz")).json() == {"status": "ok"}
    ready = await client.get("/readyz")
    assert ready.status_code == 200
    assert ready.json() == {"status": "ok", "database": "ok", "redis": "ok"}


async def test_readiness_reports_an_unreachable_redis(settings):
    from asgi_lifespan import LifespanManager
    from httpx import ASGITransport, AsyncClient

    broken = settings.model_copy(update={"redis_url": "redis://127.0.0.1:1/0"})
    app = create_app(broken)
    async with LifespanManager(app) as manager:
        async with AsyncClient(transport=ASGITransport(app=manager.app), base_url="http://t") as http:
            response = await http.get("/readyz")
    assert response.status_code == 503
    assert response.json()["redis"].startswith("error")
    assert response.json()["database"] == "ok"


async def test_openapi_and_docs_are_served(client):
    spec = (await client.get("/openapi.json")).json()
    assert spec["info"]["title"] == "licensing-api"
    assert "/healthz" in spec["paths"]
    assert (await client.get("/docs")).status_code == 200


async def test_unknown_route_answers_problem_json(client):
    response = await client.get("/no/such/route")
    assert response.status_code == 404
    assert response.headers["content-type"] == "application/problem+json"
    assert response.json()["status"] == 404


async def test_startup_and_shutdown_close_connections(settings):
    from asgi_lifespan import LifespanManager

    app = create_app(settings)
    async with LifespanManager(app) as manager:
        resources = manager._state["resources"]
        assert await resources.redis.ping()
        pool = resources.engine.pool
    assert pool.checkedout() == 0
