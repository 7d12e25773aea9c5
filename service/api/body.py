"""Request bodies -> (image or PDF bytes, options). Three ways in, one result:

- ``multipart/form-data``: file field(s) ``file`` (batch: ``file`` or ``files``, repeated) and an
  optional ``options`` field holding the options as JSON;
- ``application/json``: ``{"image": "<base64>", "options": {...}}`` (batch: ``"images": [...]``;
  a PDF goes in the same field, also as a ``data:application/pdf;base64,`` URL);
- a raw body (``image/*``, ``application/pdf`` or ``application/octet-stream``), options as query
  parameters.

Query parameters set options for every form; options in the body win. Images are never fetched
from a URL. Size limits are enforced while the body streams in (api/middleware.py).

Hostile input (issue 16): JSON nested deeper than ``MAX_JSON_DEPTH`` is refused before it is
parsed (the parser recurses); text and markup (SVG, HTML, XML) are refused as not images
(415) however they arrive (a PDF is read: what a body is comes from its bytes, not its label);
in a batch, an item that is not valid base64 or not an image fails on its own and the others
are read.
"""

from __future__ import annotations

import base64
import binascii
import codecs
import json
import re
from typing import Any

import numpy as np
from pydantic import BaseModel, ValidationError
from starlette.datastructures import UploadFile
from starlette.exceptions import HTTPException
from starlette.formparsers import MultiPartException
from starlette.requests import Request

from service.api.errors import InvalidRequest, TooManyImages
from service.api.schemas import BatchJsonRequest, OcrJsonRequest, OcrOptionsIn
from service.ocr.decode import sniff_format
from service.ocr.errors import OcrError, UnsupportedMediaType

RAW_TYPES = ("image/", "application/pdf", "application/octet-stream")
MAX_JSON_DEPTH = 64
TEXT_SNIFF_BYTES = 1024
Item = bytes | OcrError  # one image's bytes, or why it cannot be read (batches go on without it)


async def read_request(
    request: Request, batch: bool, max_images: int
) -> tuple[list[Item], OcrOptionsIn]:
    """The images (each one's bytes, or why it cannot be read) and the options."""
    ctype = request.headers.get("content-type", "").split(";")[0].strip().lower()
    query = dict(request.query_params)
    if ctype == "multipart/form-data":
        images, body_opts = await _multipart(request, batch, max_images)
    elif ctype == "application/json" or ctype.endswith("+json"):
        images, body_opts = await _json(request, batch, max_images)
    elif ctype.startswith(RAW_TYPES):
        images, body_opts = [await request.body()], {}
    else:
        shown = ctype or "none"
        raise UnsupportedMediaType(
            f"content type {shown!r}: send multipart/form-data, application/json, "
            "an image or a PDF body"
        )
    return [_screen(i) for i in images], _options({**query, **body_opts})


def only(items: list[Item]) -> bytes:
    """The one image of a single-image request (its error raised)."""
    if isinstance(items[0], OcrError):
        raise items[0]
    return items[0]


def _screen(item: Item) -> Item:
    """Text and markup are not images, whichever way they were sent: 415."""
    if isinstance(item, OcrError):
        return item
    if sniff_format(item) is None and item and _is_text(item[:TEXT_SNIFF_BYTES]):
        return UnsupportedMediaType(
            "text or markup (SVG, HTML, XML) is not an image: "
            "send JPEG, PNG, WebP, BMP, TIFF, GIF or PDF"
        )
    return item


_CONTROL = re.compile(r"[\x00-\x08\x0b\x0e-\x1f\x7f]")


def _is_text(head: bytes) -> bool:
    """UTF-8 without control characters (a character cut at the end of ``head`` is fine)."""
    try:
        text = codecs.getincrementaldecoder("utf-8")().decode(head, final=False)
    except UnicodeDecodeError:
        return False
    return _CONTROL.search(text) is None


def _options(raw: dict[str, Any]) -> OcrOptionsIn:
    try:
        return OcrOptionsIn.model_validate(raw, strict=False)
    except ValidationError as exc:
        raise InvalidRequest(f"bad options: {_first(exc)}") from exc


async def _multipart(
    request: Request, batch: bool, max_images: int
) -> tuple[list[Item], dict[str, Any]]:
    try:
        form = await request.form(max_files=max_images + 1, max_fields=8)
    except (MultiPartException, HTTPException) as exc:
        detail = str(getattr(exc, "detail", exc))
        if detail.startswith("Too many files"):
            raise TooManyImages(
                f"more than {max_images + 1} files in one call; the limit is {max_images}"
            ) from exc
        raise InvalidRequest(f"bad multipart body: {detail}") from exc
    unknown = set(form.keys()) - {"file", "files", "options"}
    if unknown:
        raise InvalidRequest(f"unknown form fields {sorted(unknown)}; expected file and options")
    uploads = [*form.getlist("file"), *form.getlist("files")]
    if not all(isinstance(u, UploadFile) for u in uploads):
        raise InvalidRequest("the file field must be a file upload")
    _check_count(len(uploads), batch, max_images, "file")
    images: list[Item] = [await u.read() for u in uploads if isinstance(u, UploadFile)]
    raw = form.get("options")
    opts: dict[str, Any] = {}
    if raw is not None:
        if not isinstance(raw, str):
            raise InvalidRequest("the options field must be a JSON object, not a file")
        opts = _json_object(raw, "options field")
    return images, opts


async def _json(
    request: Request, batch: bool, max_images: int
) -> tuple[list[Item], dict[str, Any]]:
    doc = _json_object(await request.body(), "JSON body")
    model: type[BaseModel] = BatchJsonRequest if batch else OcrJsonRequest
    if batch and isinstance(doc.get("images"), list):
        _check_count(len(doc["images"]), batch, max_images, "images")
    try:
        parsed = model.model_validate(doc)
    except ValidationError as exc:
        raise InvalidRequest(f"bad JSON body: {_first(exc)}") from exc
    encoded = parsed.images if isinstance(parsed, BatchJsonRequest) else [parsed.image]  # type: ignore[attr-defined]
    images = [_b64(s, i) for i, s in enumerate(encoded)]
    return images, parsed.options.model_dump(exclude_unset=True)  # type: ignore[attr-defined]


def _check_count(n: int, batch: bool, max_images: int, field: str) -> None:
    if n == 0:
        raise InvalidRequest(f"no image: send the image in the {field!r} field")
    if not batch and n > 1:
        raise TooManyImages(f"{n} images sent to /v1/ocr; use /v1/ocr/batch for several")
    if n > max_images:
        raise TooManyImages(f"{n} images in one call; the limit is {max_images}")


def _json_object(raw: str | bytes, what: str) -> dict[str, Any]:
    if json_depth(raw) > MAX_JSON_DEPTH:
        raise InvalidRequest(f"{what} is nested deeper than {MAX_JSON_DEPTH} levels")
    try:
        doc = json.loads(raw)
    except (ValueError, UnicodeDecodeError, RecursionError) as exc:
        raise InvalidRequest(f"{what} is not valid JSON: {exc}") from exc
    if not isinstance(doc, dict):
        raise InvalidRequest(f"{what} must be a JSON object")
    return doc


_NOT_STRUCTURE = bytes(b for b in range(256) if b not in b'[]{}"\\')
_ESCAPE = re.compile(rb"\\.", re.DOTALL)
_STRING = re.compile(rb'"[^"]*"')
_DEPTH_CHUNK = 1 << 20


def json_depth(raw: str | bytes) -> int:
    """How deep a JSON document nests, in linear time and without recursion: keep only brackets,
    quotes and backslashes, drop escapes, then strings, and count (exact for valid JSON)."""
    data = raw.encode("utf-8", "replace") if isinstance(raw, str) else raw
    kept = _STRING.sub(b"", _ESCAPE.sub(b"", data.translate(None, _NOT_STRUCTURE)))
    depth = peak = 0
    for start in range(0, len(kept), _DEPTH_CHUNK):  # bounded memory for megabytes of "["
        codes = np.frombuffer(kept[start : start + _DEPTH_CHUNK], np.uint8)
        opens = (codes == ord("[")) | (codes == ord("{"))
        closes = (codes == ord("]")) | (codes == ord("}"))
        running = depth + np.cumsum(opens.astype(np.int32) - closes)
        peak, depth = max(peak, int(running.max())), int(running[-1])
    return peak


def _b64(data: str, index: int) -> Item:
    if data.startswith("data:"):  # tolerate a data URL's "data:image/png;base64," prefix
        data = data.split(",", 1)[-1]
    try:
        return base64.b64decode(data, validate=True)
    except (binascii.Error, ValueError) as exc:
        return InvalidRequest(f"image {index} is not valid base64: {exc}")


def _first(exc: ValidationError) -> str:
    err = exc.errors()[0]
    where = ".".join(str(p) for p in err.get("loc", ())) or "body"
    return f"{where}: {err.get('msg', 'invalid')}"
