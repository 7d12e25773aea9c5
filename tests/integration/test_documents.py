"""A 2-page receipt PDF read by a real `ocr serve` and by `ocr predict`: JSON with pages, text,
hOCR and ALTO checked with lxml, the searchable PDF with poppler's pdftotext (word for word,
each word inside its box, size within a few percent of the input); fuzzed PDFs never 5xx."""

from __future__ import annotations

import json
import subprocess
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from tests.support.api import RECEIPT
from tests.support.formats import check_alto, check_hocr, check_searchable_pdf
from tests.support.pdfs import hostile_pdfs, jpeg, receipt_pdf
from tests.support.server import OCR, ServeProcess

PDF = receipt_pdf(2)
AS_PDF = {"content-type": "application/pdf"}


@pytest.fixture(scope="module")
def http(tmp_path_factory: pytest.TempPathFactory) -> Iterator[httpx.Client]:
    log = tmp_path_factory.mktemp("documents") / "server.log"
    env = {"OCR_INTRA_OP_THREADS": "1", "OCR_REQUEST_TIMEOUT_S": "120"}
    with ServeProcess(log, env) as srv, httpx.Client(base_url=srv.url, timeout=180) as client:
        yield client


@pytest.fixture(scope="module")
def doc(http: httpx.Client) -> dict:  # type: ignore[type-arg]
    r = http.post("/v1/ocr", params={"word_boxes": "true"}, content=PDF, headers=AS_PDF)
    assert r.status_code == 200, r.text
    return r.json()  # type: ignore[no-any-return]


def test_a_pdf_reads_page_by_page(doc: dict) -> None:  # type: ignore[type-arg]
    assert [p["page"] for p in doc["pages"]] == [1, 2]
    first, second = doc["pages"]
    assert "GROCERY" in first["text"] and first["text"] == second["text"]
    assert doc["text"] == first["text"] + "\f" + second["text"]


def test_text_hocr_and_alto(http: httpx.Client, doc: dict, tmp_path: Path) -> None:  # type: ignore[type-arg]
    def get(fmt: str) -> httpx.Response:
        r = http.post("/v1/ocr", params={"format": fmt}, content=PDF, headers=AS_PDF)
        assert r.status_code == 200, r.text
        return r

    text = get("text")
    assert text.headers["content-type"].startswith("text/plain")
    assert text.text == doc["text"] + "\n"
    hocr = get("hocr")
    assert hocr.headers["content-type"].startswith("application/xhtml+xml")
    check_hocr(hocr.content, doc)
    check_alto(get("alto").content, doc)


def test_searchable_pdf_of_a_pdf(http: httpx.Client, doc: dict, tmp_path: Path) -> None:  # type: ignore[type-arg]
    r = http.post("/v1/ocr", params={"format": "pdf"}, content=PDF, headers=AS_PDF)
    assert r.status_code == 200 and r.headers["content-type"] == "application/pdf"
    out = tmp_path / "out.pdf"
    out.write_bytes(r.content)
    check_searchable_pdf(out, doc)
    assert len(r.content) <= 1.05 * len(PDF)


def test_searchable_pdf_of_a_jpeg_keeps_its_bytes(http: httpx.Client, tmp_path: Path) -> None:
    data = jpeg()
    r = http.post(
        "/v1/ocr", params={"format": "pdf"}, content=data, headers={"content-type": "image/jpeg"}
    )
    assert r.status_code == 200
    assert data in r.content  # embedded as it is (DCT), not re-encoded
    assert len(r.content) <= 1.05 * len(data)
    found = http.post(
        "/v1/ocr",
        params={"word_boxes": "true"},
        content=data,
        headers={"content-type": "image/jpeg"},
    )
    out = tmp_path / "jpeg.pdf"
    out.write_bytes(r.content)
    check_searchable_pdf(out, found.json())


def test_fuzzed_pdfs_never_5xx(http: httpx.Client) -> None:
    for name, (data, allowed) in hostile_pdfs().items():
        r = http.post("/v1/ocr", content=data, headers=AS_PDF, timeout=60)
        got = "OK" if r.status_code == 200 else r.json()["error"]["code"]
        assert r.status_code < 500 and got in allowed, (name, r.text[:300])
    assert http.get("/livez").status_code == 200


def test_the_cli_reads_a_pdf(tmp_path: Path, doc: dict) -> None:  # type: ignore[type-arg]
    pdf = tmp_path / "receipt.pdf"
    pdf.write_bytes(PDF)
    run = [str(OCR), "predict", "--threads", "1", str(pdf)]
    lines = subprocess.run([*run, "--format", "json"], capture_output=True, check=True, timeout=300)
    got = json.loads(lines.stdout)
    assert [p["text"] for p in got["pages"]] == [p["text"] for p in doc["pages"]]
    out = tmp_path / "out.pdf"
    subprocess.run([*run, "--format", "pdf", "-o", str(out)], check=True, timeout=300)
    assert out.read_bytes().startswith(b"%PDF-")
    assert RECEIPT.exists()
