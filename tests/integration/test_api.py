"""The HTTP API end to end (in process, httpx ASGI transport) with the real bundled models:
every route, the three ways to send an image, caching, batching, word boxes. The error-code
contract runs on fake engines in tests/unit/test_api_contract.py."""

from __future__ import annotations

import asyncio
import base64
import itertools
import json

import cv2
import pytest

from service.api.schemas import OcrResponse
from tests.integration.render import render_lines
from tests.support.api import RECEIPT, metric, serving

pytestmark = [pytest.mark.integration, pytest.mark.anyio]


def png(lines: list[str]) -> bytes:
    ok, buf = cv2.imencode(".png", render_lines(lines).pixels)
    assert ok
    return buf.tobytes()


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
        # text is not an image (415), however it is sent
        assert results[1]["error"]["code"] == "UNSUPPORTED_MEDIA_TYPE"
        assert results[1]["result"] is None
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


async def test_receipt_fields_on_request_and_cached_apart() -> None:
    async with serving() as (_, client):
        send = {"files": {"file": ("r.png", RECEIPT_BYTES, "image/png")}}
        plain = (await client.post("/v1/ocr", **send)).json()
        with_fields = (await client.post("/v1/ocr?fields=receipt", **send)).json()
        again = (await client.post("/v1/ocr?fields=receipt", **send)).json()
    assert plain.get("fields") is None and with_fields["cached"] is False and again["cached"]
    fields = with_fields["fields"]
    assert set(fields) == {"company", "date", "address", "total"}
    assert fields["total"]["value"] == "11.76" and fields["date"]["normalized"] == "2026-11-23"
    assert again["fields"] == fields
    OcrResponse.model_validate(with_fields)
