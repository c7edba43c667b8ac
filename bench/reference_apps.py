"""The benchmark's two reference servers: the least a Python web app does to serve the item.

`create_fastapi_app`: a FastAPI app as its tutorial writes one (`FastAPI()`, one route, no
middleware). `create_starlette_app`: a raw Starlette app (one `Route`, no middleware). Both
answer `GET /v1/content/{path}` with exactly the bytes the service serves for that item
(rendered by the service's own `ContentService` at start-up, from the same settings), as
`application/json`. Neither authenticates, meters, logs or counts anything: they are what
the licensed route is measured against, so they are never tuned. Not part of the package.

    python -m bench.reference_apps fastapi|starlette --port PORT [--workers N]
starts one with the uvicorn settings `licensing-api serve` uses (bench/run.py does this).
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "src"))

from fastapi import FastAPI  # noqa: E402
from starlette.applications import Starlette  # noqa: E402
from starlette.requests import Request  # noqa: E402
from starlette.responses import Response  # noqa: E402
from starlette.routing import Route  # noqa: E402

from licensing_api.content.service import ContentService  # noqa: E402
from licensing_api.content.store import FolderContentStore  # noqa: E402
from licensing_api.settings import load_settings  # noqa: E402


def item_bodies() -> dict[str, bytes]:
    """Every item's JSON body, exactly as the service renders it with these settings."""
    settings = load_settings()
    store = FolderContentStore(settings.content_dir)
    service = ContentService(store, settings.public_base_url)
    return {item.path: service.item_json(item.path) for item in store.list_after(None, 10_000, None)}


def create_fastapi_app() -> FastAPI:
    bodies = item_bodies()
    app = FastAPI()

    @app.get("/v1/content/{path:path}")
    async def item(path: str) -> Response:
        return Response(bodies[path], media_type="application/json")

    return app


def create_starlette_app() -> Starlette:
    bodies = item_bodies()

    async def item(request: Request) -> Response:
        return Response(bodies[request.path_params["path"]], media_type="application/json")

    return Starlette(routes=[Route("/v1/content/{path:path}", item)])


FACTORIES = {"fastapi": "bench.reference_apps:create_fastapi_app",
             "starlette": "bench.reference_apps:create_starlette_app"}


def main() -> None:
    import uvicorn

    from licensing_api.serve import GRACEFUL_SHUTDOWN_SECONDS

    parser = argparse.ArgumentParser(description="run one reference app")
    parser.add_argument("app", choices=sorted(FACTORIES))
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--workers", type=int, default=1)
    args = parser.parse_args()
    settings = load_settings()
    # The arguments `licensing-api serve` passes (serve.py).
    uvicorn.run(
        FACTORIES[args.app],
        factory=True,
        host="127.0.0.1",
        port=args.port,
        workers=args.workers,
        log_level=settings.log_level,
        access_log=False,
        timeout_graceful_shutdown=GRACEFUL_SHUTDOWN_SECONDS,
    )


if __name__ == "__main__":
    main()


def create_asgi_app():  # type: ignore[no-untyped-def]
    """Calibration only (bench/instructions.py): the server's own floor, no framework."""
    body = item_bodies()["sourdough-chemistry"]
    start = {"type": "http.response.start", "status": 200, "headers": [
        (b"content-type", b"application/json"), (b"content-length", str(len(body)).encode())]}
    message = {"type": "http.response.body", "body": body}

    async def app(scope, receive, send):  # type: ignore[no-untyped-def]
        if scope["type"] == "http":
            await send(start)
            await send(message)
        elif scope["type"] == "lifespan":
            while (await receive())["type"] != "lifespan.shutdown":
                await send({"type": "lifespan.startup.complete"})
            await send({"type": "lifespan.shutdown.complete"})

    return app
