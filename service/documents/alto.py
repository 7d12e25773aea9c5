"""A result document -> ALTO v4 XML: ``Page`` > ``PrintSpace`` > ``TextBlock`` > ``TextLine`` >
``String`` (with ``SP`` between words), positions in pixels (``HPOS/VPOS/WIDTH/HEIGHT``) and
word confidence ``WC`` in [0, 1] (the line's score: words have none of their own).

One ``TextBlock`` per page: the reading flow finds lines, not blocks.
"""

from __future__ import annotations

import xml.etree.ElementTree as ET
from typing import Any

from service import __version__
from service.documents.boxes import Box, box, union, words
from service.documents.document import pages_of

ALTO_NS = "http://www.loc.gov/standards/alto/ns-v4#"
XSI_NS = "http://www.w3.org/2001/XMLSchema-instance"
SCHEMA = f"{ALTO_NS} http://www.loc.gov/alto/v4/alto-4-4.xsd"


def alto(doc: dict[str, Any]) -> bytes:
    root = ET.Element("alto", {"xmlns": ALTO_NS, "xmlns:xsi": XSI_NS, "xsi:schemaLocation": SCHEMA})
    _description(ET.SubElement(root, "Description"))
    layout = ET.SubElement(root, "Layout")
    for page in pages_of(doc):
        _page(layout, page)
    return ET.tostring(root, encoding="utf-8", xml_declaration=True) + b"\n"


def _description(desc: ET.Element) -> None:
    ET.SubElement(desc, "MeasurementUnit").text = "pixel"
    ET.SubElement(desc, "sourceImageInformation")
    step = ET.SubElement(ET.SubElement(desc, "OCRProcessing", ID="OCR_0"), "ocrProcessingStep")
    software = ET.SubElement(step, "processingSoftware")
    ET.SubElement(software, "softwareName").text = "ocr-service"
    ET.SubElement(software, "softwareVersion").text = __version__


def _position(b: Box) -> dict[str, str]:
    return {"HPOS": str(b.x0), "VPOS": str(b.y0), "WIDTH": str(b.width), "HEIGHT": str(b.height)}


def _page(layout: ET.Element, page: dict[str, Any]) -> None:
    n, size = page["page"], page["image"]
    width, height = str(size["width"]), str(size["height"])
    attrs = {"ID": f"page_{n}", "PHYSICAL_IMG_NR": str(n), "WIDTH": width, "HEIGHT": height}
    el = ET.SubElement(layout, "Page", attrs)
    space = ET.SubElement(el, "PrintSpace", _position(Box(0, 0, size["width"], size["height"])))
    lines = page["lines"]
    if not lines:
        return
    area = union([box(ln["polygon"]) for ln in lines])
    block = ET.SubElement(space, "TextBlock", {"ID": f"block_{n}_1", **_position(area)})
    for i, line in enumerate(lines, 1):
        _line(block, line, f"{n}_{i}")


def _line(block: ET.Element, line: dict[str, Any], ident: str) -> None:
    where = _position(box(line["polygon"]))
    el = ET.SubElement(block, "TextLine", {"ID": f"line_{ident}", **where})
    score = f"{min(1.0, max(0.0, float(line['score']))):.4f}"
    for j, w in enumerate(words(line), 1):
        if j > 1:
            ET.SubElement(el, "SP")
        attrs = {"ID": f"string_{ident}_{j}", **_position(box(w["polygon"]))}
        ET.SubElement(el, "String", {**attrs, "CONTENT": w["text"], "WC": score})
