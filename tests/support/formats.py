"""Checks of the output formats with real tools: poppler's ``pdftotext`` for the searchable
PDF, lxml for the structure of hOCR and ALTO. Shared by the unit tests (synthetic documents)
and the integration tests (a real ``ocr serve``)."""

from __future__ import annotations

import subprocess
from pathlib import Path
from typing import Any

from lxml import etree

from service.documents.document import pages_of

ALTO = "{http://www.loc.gov/standards/alto/ns-v4#}"
XHTML = "{http://www.w3.org/1999/xhtml}"
SLACK_PX = 1.5  # rounding of polygons to 0.1 px and of the writer's numbers


def pdftotext(pdf: Path, *args: str) -> str:
    out = subprocess.run(["pdftotext", *args, str(pdf), "-"], capture_output=True, timeout=60)
    assert out.returncode == 0, out.stderr.decode()
    return out.stdout.decode()


def words_per_line(text: str) -> list[list[str]]:
    return [ln.split() for ln in text.splitlines() if ln.split()]


def check_searchable_pdf(pdf: Path, doc: dict[str, Any]) -> None:
    """pdftotext (content order) gives our text word for word, page for page, and breaks lines
    only where one of our lines ends (lines of one visual row it may join, as our text does
    or not); ``-bbox`` puts each word inside its polygon's box."""
    pages = pages_of(doc)
    extracted = pdftotext(pdf, "-raw").split("\f")
    for page, text in zip(pages, extracted, strict=False):
        theirs = words_per_line(text)
        ours = [ln["text"].split() for ln in page["lines"]]
        assert [w for ln in theirs for w in ln] == [w for ln in ours for w in ln]
        assert _breaks(theirs) <= _breaks(ours)
    _check_word_boxes(pdf, pages)


def _breaks(lines: list[list[str]]) -> set[int]:
    """Indices, in the page's word sequence, of the words that start a line."""
    starts, at = set(), 0
    for line in lines:
        starts.add(at)
        at += len(line)
    return starts


def _check_word_boxes(pdf: Path, pages: list[dict[str, Any]]) -> None:
    tree = etree.fromstring(pdftotext(pdf, "-bbox").encode())
    found = tree.findall(f".//{XHTML}page")
    assert len(found) == len(pages)
    for page_el, page in zip(found, pages, strict=True):
        scale = page["image"]["width"] / float(page_el.get("width"))
        ours = [w for ln in page["lines"] for w in ln["words"]]
        theirs = page_el.findall(f"{XHTML}word")  # in poppler's reading order, not ours
        assert sorted(w.text for w in theirs) == sorted(w["text"] for w in ours)
        for el in theirs:
            boxes = [w["polygon"] for w in ours if w["text"] == el.text]
            assert any(_inside(el, polygon, scale) for polygon in boxes), el.text


def _inside(el: Any, polygon: list[list[float]], scale: float) -> bool:
    xs, ys = [p[0] for p in polygon], [p[1] for p in polygon]
    x0, y0 = float(el.get("xMin")) * scale, float(el.get("yMin")) * scale
    x1, y1 = float(el.get("xMax")) * scale, float(el.get("yMax")) * scale
    across = min(xs) - SLACK_PX <= x0 < x1 <= max(xs) + SLACK_PX
    return across and min(ys) - SLACK_PX <= y0 < y1 <= max(ys) + SLACK_PX


def check_hocr(data: bytes, doc: dict[str, Any]) -> None:
    root = etree.fromstring(data)
    assert root.tag == f"{XHTML}html"
    capabilities = root.find(f".//{XHTML}meta[@name='ocr-capabilities']").get("content")
    assert {"ocr_page", "ocr_line", "ocrx_word"} <= set(capabilities.split())
    pages = root.findall(f".//{XHTML}div[@class='ocr_page']")
    assert len(pages) == len(pages_of(doc))
    for page_el, page in zip(pages, pages_of(doc), strict=True):
        size = page["image"]
        assert page_el.get("title").startswith(f"bbox 0 0 {size['width']} {size['height']}")
        lines = page_el.findall(f".//{XHTML}span[@class='ocr_line']")
        assert len(lines) == len(page["lines"])
        for line_el, line in zip(lines, page["lines"], strict=True):
            words = line_el.findall(f"{XHTML}span[@class='ocrx_word']")
            assert " ".join(w.text for w in words).split() == line["text"].split()
            assert all("bbox " in w.get("title") and "x_wconf " in w.get("title") for w in words)


def check_alto(data: bytes, doc: dict[str, Any]) -> None:
    root = etree.fromstring(data)
    assert root.tag == f"{ALTO}alto"
    assert root.findtext(f"{ALTO}Description/{ALTO}MeasurementUnit") == "pixel"
    pages = root.findall(f"{ALTO}Layout/{ALTO}Page")
    assert len(pages) == len(pages_of(doc))
    for page_el, page in zip(pages, pages_of(doc), strict=True):
        assert page_el.get("WIDTH") == str(page["image"]["width"])
        lines = page_el.findall(f"{ALTO}PrintSpace/{ALTO}TextBlock/{ALTO}TextLine")
        assert len(lines) == len(page["lines"])
        for line_el, line in zip(lines, page["lines"], strict=True):
            strings = line_el.findall(f"{ALTO}String")
            assert [s.get("CONTENT") for s in strings] == line["text"].split()
            for s in strings:
                assert all(int(s.get(k)) >= 0 for k in ("HPOS", "VPOS", "WIDTH", "HEIGHT"))
                assert 0 <= float(s.get("WC")) <= 1
