"""The browser UI in a real Chromium against a real `ocr serve`: a receipt read with its text and
one drawn box per line, hover pairing, the cached flag, downloads, the oversized-file error, the
API key, phone width, and a 2-page PDF. Screenshots: var/ui-screenshots/."""

from __future__ import annotations

import io
import json
import re
from pathlib import Path
from typing import Any

import cv2
import httpx
import pytest
from PIL import Image as PILImage
from playwright.sync_api import Browser, Page, Route, expect

from tests.support.api import RECEIPT
from tests.support.server import ServeProcess
from tests.ui.conftest import KEY, MAX_UPLOAD

pytestmark = pytest.mark.ui

EXPECTED = ["GREEN LEAF GROCERY", "TOTAL", "Thank you for shopping!"]
READ_TIMEOUT_MS = 120_000  # two shared cores and a cold server
DONE = re.compile(r"^Read \d+ lines\.$")  # not "Reading…" (Playwright trims "Read ")


def read(page: Page, path: Path) -> None:
    page.set_input_files("#file", str(path))
    expect(page.locator("#status")).to_have_text(DONE, timeout=READ_TIMEOUT_MS)


def boxes_and_lines(page: Page) -> tuple[int, int]:
    return page.locator("#stage polygon.box").count(), page.locator("#lines li.line").count()


def test_an_image_is_read_with_one_box_per_line(page: Page, shots: Path) -> None:
    read(page, RECEIPT)
    page.screenshot(path=shots / "desktop-receipt.png", full_page=True)
    lines = page.locator("#lines li.line")
    for text in EXPECTED:
        expect(lines.filter(has_text=text)).to_have_count(1)
    n_boxes, n_lines = boxes_and_lines(page)
    assert n_boxes == n_lines >= 10
    expect(page.locator("#cached")).to_have_text("not cached")
    expect(page.locator("#pager")).to_be_hidden()
    lines.nth(0).hover()
    expect(page.locator('#stage polygon[data-index="0"]')).to_have_class("box c-high hot")
    page.screenshot(path=shots / "desktop-receipt.png", full_page=True)
    page.click("#read")  # the same file again: the result cache answers
    expect(page.locator("#cached")).to_have_text("cached", timeout=READ_TIMEOUT_MS)


def test_a_box_and_its_line_light_up_together_by_keyboard(page: Page) -> None:
    page.keyboard.press("Tab")  # the header's link to the API docs, then the file picker
    page.keyboard.press("Tab")
    assert page.evaluate("document.activeElement.id") == "file"
    read(page, RECEIPT)
    page.locator("#lines li.line").nth(2).focus()
    expect(page.locator('#stage polygon[data-index="2"]')).to_have_class("box c-high hot")
    page.locator('#stage polygon[data-index="4"]').hover()
    expect(page.locator('#lines li[data-index="4"]')).to_have_class("line c-high hot")


def test_json_and_text_downloads_hold_the_result(page: Page) -> None:
    read(page, RECEIPT)
    with page.expect_download() as got:
        page.click('[data-format="json"]')
    doc = json.loads(Path(got.value.path()).read_text())
    assert doc["lines"] and doc["quality"]["text_height_px"] > 0 and doc["warnings"] == []
    with page.expect_download() as got:
        page.click('[data-format="text"]')
    assert got.value.suggested_filename == "receipt.txt"
    assert Path(got.value.path()).read_text() == doc["text"] + "\n"


def test_an_oversized_file_gets_a_clear_message(page: Page, tmp_path: Path, shots: Path) -> None:
    big = tmp_path / "big.png"
    big.write_bytes(RECEIPT.read_bytes() + b"\0" * (MAX_UPLOAD + 100_000))
    page.set_input_files("#file", str(big))
    error = page.locator("#error")
    expect(error).to_be_visible(timeout=READ_TIMEOUT_MS)
    expect(error).to_have_attribute("data-code", "PAYLOAD_TOO_LARGE")
    expect(error).to_contain_text("too large for this server")
    page.screenshot(path=shots / "error-too-large.png", full_page=True)


def test_without_a_key_the_page_asks_for_one(
    browser: Browser, server: ServeProcess, shots: Path
) -> None:
    context = browser.new_context(viewport={"width": 1280, "height": 800})
    page = context.new_page()
    page.goto(server.url + "/")
    expect(page.locator("#error")).to_have_attribute("data-code", "UNAUTHENTICATED")
    expect(page.locator("#api-key")).to_be_focused()
    page.screenshot(path=shots / "error-api-key.png")
    page.fill("#api-key", KEY)
    page.press("#api-key", "Enter")
    page.locator("#api-key").blur()
    expect(page.locator("#model-set option")).not_to_have_count(0)
    expect(page.locator("#error")).to_be_hidden()
    context.close()


def test_phone_width_has_no_sideways_scroll(
    browser: Browser, server: ServeProcess, shots: Path
) -> None:
    context = browser.new_context(viewport={"width": 390, "height": 844}, is_mobile=True)
    context.add_init_script(f"sessionStorage.setItem('ocr-api-key', {KEY!r})")
    page = context.new_page()
    page.goto(server.url + "/")
    read(page, RECEIPT)
    n_boxes, n_lines = boxes_and_lines(page)
    assert n_boxes == n_lines > 0
    width = page.evaluate("document.documentElement.scrollWidth")
    assert width <= 390, f"the page is {width} px wide at a 390 px viewport"
    page.screenshot(path=shots / "phone-receipt.png", full_page=True)
    context.close()


def test_overloaded_is_retried_after_retry_after(page: Page, shots: Path) -> None:
    """The server's 429 (its contract: README, errors) is shown and retried by itself."""
    busy = {"left": 1}

    def once_busy(route: Route) -> None:
        if busy["left"]:
            busy["left"] -= 1
            error = {"code": "OVERLOADED", "message": "in-flight limit reached", "request_id": "r1"}
            route.fulfill(status=429, headers={"Retry-After": "2"}, json={"error": error})
        else:
            route.continue_()

    page.route("**/v1/ocr", once_busy)
    page.set_input_files("#file", str(RECEIPT))
    expect(page.locator("#error")).to_contain_text("The server is busy. Retrying in 2 s")
    page.screenshot(path=shots / "error-overloaded.png")
    expect(page.locator("#status")).to_have_text(DONE, timeout=READ_TIMEOUT_MS)
    expect(page.locator("#error")).to_be_hidden()


def test_a_blurred_photo_is_flagged_and_strict_refuses_it(
    page: Page, tmp_path: Path, shots: Path
) -> None:
    blurred = tmp_path / "blurred.jpg"
    cv2.imwrite(str(blurred), cv2.GaussianBlur(cv2.imread(str(RECEIPT)), (0, 0), 3.5))
    read(page, blurred)
    expect(page.locator("#warnings")).to_contain_text("blurry")
    page.screenshot(path=shots / "warning-blurry.png", full_page=True)
    page.check("#strict")
    page.click("#read")
    expect(page.locator("#error")).to_have_attribute(
        "data-code", "IMAGE_QUALITY_POOR", timeout=READ_TIMEOUT_MS
    )
    expect(page.locator("#error")).to_contain_text("too poor to read reliably")


def pdf_result(server: ServeProcess) -> dict[str, Any]:
    """A 2-page PDF's JSON as the contract with the PDF half of issue 12 has it (top-level
    model_set, timings_ms, text with form feeds, ``pages``: each page the image document +
    ``page`` + ``text_layer``), made from a real image result."""
    image = httpx.post(
        server.url + "/v1/ocr",
        content=RECEIPT.read_bytes(),
        headers={"Authorization": f"Bearer {KEY}", "content-type": "image/png"},
        timeout=120,
    ).json()
    top = {k: image.pop(k) for k in ("request_id", "model_set", "model_versions", "timings_ms")}
    pages = [{**image, "page": n, "text_layer": n == 2} for n in (1, 2)]
    return {**top, "text": "\f".join(p["text"] for p in pages), "pages": pages, "cached": False}


def test_a_pdf_result_is_shown_page_by_page(
    page: Page, server: ServeProcess, tmp_path: Path, shots: Path
) -> None:
    """The UI's PDF path on the agreed JSON shape, answered by a stand-in for the server until
    the PDF half is merged (then test_a_two_page_pdf_is_read_page_by_page runs for real)."""
    doc = pdf_result(server)
    page.route("**/v1/ocr", lambda route: route.fulfill(json=doc))
    pdf = tmp_path / "two-pages.pdf"
    pdf.write_bytes(two_page_pdf())
    read(page, pdf)
    expect(page.locator("#page-of")).to_have_text("Page 1 of 2")
    n_boxes, n_lines = boxes_and_lines(page)
    assert n_boxes == n_lines == len(doc["pages"][0]["lines"])
    expect(page.locator("#stage svg.sheet text").first).to_have_text(EXPECTED[0])
    page.click("#next")
    expect(page.locator("#page-of")).to_have_text("Page 2 of 2")
    expect(page.locator("#next")).to_be_disabled()
    page.screenshot(path=shots / "pdf-stand-in-page-2.png", full_page=True)
    with page.expect_download() as got:
        page.click('[data-format="text"]')
    assert Path(got.value.path()).read_text().count("\f") == 1


def two_page_pdf() -> bytes:
    page = PILImage.open(RECEIPT).convert("RGB")
    out = io.BytesIO()
    page.save(out, format="PDF", save_all=True, append_images=[page.rotate(0)], resolution=150)
    return out.getvalue()


def test_a_two_page_pdf_is_read_page_by_page(
    page: Page, server: ServeProcess, tmp_path: Path, shots: Path
) -> None:
    pdf = tmp_path / "receipt-2p.pdf"
    pdf.write_bytes(two_page_pdf())
    read(page, pdf)
    expect(page.locator("#page-of")).to_have_text("Page 1 of 2")
    n_boxes, n_lines = boxes_and_lines(page)
    assert n_boxes == n_lines >= 10
    expect(page.locator("#lines")).to_contain_text(EXPECTED[0])
    page.click("#next")
    expect(page.locator("#page-of")).to_have_text("Page 2 of 2")
    expect(page.locator("#lines")).to_contain_text(EXPECTED[-1])
    page.screenshot(path=shots / "pdf-page-2.png", full_page=True)
