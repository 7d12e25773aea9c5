"""Request bodies a hostile or careless client sends, shared by the in-process contract tests
(tests/unit/test_api_hostile.py) and the suite against a real server (tests/hostile/)."""

from __future__ import annotations

import base64
import io
import re
import struct

from PIL import Image as PILImage

DEEP_JSON = "[" * 2048  # 2 KB that makes a recursive parser blow its stack
SVG = b'<?xml version="1.0"?><svg xmlns="http://www.w3.org/2000/svg"><text>hi</text></svg>'
PDF = b"%PDF-1.7\n1 0 obj <<>> endobj\n"  # a PDF is read (issue 12); this one is broken: 422
TEXT = "plain text, not pixels — ünïcode too\n".encode()
NOT_IMAGES = {"svg": SVG, "text": TEXT}
# what an error message must never show a client
INTERNALS = re.compile(r"object at 0x|Traceback|File \"/")


def b64(data: bytes) -> str:
    return base64.b64encode(data).decode()


def bmp_with_width_zero() -> bytes:
    """A BMP whose header says width 0: Pillow's error quoted its stream object's repr."""
    buf = io.BytesIO()
    PILImage.new("RGB", (4, 4)).save(buf, "BMP")
    data = bytearray(buf.getvalue())
    data[18:22] = struct.pack("<i", 0)  # BITMAPINFOHEADER biWidth
    return bytes(data)


def sent_as(how: str, data: bytes) -> dict[str, object]:
    """httpx keyword arguments sending ``data`` to /v1/ocr as a raw body, a multipart file or
    base64 in JSON (each claiming to be a PNG)."""
    if how == "raw":
        return {"content": data, "headers": {"content-type": "image/png"}}
    if how == "multipart":
        return {"files": {"file": ("x.png", data, "image/png")}}
    return {"json": {"image": b64(data)}}
