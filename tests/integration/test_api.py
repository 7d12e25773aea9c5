"""The HTTP API end to end (in process, httpx ASGI transport) with the real bundled models:
every route, every error code, the three ways to send an image, caching, request ids."""

from __future__ import annotations

import asyncio
import base64
import io
import itertools
import json

import cv2
import pytest
from PIL import Image as PILImage

from tests.integration.render import render_lines
from tests.support.api import RECEIPT, metric, serving

pytestmark = [pytest.mark.integration, pytest.mark.anyio]

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
}


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


def png(lines: list[str]) -> bytes:
    ok, buf = cv2.imencode(".png", render_lines(lines).pixels)
    assert ok
    return buf.tobytes()


def assert_error(resp, status: int, code: str) -> dict:  # type: ignore[no-untyped-def,type-arg]
    assert resp.status_code == status, resp.text
    body = resp.json()
    assert set(body) == {"error"}
    assert body["error"]["code"] == code
    assert body["error"]["message"]
    assert body["error"]["request_id"] == resp.headers["x-request-id"]
    return body["error"]  # type: ignore[no-any-return]


RECEIPT_BYTES = RECEIPT.read_bytes()


async def test_three_ways_to_send_an_image_answer_alike() -> None:
    async with serving(cache_memory_bytes=0) as (_, client):
        multi = await client.post("/v1/ocr", files={"file": ("r.png", RECEIPT_BYTES, "image/png")})
        as_json = await client.post(
            "/v1/ocr", json={"image": base64.b64encode(RECEIPT_BYTES).decode()}
        )
        raw = await client.post(
            "/v1/ocr", content=RECEIPT_BYTES, headers={"content-type": "image/png"}
        )
    bodies = [r.json() for r in (multi, as_json, raw)]
    assert all(r.status_code == 200 for r in (multi, as_json, raw))
    assert bodies[0]["lines"] == bodies[1]["lines"] == bodies[2]["lines"]
    b = bodies[0]
    assert "TOTAL" in b["text"] and "GREEN LEAF GROCERY" in b["text"]
    assert b["image"] == {"width": 720, "height": 900}
    assert b["model_set"] == "ppocr-v6-small" and set(b["model_versions"]) == {"det", "cls", "rec"}
    assert {"det", "cls", "rec", "total"} <= set(b["timings_ms"])
    line = b["lines"][0]
    assert len(line["polygon"]) == 4 and line["angle"] in (0, 180) and 0 < line["score"] <= 1
    assert b["cached"] is False


async def test_options_text_format_and_request_id() -> None:
    async with serving() as (_, client):
        r = await client.post(
            "/v1/ocr",
            files={"file": ("r.png", RECEIPT_BYTES, "image/png")},
            data={"options": json.dumps({"format": "text", "decoder": "beam", "use_cls": False})},
            headers={"X-Request-ID": "abc-123"},
        )
        assert r.status_code == 200
        assert r.headers["x-request-id"] == "abc-123"
        assert r.headers["content-type"].startswith("text/plain")
        assert "TOTAL   11.76" in r.text
        # query-parameter options work for every body form; a bad id is replaced, not echoed
        q = await client.post(
            "/v1/ocr?drop_score=0.99&det_limit_side_len=960",
            content=RECEIPT_BYTES,
            headers={"content-type": "image/png", "X-Request-ID": "bad id\x01"},
        )
        assert q.status_code == 200 and q.headers["x-request-id"] != "bad id\x01"
        assert all(line["score"] >= 0.99 for line in q.json()["lines"])


async def test_cache_hit_second_time_and_options_change_the_key() -> None:
    async with serving() as (rt, client):
        send = {"files": {"file": ("r.png", RECEIPT_BYTES, "image/png")}}
        first = (await client.post("/v1/ocr", **send)).json()
        second = (await client.post("/v1/ocr", **send)).json()
        other = (await client.post("/v1/ocr?use_cls=false", **send)).json()
        assert (first["cached"], second["cached"], other["cached"]) == (False, True, False)
        assert first["lines"] == second["lines"]
        assert first["request_id"] != second["request_id"]
        assert metric(rt, "ocr_cache_requests_total", backend="memory", result="hit") == 1


async def test_batch_route_answers_each_image_on_its_own() -> None:
    async with serving(cache_memory_bytes=0) as (_, client):
        files = [
            ("files", ("a.png", RECEIPT_BYTES, "image/png")),
            ("files", ("b.png", b"not an image", "image/png")),
            ("files", ("c.png", png(["Hello batch world"]), "image/png")),
        ]
        r = await client.post("/v1/ocr/batch", files=files)
        assert r.status_code == 200, r.text
        results = r.json()["results"]
        assert [x["index"] for x in results] == [0, 1, 2]
        assert "TOTAL" in results[0]["result"]["text"]
        assert results[1]["error"]["code"] == "INVALID_IMAGE" and results[1]["result"] is None
        assert results[2]["result"]["text"] == "Hello batch world"
        j = await client.post(
            "/v1/ocr/batch", json={"images": [base64.b64encode(RECEIPT_BYTES).decode()]}
        )
        assert j.status_code == 200 and "TOTAL" in j.json()["results"][0]["result"]["text"]


async def test_models_health_and_metrics_routes() -> None:
    async with serving() as (rt, client):
        models = (await client.get("/v1/models")).json()
        assert models["default"] == "ppocr-v6-small"
        by_name = {m["name"]: m for m in models["model_sets"]}
        assert by_name["ppocr-v6-small"]["loaded"] and by_name["ppocr-v6-small"]["default"]
        assert "ppocr-v4-mobile" in by_name and not by_name["ppocr-v4-mobile"]["loaded"]
        assert (await client.get("/livez")).json() == {"status": "ok"}
        ready = await client.get("/readyz")
        assert ready.status_code == 200 and ready.json()["model_sets"] == ["ppocr-v6-small"]
        await client.post("/v1/ocr", files={"file": ("r.png", RECEIPT_BYTES, "image/png")})
        text = (await client.get("/metrics")).text
        for name in (
            'ocr_http_requests_total{method="POST",route="/v1/ocr",status="200"}',
            "ocr_batch_size_bucket",
            'ocr_stage_duration_seconds_count{model_set="ppocr-v6-small",stage="rec"}',
            "ocr_queue_depth",
            "ocr_model_info",
            "process_resident_memory_bytes",
            "ocr_ready 1.0",
        ):
            assert name in text, name
        assert "ocr_gpu_utilization_ratio" not in text  # no GPU here: absent, not an error
        docs = (await client.get("/openapi.json")).json()
        assert {"/v1/ocr", "/v1/ocr/batch", "/v1/models", "/livez", "/readyz"} <= set(docs["paths"])
        assert "OcrJsonRequest" in docs["components"]["schemas"]
        rt.begin_drain()
        drained = await client.get("/readyz")
        assert drained.status_code == 503 and drained.headers["retry-after"]
        r = await client.post("/v1/ocr", files={"file": ("r.png", RECEIPT_BYTES, "image/png")})
        assert r.status_code == 200  # draining still serves what reaches it


async def test_not_ready_before_the_models_are_warm() -> None:
    import httpx

    from service.api.app import create_app
    from service.metrics import Metrics
    from service.runtime.runtime import Runtime
    from tests.support.api import settings

    s = settings()
    app = create_app(s, Runtime(s, Metrics(gpu=False)))  # lifespan not run: still starting
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
            {"content": b"garbage bytes", "headers": {"content-type": "image/png"}},
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
            415,
            "UNSUPPORTED_MEDIA_TYPE",
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
    async with serving(max_upload_bytes=200_000, max_image_pixels=4_000_000) as (_, client):
        resp = await client.post("/v1/ocr", **kwargs)
        assert_error(resp, status, code)
        assert (await client.get("/livez")).status_code == 200


async def test_chunked_upload_over_the_limit_is_cut_off() -> None:
    async def chunks():  # type: ignore[no-untyped-def]
        for _ in range(50):
            yield b"\x89PNG" + b"0" * 10_000

    async with serving(max_upload_bytes=100_000) as (_, client):
        resp = await client.post("/v1/ocr", content=chunks(), headers={"content-type": "image/png"})
        assert_error(resp, 413, "PAYLOAD_TOO_LARGE")


async def test_batch_limits_and_unknown_routes() -> None:
    async with serving(max_batch_images=2) as (_, client):
        three = {"images": [base64.b64encode(b"x").decode()] * 3}
        assert_error(await client.post("/v1/ocr/batch", json=three), 413, "TOO_MANY_IMAGES")
        assert_error(await client.get("/v2/nothing"), 404, "NOT_FOUND")
        wrong = await client.get("/v1/ocr")
        assert_error(wrong, 405, "METHOD_NOT_ALLOWED")
        assert wrong.headers["allow"] == "POST"


async def test_overloaded_is_refused_at_once_with_retry_after() -> None:
    async with serving(max_inflight=1, cache_memory_bytes=0) as (rt, client):
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
    async with serving(request_timeout_s=0.05, cache_memory_bytes=0) as (rt, client):
        resp = await client.post("/v1/ocr", files={"file": ("r.png", RECEIPT_BYTES, "image/png")})
        assert_error(resp, 504, "TIMEOUT")
        await asyncio.sleep(0.5)
        assert all(b.depth == 0 for bp in rt.pipelines.values() for b in bp.batchers.all())


async def test_concurrent_requests_share_batches_and_answer_as_alone() -> None:
    pages = [
        png([f"Invoice {i:03d} total {17 * i + 3}.{i:02d} EUR", "Thank you"]) for i in range(8)
    ]
    pages.append(RECEIPT_BYTES)
    async with serving(cache_memory_bytes=0) as (rt, client):
        alone = []
        for p in pages:
            r = await client.post("/v1/ocr", files={"file": ("p.png", p, "image/png")})
            alone.append(r.json()["lines"])
        before = metric(rt, "ocr_batch_size_count", stage="rec")
        together = await asyncio.gather(
            *(client.post("/v1/ocr", files={"file": ("p.png", p, "image/png")}) for p in pages * 2)
        )
        batches = metric(rt, "ocr_batch_size_count", stage="rec") - before
    for i, r in enumerate(together):
        assert r.status_code == 200
        assert r.json()["lines"] == alone[i % len(pages)], f"request {i} differs from alone"
    rows = sum(len(a) for a in alone) * 2  # at least one rec row per line
    assert batches < rows, f"{batches} rec batches for >= {rows} rows: no batch sharing"
    assert alone[0][0]["text"] == "Invoice 000 total 3.00 EUR"


async def test_single_flight_computes_identical_requests_once() -> None:
    async with serving() as (rt, client):
        send = {"files": {"file": ("r.png", RECEIPT_BYTES, "image/png")}}
        rs = await asyncio.gather(*(client.post("/v1/ocr", **send) for _ in range(6)))
        assert all(r.status_code == 200 for r in rs)
        assert len({json.dumps(r.json()["lines"]) for r in rs}) == 1
        assert metric(rt, "ocr_singleflight_shared_total") == 5
        assert metric(rt, "ocr_batch_size_count", stage="det") == 1


def test_error_codes_cover_the_documented_set() -> None:
    from service.api.errors import STATUS

    assert set(STATUS) >= ERROR_CODES
    assert all(STATUS[c] < 500 for c in ERROR_CODES - {"NOT_READY", "TIMEOUT"})


async def test_word_boxes_locate_each_word_inside_its_line() -> None:
    page = png(["Invoice total 1234.56 EUR"])
    async with serving() as (_, client):
        plain = (await client.post("/v1/ocr", files={"file": ("p.png", page, "image/png")})).json()
        r = await client.post(
            "/v1/ocr?word_boxes=true", files={"file": ("p.png", page, "image/png")}
        )
    assert plain["lines"][0]["words"] is None
    (line,) = r.json()["lines"]
    words = line["words"]
    assert [w["text"] for w in words] == line["text"].split() == plain["lines"][0]["text"].split()
    xs = [(min(x for x, _ in w["polygon"]), max(x for x, _ in w["polygon"])) for w in words]
    left, right = line["polygon"][0][0], line["polygon"][1][0]
    assert left - 2 <= xs[0][0] and xs[-1][1] <= right + 2
    assert all(a[1] <= b[0] for a, b in itertools.pairwise(xs))  # in order, disjoint
    # wider words get wider boxes: "1234.56" is wider than "EUR"
    assert xs[2][1] - xs[2][0] > xs[3][1] - xs[3][0]


async def test_word_boxes_of_an_upside_down_line_run_right_to_left() -> None:
    upright = render_lines(["Invoice total 1234.56 EUR"]).pixels
    ok, buf = cv2.imencode(".png", cv2.rotate(upright, cv2.ROTATE_180))
    assert ok
    async with serving() as (_, client):
        r = await client.post(
            "/v1/ocr?word_boxes=true", content=buf.tobytes(), headers={"content-type": "image/png"}
        )
    (line,) = r.json()["lines"]
    assert line["angle"] == 180 and line["text"] == "Invoice total 1234.56 EUR"
    centres = [sum(x for x, _ in w["polygon"]) / 4 for w in line["words"]]
    assert centres == sorted(centres, reverse=True)
