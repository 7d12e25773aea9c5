"""create_app(): the FastAPI application. Models load and warm in the lifespan; /readyz flips
only then. The runtime (batchers, cache, pools) lives on ``app.state.runtime``."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

from fastapi import FastAPI

from service import __version__
from service.api import errors, health, jobs, paddlex, routes, ui
from service.api.access import Access
from service.api.keys import parse_digests
from service.api.middleware import RequestContext
from service.api.schemas import BatchJsonRequest, OcrJsonRequest, PaddleXOcrRequest
from service.api.uploads import UploadGuard
from service.jobs.jobs import Jobs, make_store
from service.metrics import Metrics
from service.runtime.runtime import Runtime
from service.settings import Settings, get_settings

JSON_OVERHEAD = 64 * 1024  # field names, options, the base64 alphabet's 4/3 is added on top


def body_limits(s: Settings) -> Any:
    single = s.max_upload_bytes * 4 // 3 + JSON_OVERHEAD
    batch = s.max_batch_bytes * 4 // 3 + JSON_OVERHEAD
    job = s.job_max_bytes * 4 // 3 + JSON_OVERHEAD

    def limit(path: str) -> int:
        if path.startswith("/v1/ocr/batch"):
            return batch
        if path == "/v1/jobs":
            return job
        return single if path.startswith("/v1/") or path == "/ocr" else JSON_OVERHEAD

    return limit


def create_app(settings: Settings | None = None, runtime: Runtime | None = None) -> FastAPI:
    settings = settings or get_settings()
    if runtime is None:
        runtime = Runtime(settings, Metrics())
    job_service = Jobs(settings, runtime, make_store(settings))

    @asynccontextmanager
    async def lifespan(_: FastAPI) -> AsyncIterator[None]:
        await runtime.start()
        await job_service.start()
        try:
            yield
        finally:  # job pages being read go back to the queue before the batchers stop
            await job_service.stop()
            await runtime.stop()

    app = FastAPI(
        title="OCR Service",
        version=__version__,
        summary="PP-OCR text detection, angle classification and recognition over REST/JSON.",
        lifespan=lifespan,
    )
    app.state.runtime = runtime
    app.state.jobs = job_service
    app.state.settings = settings
    errors.install(app, runtime.metrics)
    app.include_router(routes.router)
    app.include_router(jobs.router)
    app.include_router(paddlex.router)
    app.include_router(health.router)
    app.include_router(ui.router)
    _add_middleware(app, settings, runtime.metrics)
    _document_bodies(app)
    return app


def _add_middleware(app: FastAPI, s: Settings, metrics: Metrics) -> None:
    """Outermost first: request id, metrics and body size -> API key and quota -> uploads in
    flight and body read time (each added one wraps those added before it)."""
    app.add_middleware(
        UploadGuard, max_uploads=s.max_uploads, chunk_timeout_s=s.body_timeout_s, metrics=metrics
    )
    digests = parse_digests(s.api_keys)
    app.add_middleware(Access, digests=digests, per_min=s.api_key_rate_per_min, metrics=metrics)
    app.add_middleware(RequestContext, metrics=metrics, body_limit=body_limits(s))


def _document_bodies(app: FastAPI) -> None:
    """The OCR routes read their bodies themselves (three content types); put the JSON body
    models into the OpenAPI components so the documented request schemas resolve."""
    build = app.openapi

    def openapi() -> dict[str, Any]:
        if app.openapi_schema:
            return app.openapi_schema
        schema = build()
        comps = schema.setdefault("components", {}).setdefault("schemas", {})
        for model in (OcrJsonRequest, BatchJsonRequest, PaddleXOcrRequest):
            doc = model.model_json_schema(ref_template="#/components/schemas/{model}")
            comps.update(doc.pop("$defs", {}))
            comps[model.__name__] = doc
        app.openapi_schema = schema
        return schema

    app.openapi = openapi  # type: ignore[method-assign]
