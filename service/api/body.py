"""Request bodies -> (image bytes, options). Three ways in, one result:

- ``multipart/form-data``: file field(s) ``file`` (batch: ``file`` or ``files``, repeated) and an
  optional ``options`` field holding the options as JSON;
- ``application/json``: ``{"image": "<base64>", "options": {...}}`` (batch: ``"images": [...]``);
- a raw image body (``image/*`` or ``application/octet-stream``), options as query parameters.

Query parameters set options for every form; options in the body win. Images are never fetched
from a URL. Size limits are enforced while the body streams in (api/middleware.py).
"""

from __future__ import annotations

import base64
import binascii
import json
from typing import Any

from pydantic import BaseModel, ValidationError
from starlette.datastructures import UploadFile
from starlette.exceptions import HTTPException
from starlette.formparsers import MultiPartException
from starlette.requests import Request

from service.api.errors import InvalidRequest, TooManyImages
from service.api.schemas import BatchJsonRequest, OcrJsonRequest, OcrOptionsIn
from service.ocr.errors import UnsupportedMediaType

RAW_TYPES = ("image/", "application/octet-stream")


async def read_request(
    request: Request, batch: bool, max_images: int
) -> tuple[list[bytes], OcrOptionsIn]:
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
            f"content type {shown!r}: send multipart/form-data, application/json or an image body"
        )
    return images, _options({**query, **body_opts})


def _options(raw: dict[str, Any]) -> OcrOptionsIn:
    try:
        return OcrOptionsIn.model_validate(raw, strict=False)
    except ValidationError as exc:
        raise InvalidRequest(f"bad options: {_first(exc)}") from exc


async def _multipart(
    request: Request, batch: bool, max_images: int
) -> tuple[list[bytes], dict[str, Any]]:
    try:
        form = await request.form(max_files=max_images + 1, max_fields=8)
    except (MultiPartException, HTTPException) as exc:
        raise InvalidRequest(f"bad multipart body: {getattr(exc, 'detail', exc)}") from exc
    unknown = set(form.keys()) - {"file", "files", "options"}
    if unknown:
        raise InvalidRequest(f"unknown form fields {sorted(unknown)}; expected file and options")
    uploads = [*form.getlist("file"), *form.getlist("files")]
    if not all(isinstance(u, UploadFile) for u in uploads):
        raise InvalidRequest("the file field must be a file upload")
    _check_count(len(uploads), batch, max_images, "file")
    images = [await u.read() for u in uploads if isinstance(u, UploadFile)]
    raw = form.get("options")
    opts: dict[str, Any] = {}
    if raw is not None:
        if not isinstance(raw, str):
            raise InvalidRequest("the options field must be a JSON object, not a file")
        opts = _json_object(raw, "options field")
    return images, opts


async def _json(
    request: Request, batch: bool, max_images: int
) -> tuple[list[bytes], dict[str, Any]]:
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
    try:
        doc = json.loads(raw)
    except (ValueError, UnicodeDecodeError) as exc:
        raise InvalidRequest(f"{what} is not valid JSON: {exc}") from exc
    if not isinstance(doc, dict):
        raise InvalidRequest(f"{what} must be a JSON object")
    return doc


def _b64(data: str, index: int) -> bytes:
    if data.startswith("data:"):  # tolerate a data URL's "data:image/png;base64," prefix
        data = data.split(",", 1)[-1]
    try:
        return base64.b64decode(data, validate=True)
    except (binascii.Error, ValueError) as exc:
        raise InvalidRequest(f"image {index} is not valid base64: {exc}") from exc


def _first(exc: ValidationError) -> str:
    err = exc.errors()[0]
    where = ".".join(str(p) for p in err.get("loc", ())) or "body"
    return f"{where}: {err.get('msg', 'invalid')}"
