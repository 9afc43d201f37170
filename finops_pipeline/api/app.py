"""The read API: `create_app()` builds it, `finops api` serves it with uvicorn.

It reads the materialized warehouse tables (never recomputing what the pipeline computes, except
to restrict a figure to a scoped token's projects) and writes only acknowledgements."""

from __future__ import annotations

import logging
from contextlib import asynccontextmanager

from fastapi import FastAPI
from fastapi.middleware.cors import CORSMiddleware
from sqlalchemy import Engine

from finops_pipeline.api import errors
from finops_pipeline.api.auth import UsageRecorder
from finops_pipeline.api.cache import DataVersion, ResponseCache
from finops_pipeline.api.routes import data_router, health_router
from finops_pipeline.settings import Settings, load_settings

log = logging.getLogger("finops_pipeline.api")
PREFIX = "/api/v1"

DESCRIPTION = """
Read API of [finops-pipeline](https://github.com/): costs, KPIs, budgets, forecasts, anomalies and
cost drivers from the warehouse tables, as JSON or CSV (`format=csv`).

**Auth**: every endpoint but `/health` needs `Authorization: Bearer <token>`; create one with
`finops api-token create --name NAME --role viewer|analyst|admin [--projects ..] [--teams ..]`.
A token scoped to projects or teams sees only those projects' rows, totals included.

**Errors** all have the shape `{"error": {"status", "code", "message", "parameter", "accepted"}}`.
"""


def _version() -> str:
    try:
        from importlib.metadata import version

        return version("finops-pipeline")
    except Exception:  # noqa: BLE001 - not installed (running from a checkout)
        return "0.1.0"


class _NoStore:
    """Cache-Control: no-store on the data endpoints: their answers depend on the token."""

    def __init__(self, app):
        self.app = app

    async def __call__(self, scope, receive, send):
        if scope["type"] != "http" or not scope["path"].startswith(PREFIX):
            return await self.app(scope, receive, send)

        async def send_with_header(message):
            if message["type"] == "http.response.start":
                headers = list(message.get("headers", []))
                if not any(k.lower() == b"cache-control" for k, _ in headers):
                    headers.append((b"cache-control", b"no-store"))
                message = {**message, "headers": headers}
            await send(message)

        return await self.app(scope, receive, send_with_header)


def create_app(settings: Settings | None = None, engine: Engine | None = None) -> FastAPI:
    """The FastAPI application. `settings` default to the FINOPS_* environment; `engine` to one
    made from settings.warehouse_url (disposed when the app shuts down).

    The tables are the caller's to ensure (`finops api` does at start, before its workers make
    their apps): an app does not create them, so on a warehouse not built yet /health says 503."""
    settings = settings or load_settings()
    owned = engine is None
    if engine is None:
        from finops_pipeline.warehouse.engine import make_engine

        engine = make_engine(settings.warehouse_url)

    version, usage = DataVersion(engine), UsageRecorder()

    @asynccontextmanager
    async def lifespan(_app: FastAPI):
        yield
        usage.write(engine)  # the uses not written yet
        version.close()
        if owned:
            engine.dispose()

    app = FastAPI(title="finops-pipeline read API", version=_version(), description=DESCRIPTION,
                  openapi_url="/openapi.json", docs_url="/docs", redoc_url=None, lifespan=lifespan)
    app.state.settings, app.state.engine, app.state.token_usage = settings, engine, usage
    errors.install(app)
    app.include_router(health_router)
    app.include_router(health_router, prefix=PREFIX)
    app.include_router(data_router(), prefix=PREFIX)
    # Innermost first: the cache keeps what the routes answer; no-store and CORS wrap every answer.
    app.add_middleware(ResponseCache, prefix=PREFIX, engine=engine, version=version,
                       max_bytes=settings.api_cache_mb * 1024 * 1024)
    app.add_middleware(_NoStore)
    if settings.api_cors_origins:
        app.add_middleware(CORSMiddleware, allow_origins=list(settings.api_cors_origins), allow_credentials=False,
                           allow_methods=["GET", "POST", "OPTIONS"], allow_headers=["Authorization", "Content-Type"],
                           expose_headers=["X-Next-Cursor", "Link", "Content-Disposition"], max_age=600)
    return app
