"""POST /ocr (the PaddleX serving protocol) on fake engines: options mapped onto ours, the
protocol's success and error shapes. Validation against paddlex's own schemas, with real
models: tests/integration/test_paddlex_serving.py."""

from __future__ import annotations

import base64

import pytest

from tests.support.api import RECEIPT, serving
from tests.support.fake_models import WORD, fake_loader
from tests.support.pdfs import receipt_pdf
from tests.unit.test_admission import MB, png

pytestmark = pytest.mark.anyio

FAKE = fake_loader()
PNG = RECEIPT.read_bytes()


async def test_paddlex_ocr_maps_options_and_answers_in_its_own_shape() -> None:
    b64 = base64.b64encode(PNG).decode()
    async with serving(FAKE) as (_, client):
        r = await client.post("/ocr", json={"file": b64, "fileType": 1, "visualize": False})
        assert r.status_code == 200, r.text
        body = r.json()
        assert (body["errorCode"], body["errorMsg"]) == (0, "Success")
        pruned = body["result"]["ocrResults"][0]["prunedResult"]
        assert set(pruned["rec_texts"]) == {WORD}
        assert len(pruned["rec_boxes"]) == len(pruned["rec_polys"]) == len(pruned["rec_scores"])
        tuned = await client.post(
            "/ocr", json={"file": b64, "textDetLimitSideLen": 640, "useTextlineOrientation": False}
        )
        pruned = tuned.json()["result"]["ocrResults"][0]["prunedResult"]
        assert pruned["text_det_params"]["limit_side_len"] == 640
        assert set(pruned["textline_orientation_angles"]) == {-1}
        for payload, status in [
            ({"file": b64, "useDocUnwarping": True}, 422),
            ({"file": "%%%"}, 422),
            ({"file": b64, "textDetThresh": 7}, 422),
            ({"file": base64.b64encode(b"%PDF-1.7\n").decode(), "fileType": 0}, 422),
            ({"file": b64, "fileType": 0}, 422),  # says PDF, is a PNG
            ({"file": "https://example.com/a.png"}, 422),  # no URL allow-list
        ]:
            err = await client.post("/ocr", json=payload)
            assert err.status_code == status, err.text
            assert set(err.json()) == {"logId", "errorCode", "errorMsg"}
            assert err.json()["errorCode"] == status


async def test_paddlex_ocr_reads_a_pdf_page_by_page() -> None:
    pdf = base64.b64encode(receipt_pdf(2)).decode()
    async with serving(FAKE) as (_, client):
        r = await client.post("/ocr", json={"file": pdf, "fileType": 0})
        assert r.status_code == 200, r.text
        result = r.json()["result"]
        assert len(result["ocrResults"]) == 2
        assert result["dataInfo"]["type"] == "pdf" and result["dataInfo"]["numPages"] == 2
        assert all(o["ocrImage"] and o["inputImage"] for o in result["ocrResults"])
        assert set(result["ocrResults"][1]["prunedResult"]["rec_texts"]) == {WORD}


async def test_the_visualisation_is_held_in_the_memory_budget() -> None:
    """Drawing the lines decodes the input again: its bytes count like a reading's, and leave
    the budget when done (a 6 Mpx page is read under 64 MB at det side 640, not drawn)."""
    page = {"file": base64.b64encode(png(3000, 2000)).decode(), "textDetLimitSideLen": 640}
    async with serving(FAKE, memory_budget_bytes=64 * MB, cache_memory_bytes=0) as (rt, client):
        drawn = await client.post("/ocr", json=page)
        assert drawn.status_code == 413 and drawn.json()["errorCode"] == 413, drawn.text
        assert "64 MB" in drawn.json()["errorMsg"]
        assert rt.budget.used == 0
        plain = await client.post("/ocr", json=page | {"visualize": False})
        assert plain.status_code == 200, plain.text
        assert rt.budget.used == 0
