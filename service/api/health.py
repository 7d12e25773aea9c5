"""Probes and metrics: /livez (the process answers; no inference), /readyz (every served model
set loaded and warmed on all bucket shapes, and not draining), /metrics (Prometheus)."""

from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse, Response
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest

from service.api.errors import error_body
from service.runtime.runtime import Runtime

router = APIRouter()


@router.get("/livez", summary="Liveness: the process is up (no inference)")
async def livez() -> dict[str, str]:
    return {"status": "ok"}


@router.get("/readyz", summary="Readiness: models loaded and warmed, not draining")
async def readyz(request: Request) -> JSONResponse:
    rt: Runtime = request.app.state.runtime
    if rt.ready:
        return JSONResponse({"status": "ready", "model_sets": sorted(rt.pipelines)})
    body = error_body("NOT_READY", f"service is {rt.state.value}")
    return JSONResponse(body, status_code=503, headers={"Retry-After": "5"})


@router.get("/metrics", summary="Prometheus metrics", include_in_schema=False)
async def metrics(request: Request) -> Response:
    rt: Runtime = request.app.state.runtime
    return Response(generate_latest(rt.metrics.registry), media_type=CONTENT_TYPE_LATEST)
