"""POST /ocr against PaddleX's own protocol definitions: the `paddlex` package lives in an
isolated venv (.peers/paddlex, made by `scripts/setup.sh --dev`; never a dependency of the
service), from which PaddleOCR serving's documented client (re-typed) reads the sample receipt
from a real `ocr serve`, and validates every request and response with paddlex's pydantic
models, for an image and a PDF. Skips only when that venv is missing."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import httpx
import pytest

from tests.support.api import RECEIPT
from tests.support.pdfs import receipt_pdf
from tests.support.server import ServeProcess

pytestmark = pytest.mark.integration

ROOT = Path(__file__).resolve().parents[2]
PEER = ROOT / ".peers" / "paddlex" / "bin" / "python"
CLIENT = ROOT / "tests" / "support" / "paddlex_client.py"


@pytest.mark.skipif(not PEER.exists(), reason="no .peers/paddlex: run scripts/setup.sh --dev")
def test_a_paddleocr_serving_client_reads_a_receipt_through_us(tmp_path: Path) -> None:
    pdf = tmp_path / "receipt.pdf"
    pdf.write_bytes(receipt_pdf(2))
    with ServeProcess(tmp_path / "serve.log") as server:
        ours = httpx.post(
            f"{server.url}/v1/ocr", files={"file": RECEIPT.read_bytes()}, timeout=60
        ).json()
        run = subprocess.run(
            [str(PEER), str(CLIENT), server.url, str(RECEIPT), str(pdf), str(tmp_path)],
            capture_output=True,
            text=True,
            timeout=300,
        )
    assert run.returncode == 0, run.stderr[-3000:]
    found = json.loads(run.stdout.strip().splitlines()[-1])
    assert found["rec_texts"] == [ln["text"] for ln in ours["lines"]]
    assert {"rec_texts", "rec_scores", "rec_polys", "rec_boxes", "dt_polys"} <= set(found["keys"])
    assert found["data_info"] == {**ours["image"], "type": "image"}
    assert (tmp_path / "ocr_0.jpg").read_bytes()[:2] == b"\xff\xd8"  # the client saved a JPEG
    assert found["tuned_log_id"] == "client-log-1"
    assert {"text_word", "text_word_boxes"} <= set(found["tuned_keys"])
    assert found["tuned_image"] is None and found["tuned_det"]["limit_side_len"] == 960
    assert found["pdf_info"]["type"] == "pdf" and found["pdf_info"]["numPages"] == 2
    assert len(found["pdf_texts"]) == 2 and all(found["pdf_texts"])
    assert found["bad_status"] == found["bad_code"] == 422
    assert found["bad_msg"].startswith("INVALID_REQUEST: ")
