"""An in-process app for API tests (httpx ASGI transport).

``serving(**overrides)`` builds Settings from the overrides (env vars are ignored), starts the
runtime (loads + warms the models, as the lifespan does) and yields (runtime, client): with the
real bundled models by default, or with ``loader=fake_loader()`` (tests/support/fake_models.py)
for contract tests that need no model files.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import httpx

from service.api.app import create_app
from service.metrics import Metrics
from service.runtime.loader import load_pipeline
from service.runtime.runtime import Loader, Runtime
from service.settings import Settings

ROOT = Path(__file__).resolve().parents[2]
RECEIPT = ROOT / "samples" / "receipt.png"


def settings(**overrides: Any) -> Settings:
    base: dict[str, Any] = {"intra_op_threads": 1, "cpu_workers": 2}
    base.update(overrides)
    return Settings(_env_file=None, **base)  # type: ignore[call-arg]


@asynccontextmanager
async def serving(
    loader: Loader = load_pipeline, **overrides: Any
) -> AsyncIterator[tuple[Runtime, httpx.AsyncClient]]:
    s = settings(**overrides)
    runtime = Runtime(s, Metrics(gpu=False), loader=loader)
    app = create_app(s, runtime)
    await runtime.start()
    await app.state.jobs.start()
    try:
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(
            transport=transport, base_url="http://ocr.test", timeout=120
        ) as client:
            yield runtime, client
    finally:
        await app.state.jobs.stop()
        await runtime.stop()


def metric(runtime: Runtime, name: str, **labels: str) -> float:
    value = runtime.metrics.registry.get_sample_value(name, labels)
    return 0.0 if value is None else value


def assert_error(resp: httpx.Response, status: int, code: str) -> dict[str, Any]:
    """``resp`` is an error of the documented shape with this status and code; its detail."""
    assert resp.status_code == status, resp.text
    body = resp.json()
    assert set(body) == {"error"}
    assert body["error"]["code"] == code
    assert body["error"]["message"]
    assert body["error"]["request_id"] == resp.headers["x-request-id"]
    return body["error"]  # type: ignore[no-any-return]
