"""The HTTP contract on fake engines (tests/support/fake_models.py): every error code with its
status, admission (429), time-outs (504), a client that leaves (499), readiness, a cache entry
that does not decode, and the body shapes against the documented schemas. No model files: the
whole file runs in seconds. Real-model HTTP tests live in tests/integration/test_api.py."""

from __future__ import annotations

import asyncio
import base64
import io
from typing import Any

import cv2
import httpx
import numpy as np
import pytest
from PIL import Image as PILImage

from service.api.app import create_app
from service.api.schemas import BatchResponse, OcrResponse
from service.metrics import Metrics
from service.runtime.runtime import Runtime
from tests.support.api import RECEIPT, assert_error, metric, serving, settings
from tests.support.fake_models import WORD, fake_loader

pytestmark = pytest.mark.anyio

RECEIPT_BYTES = RECEIPT.read_bytes()
FAKE = fake_loader()
SLOW = fake_loader(delay_s=0.2)

ERROR_CODES = {
    "INVALID_IMAGE",
    "INVALID_REQUEST",
    "UNKNOWN_MODEL_SET",
    "UNSUPPORTED_MEDIA_TYPE",
    "PAYLOAD_TOO_LARGE",
    "IMAGE_TOO_LARGE",
    "TOO_MANY_IMAGES",
    "OVERLOADED",
    "NOT_READY",
    "TIMEOUT",
    "NOT_FOUND",
    "METHOD_NOT_ALLOWED",
    "UNAUTHENTICATED",
    "FORBIDDEN",
    "REQUEST_TIMEOUT",
    "INVALID_PDF",
    "PDF_ENCRYPTED",
    "TOO_MANY_PAGES",
    "IMAGE_QUALITY_POOR",
}


async def test_a_result_matches_the_documented_schema() -> None:
    async with serving(FAKE) as (_, client):
        r = await client.post("/v1/ocr", files={"file": ("r.png", RECEIPT_BYTES, "image/png")})
        assert r.status_code == 200, r.text
        body = OcrResponse.model_validate(r.json())
        assert body.lines and {ln.text for ln in body.lines} == {WORD}
        again = OcrResponse.model_validate(
            (
                await client.post(
                    "/v1/ocr", content=RECEIPT_BYTES, headers={"content-type": "image/png"}
                )
            ).json()
        )
        assert again.cached and again.lines == body.lines and again.request_id != body.request_id
        files = [
            ("files", ("a.png", RECEIPT_BYTES, "image/png")),
            ("files", ("b.png", b"x", "image/png")),
        ]
        batch = BatchResponse.model_validate(
            (await client.post("/v1/ocr/batch", files=files)).json()
        )
        assert batch.results[0].result is not None and batch.results[1].error is not None


async def test_strict_quality_refuses_a_poor_page_cached_or_not() -> None:
    """The fake detector's boxes are a few px tall: text too small to read. A warning with the
    result by default; 422 with quality=strict, also when the result comes from the cache
    (strict does not change the cached document). A blank page is no text, never poor."""
    send = {"content": RECEIPT_BYTES, "headers": {"content-type": "image/png"}}
    async with serving(FAKE) as (_, client):
        body = OcrResponse.model_validate((await client.post("/v1/ocr", **send)).json())
        assert body.quality.text_height_px is not None and not body.cached
        assert [w.reasons for w in body.warnings] == [["text_too_small"]]
        refused = await client.post("/v1/ocr", params={"quality": "strict"}, **send)
        assert "text_too_small" in assert_error(refused, 422, "IMAGE_QUALITY_POOR")["message"]
        blank = cv2.imencode(".png", np.full((200, 300, 3), 255, np.uint8))[1].tobytes()
        files = {"file": ("blank.png", blank, "image/png")}
        ok = await client.post("/v1/ocr", params={"quality": "strict"}, files=files)
        assert ok.status_code == 200 and ok.json()["warnings"] == [] and not ok.json()["lines"]


async def test_a_cache_entry_that_does_not_decode_is_a_miss() -> None:
    async with serving(FAKE) as (rt, client):
        send = {"content": RECEIPT_BYTES, "headers": {"content-type": "image/png"}}
        first = await client.post("/v1/ocr", **send)
        key = next(iter(rt.cache.backend._entries))  # type: ignore[attr-defined]
        await rt.cache.set(key, b"\x00 not json")
        again = await client.post("/v1/ocr", **send)
        assert again.status_code == 200 and again.json()["cached"] is False
        assert again.json()["lines"] == first.json()["lines"]
        assert metric(rt, "ocr_cache_corrupt_total") == 1


async def test_a_client_that_leaves_gets_499_and_its_work_is_dropped() -> None:
    s = settings(cache_memory_bytes=0)
    rt = Runtime(s, Metrics(gpu=False), loader=SLOW)
    app = create_app(s, rt)
    await rt.start()
    sent: list[dict[str, Any]] = []
    body_sent = False
    leave_at = asyncio.get_running_loop().time() + 0.1

    async def receive() -> dict[str, Any]:
        nonlocal body_sent
        if not body_sent:
            body_sent = True
            return {"type": "http.request", "body": RECEIPT_BYTES, "more_body": False}
        # the client hangs up 0.1 s in, while the det batcher works (starlette polls receive
        # under an immediately cancelled scope, so only a message ready at once counts)
        wait = leave_at - asyncio.get_running_loop().time()
        if wait > 0:
            await asyncio.sleep(wait)
        return {"type": "http.disconnect"}

    async def send(message: dict[str, Any]) -> None:
        sent.append(message)

    scope = {
        "type": "http", "method": "POST", "path": "/v1/ocr", "raw_path": b"/v1/ocr",
        "query_string": b"", "headers": [(b"content-type", b"image/png")], "http_version": "1.1",
        "scheme": "http", "server": ("t", 80), "client": ("c", 1), "root_path": "",
        "asgi": {"version": "3.0"}, "state": {},
    }  # fmt: skip
    try:
        await app(scope, receive, send)
        assert sent[0]["status"] == 499
        await asyncio.sleep(0.5)
        assert all(b.depth == 0 for bp in rt.pipelines.values() for b in bp.batchers.all())
    finally:
        await rt.stop()


async def test_not_ready_before_the_models_are_warm() -> None:
    s = settings()
    app = create_app(
        s, Runtime(s, Metrics(gpu=False), loader=FAKE)
    )  # lifespan not run: still starting
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://t") as client:
        assert (await client.get("/livez")).status_code == 200
        assert_error(await client.get("/readyz"), 503, "NOT_READY")
        r = await client.post(
            "/v1/ocr", content=RECEIPT_BYTES, headers={"content-type": "image/png"}
        )
        assert_error(r, 503, "NOT_READY")
        assert r.headers["retry-after"]


def _truncated_png() -> bytes:
    return RECEIPT_BYTES[: len(RECEIPT_BYTES) // 2]


def _bomb_png() -> bytes:
    buf = io.BytesIO()
    PILImage.new("L", (3000, 3000), 255).save(buf, "PNG")  # small file, 9 Mpx
    return buf.getvalue()


@pytest.mark.parametrize(
    ("kwargs", "status", "code"),
    [
        (
            {"content": b"\x00\x9fgarbage\xff", "headers": {"content-type": "image/png"}},
            422,
            "INVALID_IMAGE",
        ),
        (
            {"content": _truncated_png(), "headers": {"content-type": "image/png"}},
            422,
            "INVALID_IMAGE",
        ),
        ({"content": b"", "headers": {"content-type": "image/png"}}, 422, "INVALID_IMAGE"),
        (
            {"content": b"hello", "headers": {"content-type": "text/plain"}},
            415,
            "UNSUPPORTED_MEDIA_TYPE",
        ),
        (
            {"content": b"%PDF-1.7\n...", "headers": {"content-type": "application/octet-stream"}},
            422,
            "INVALID_PDF",
        ),
        ({"content": b"x"}, 415, "UNSUPPORTED_MEDIA_TYPE"),
        ({"json": {"image": "%%% not base64"}}, 422, "INVALID_REQUEST"),
        ({"json": {"img": "AAAA"}}, 422, "INVALID_REQUEST"),
        ({"json": [1, 2]}, 422, "INVALID_REQUEST"),
        (
            {"content": b"{not json", "headers": {"content-type": "application/json"}},
            422,
            "INVALID_REQUEST",
        ),
        ({"json": {"image": "AAAA", "options": {"det_thresh": 7}}}, 422, "INVALID_REQUEST"),
        ({"json": {"image": "AAAA", "options": {"nope": 1}}}, 422, "INVALID_REQUEST"),
        (
            {"json": {"image": "AAAA", "options": {"model_set": "klingon"}}},
            422,
            "UNKNOWN_MODEL_SET",
        ),
        ({"files": {"options": (None, "{}")}}, 422, "INVALID_REQUEST"),
        ({"files": [("file", ("a", b"1")), ("file", ("b", b"2"))]}, 413, "TOO_MANY_IMAGES"),
        (
            {"content": _bomb_png(), "headers": {"content-type": "image/png"}},
            413,
            "IMAGE_TOO_LARGE",
        ),
        (
            {"content": b"\x89PNG" + b"0" * 300_000, "headers": {"content-type": "image/png"}},
            413,
            "PAYLOAD_TOO_LARGE",
        ),
    ],
    ids=[
        "corrupt",
        "truncated",
        "empty-body",
        "text-plain",
        "pdf",
        "no-content-type",
        "bad-base64",
        "unknown-field",
        "json-not-object",
        "bad-json",
        "option-out-of-range",
        "unknown-option",
        "unknown-model-set",
        "multipart-without-file",
        "two-files-to-single-route",
        "decompression-bomb",
        "oversized-upload",
    ],
)
async def test_bad_input_gets_a_stable_error(kwargs: dict, status: int, code: str) -> None:  # type: ignore[type-arg]
    async with serving(FAKE, max_upload_bytes=200_000, max_image_pixels=4_000_000) as (_, client):
        resp = await client.post("/v1/ocr", **kwargs)
        assert_error(resp, status, code)
        assert (await client.get("/livez")).status_code == 200


async def test_chunked_upload_over_the_limit_is_cut_off() -> None:
    async def chunks():  # type: ignore[no-untyped-def]
        for _ in range(50):
            yield b"\x89PNG" + b"0" * 10_000

    async with serving(FAKE, max_upload_bytes=100_000) as (_, client):
        resp = await client.post("/v1/ocr", content=chunks(), headers={"content-type": "image/png"})
        assert_error(resp, 413, "PAYLOAD_TOO_LARGE")


async def test_batch_limits_and_unknown_routes() -> None:
    async with serving(FAKE, max_batch_images=2) as (_, client):
        three = {"images": [base64.b64encode(b"x").decode()] * 3}
        assert_error(await client.post("/v1/ocr/batch", json=three), 413, "TOO_MANY_IMAGES")
        assert_error(await client.get("/v2/nothing"), 404, "NOT_FOUND")
        wrong = await client.get("/v1/ocr")
        assert_error(wrong, 405, "METHOD_NOT_ALLOWED")
        assert wrong.headers["allow"] == "POST"


async def test_overloaded_is_refused_at_once_with_retry_after() -> None:
    async with serving(SLOW, max_inflight=1, cache_memory_bytes=0) as (rt, client):
        send = {"files": {"file": ("r.png", RECEIPT_BYTES, "image/png")}}
        first = asyncio.create_task(client.post("/v1/ocr", **send))
        while rt.inflight == 0:
            await asyncio.sleep(0.005)
        second = await client.post("/v1/ocr", **send)
        err = assert_error(second, 429, "OVERLOADED")
        assert "in flight" in err["message"]
        assert int(second.headers["retry-after"]) >= 1
        assert (await first).status_code == 200
        assert metric(rt, "ocr_errors_total", code="OVERLOADED") == 1


async def test_timeout_is_504_and_drops_the_queued_work() -> None:
    async with serving(SLOW, request_timeout_s=0.05, cache_memory_bytes=0) as (rt, client):
        resp = await client.post("/v1/ocr", files={"file": ("r.png", RECEIPT_BYTES, "image/png")})
        assert_error(resp, 504, "TIMEOUT")
        await asyncio.sleep(0.5)
        assert all(b.depth == 0 for bp in rt.pipelines.values() for b in bp.batchers.all())


def test_error_codes_cover_the_documented_set() -> None:
    from service.api.errors import STATUS

    assert set(STATUS) >= ERROR_CODES
    assert all(STATUS[c] < 500 for c in ERROR_CODES - {"NOT_READY", "TIMEOUT"})
