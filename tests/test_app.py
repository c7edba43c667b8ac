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


async def test_docs_work_offline_every_asset_is_served_by_the_service(client):
    import re

    page = await client.get("/docs")
    assert page.status_code == 200
    sources = re.findall(r'(?:src|href)="([^"]+)"', page.text)
    assert sources and not [s for s in sources if "//" in s], sources  # nothing from a CDN
    for source in sources:
        asset = await client.get(source)
        assert asset.status_code == 200, source
        assert len(asset.content) > 500, source
    assert "url: '/openapi.json'" in page.text
    bundle = await client.get("/docs/assets/swagger-ui-bundle.js")
    assert bundle.headers["content-type"].startswith(("text/javascript", "application/javascript"))


async def test_405_names_every_method_of_the_path_in_allow(client):
    response = await client.request("OPTIONS", "/v1/keys")
    assert response.status_code == 405
    assert response.headers["content-type"] == "application/problem+json"
    assert set(response.headers["allow"].split(", ")) == {"GET", "POST"}  # two routes, one path
