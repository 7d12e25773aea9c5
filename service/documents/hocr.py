"""A result document -> hOCR 1.2 (XHTML): ``ocr_page`` > ``ocr_carea`` > ``ocr_par`` >
``ocr_line`` > ``ocrx_word``, each with ``bbox`` in page pixels, words with ``x_wconf``.

One text area and paragraph per page: the reading flow finds lines, not blocks. Words are the
recogniser's word boxes, separated by spaces, so the text of the hOCR reads like ``text``.
"""

from __future__ import annotations

import xml.etree.ElementTree as ET
from typing import Any

from service import __version__
from service.documents.boxes import Box, box, confidence, union, words
from service.documents.document import pages_of

XHTML = "http://www.w3.org/1999/xhtml"
CAPABILITIES = "ocr_page ocr_carea ocr_par ocr_line ocrx_word"


def hocr(doc: dict[str, Any]) -> bytes:
    html = ET.Element("html", {"xmlns": XHTML, "xml:lang": "und", "lang": "und"})
    _head(ET.SubElement(html, "head"))
    body = ET.SubElement(html, "body")
    for page in pages_of(doc):
        _page(body, page)
    head = b'<?xml version="1.0" encoding="UTF-8"?>\n<!DOCTYPE html>\n'
    return head + ET.tostring(html, encoding="utf-8", xml_declaration=False) + b"\n"


def _head(head: ET.Element) -> None:
    ET.SubElement(head, "title").text = "OCR result"
    meta = {"http-equiv": "Content-Type", "content": "text/html; charset=utf-8"}
    ET.SubElement(head, "meta", meta)
    ET.SubElement(head, "meta", {"name": "ocr-system", "content": f"ocr-service {__version__}"})
    ET.SubElement(head, "meta", {"name": "ocr-capabilities", "content": CAPABILITIES})


def _title(b: Box, extra: str = "") -> str:
    return f"bbox {b.x0} {b.y0} {b.x1} {b.y1}{extra}"


def _page(body: ET.Element, page: dict[str, Any]) -> None:
    n = page["page"]
    size = Box(0, 0, page["image"]["width"], page["image"]["height"])
    attrs = {"class": "ocr_page", "id": f"page_{n}", "title": _title(size, f"; ppageno {n - 1}")}
    div = ET.SubElement(body, "div", attrs)
    lines = page["lines"]
    if not lines:
        return
    area = union([box(ln["polygon"]) for ln in lines])
    carea = ET.SubElement(
        div, "div", {"class": "ocr_carea", "id": f"block_{n}_1", "title": _title(area)}
    )
    par = ET.SubElement(carea, "p", {"class": "ocr_par", "id": f"par_{n}_1", "title": _title(area)})
    for i, line in enumerate(lines, 1):
        _line(par, line, f"{n}_{i}")


def _line(par: ET.Element, line: dict[str, Any], ident: str) -> None:
    attrs = {"class": "ocr_line", "id": f"line_{ident}", "title": _title(box(line["polygon"]))}
    span = ET.SubElement(par, "span", attrs)
    conf = confidence(line)
    word: ET.Element | None = None
    for j, w in enumerate(words(line), 1):
        if word is not None:
            word.tail = " "
        title = _title(box(w["polygon"]), f"; x_wconf {conf}")
        word = ET.SubElement(
            span, "span", {"class": "ocrx_word", "id": f"word_{ident}_{j}", "title": title}
        )
        word.text = w["text"]
    span.tail = "\n"
