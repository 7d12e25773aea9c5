"""The PDF page source (limits before rendering, hostile PDFs as stable codes, in bounded time)
and the PDF's JSON document against its schema, on fake engines (no model files)."""

from __future__ import annotations

import time

import pytest

from service.api.schemas import PdfResponse
from service.documents.errors import BadPageSelection
from service.documents.options import PdfLimits, PdfOptions
from service.documents.pdf import PdfSource, select_pages
from service.ocr.errors import OcrError
from tests.support.api import assert_error, serving
from tests.support.fake_models import WORD, fake_loader
from tests.support.pdfs import hostile_pdfs, receipt_pdf, text_page_pdf

FAKE = fake_loader()


@pytest.mark.parametrize(
    ("spec", "count", "pages"),
    [("", 3, [1, 2, 3]), ("2", 3, [2]), ("1-2, 3", 3, [1, 2, 3]), ("3,1-2,2", 5, [1, 2, 3])],
)
def test_page_selection(spec: str, count: int, pages: list[int]) -> None:
    assert select_pages(spec, count) == pages


@pytest.mark.parametrize("spec", ["4", "0", "3-2", "1-9", "x", "1,,2"])
def test_a_selection_of_no_page_is_refused(spec: str) -> None:
    with pytest.raises(BadPageSelection):
        select_pages(spec, 3)


@pytest.mark.parametrize("name", list(hostile_pdfs()))
def test_hostile_pdfs_are_stable_codes_in_bounded_time(name: str) -> None:
    data, allowed = hostile_pdfs()[name]
    start = time.monotonic()
    try:
        source = PdfSource.open(data, PdfOptions(), PdfLimits())
        images = [source.render(p) for p in source.pages]
        source.close()
        outcome = "OK"
        assert all(im.pixels.ndim == 3 for im in images)
    except OcrError as exc:
        outcome = exc.code
    assert outcome in allowed
    assert time.monotonic() - start < 10


def test_pages_are_sized_at_the_dpi_and_text_layers_found() -> None:
    source = PdfSource.open(receipt_pdf(2), PdfOptions(dpi=100, pages="2"), PdfLimits())
    [page] = source.pages
    assert (page.number, page.width, page.height, page.text_layer) == (2, 361, 450, False)
    assert source.render(page).pixels.shape == (450, 361, 3)
    source.close()
    text = PdfSource.open(text_page_pdf("Hello"), PdfOptions(), PdfLimits())
    assert text.pages[0].text_layer and text.text(text.pages[0]).strip() == "Hello"
    text.close()


@pytest.mark.anyio
async def test_a_pdf_result_matches_the_documented_schema() -> None:
    async with serving(FAKE) as (_, client):
        send = {"content": receipt_pdf(2), "headers": {"content-type": "application/pdf"}}
        r = await client.post("/v1/ocr", **send)
        assert r.status_code == 200, r.text
        body = PdfResponse.model_validate(r.json())
        assert [p.page for p in body.pages] == [1, 2] and not body.pages[0].text_layer
        assert body.text.split("\f") == [p.text for p in body.pages]
        assert {ln.text for p in body.pages for ln in p.lines} == {WORD}
        assert set(r.json()) == set(PdfResponse.model_fields)
        again = await client.post("/v1/ocr", **send)
        assert again.json()["cached"] and again.json()["pages"] == r.json()["pages"]
        skipped = await client.post(
            "/v1/ocr?skip_text_pages=true",
            content=text_page_pdf("Hello"),
            headers={"content-type": "application/pdf"},
        )
        page = skipped.json()["pages"][0]
        assert page["text_layer"] and page["lines"] == [] and page["text"] == "Hello"


@pytest.mark.anyio
async def test_pdf_limits_are_stable_errors() -> None:
    async with serving(FAKE, max_pdf_pages=1) as (_, client):
        raw = {"headers": {"content-type": "application/pdf"}}
        assert_error(
            await client.post("/v1/ocr", content=receipt_pdf(2), **raw), 413, "TOO_MANY_PAGES"
        )
        ok = await client.post("/v1/ocr?pages=2", content=receipt_pdf(2), **raw)
        assert ok.status_code == 200 and ok.json()["pages"][0]["page"] == 2
        bad = await client.post("/v1/ocr?pages=5", content=receipt_pdf(2), **raw)
        assert_error(bad, 422, "INVALID_REQUEST")
        for name, (data, allowed) in hostile_pdfs().items():
            r = await client.post("/v1/ocr", content=data, **raw)
            got = "OK" if r.status_code == 200 else r.json()["error"]["code"]
            assert got in allowed | {"TOO_MANY_PAGES"}, (name, r.text)
