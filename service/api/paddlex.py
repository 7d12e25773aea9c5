"""POST /ocr: the PaddleX basic-serving protocol of the OCR pipeline, so that clients written
for PaddleOCR's own server work unchanged against this one.

Request fields map onto our options (``useTextlineOrientation`` -> use_cls, ``textDet*`` ->
det_*, ``textRecScoreThresh`` -> drop_score, ``returnWordBox`` -> word_boxes); the image goes
through the very same path as /v1/ocr (admission, cache, batchers). The response is PaddleX's
``{"logId", "errorCode": 0, "errorMsg": "Success", "result": {"ocrResults": [{"prunedResult":
...}], "dataInfo": ...}}`` with ``prunedResult`` in PaddleX's key names (``rec_texts``,
``rec_scores``, ``rec_polys``, ``rec_boxes``, ``dt_polys``, ...); errors are in the protocol's
shape (api/errors.py). ``file`` is base64; a URL only under OCR_PADDLEX_FILE_URL_ALLOW. A PDF
(``fileType`` 0, or a file whose bytes say PDF) is read like a PDF on /v1/ocr (the server's
dpi, every page up to OCR_MAX_PDF_PAGES): one ``ocrResults`` entry per page, ``dataInfo`` the
protocol's PDFInfo.
Document orientation and unwarping models are not part of this service: asking for them is a
422, not a silent no.
"""

from __future__ import annotations

import base64
import binascii
import json
from typing import Any

import cv2
import httpx
import numpy as np
from fastapi import APIRouter, Request
from fastapi.responses import Response
from pydantic import ValidationError

from service.allowlist import UrlAllowList
from service.api.access import tenant_of
from service.api.body import json_depth
from service.api.errors import InvalidRequest
from service.api.schemas import OcrOptionsIn, PaddleXOcrRequest, PaddleXResponse
from service.documents.document import pages_of
from service.documents.errors import InvalidPdf
from service.documents.pdf import PdfSource
from service.logs import request_id
from service.ocr.decode import decode_image, sniff_format
from service.ocr.errors import PayloadTooLarge, UnsupportedMediaType
from service.ocr.types import OcrOptions
from service.runtime.runtime import Runtime

router = APIRouter()

MAX_JSON_DEPTH = 16
FETCH_TIMEOUT_S = 10.0
JPEG_QUALITY = 85
_OPTION_NAMES = {
    "useTextlineOrientation": "use_cls",
    "textDetLimitSideLen": "det_limit_side_len",
    "textDetLimitType": "det_limit_type",
    "textDetThresh": "det_thresh",
    "textDetBoxThresh": "det_box_thresh",
    "textDetUnclipRatio": "det_unclip_ratio",
    "textRecScoreThresh": "drop_score",
    "returnWordBox": "word_boxes",
}


@router.post(
    "/ocr",
    response_model=PaddleXResponse,
    openapi_extra={
        "requestBody": {
            "required": True,
            "content": {
                "application/json": {"schema": {"$ref": "#/components/schemas/PaddleXOcrRequest"}}
            },
        }
    },
    summary="PaddleX serving protocol (OCR pipeline): for PaddleOCR serving clients",
)
async def paddlex_ocr(request: Request) -> Response:
    rt: Runtime = request.app.state.runtime
    req = _parse(await request.body())
    options = _options(req).to_options(rt.options)
    data = await _file(req, rt)
    pdf = rt.pdf_options if _is_pdf(req, data) else None
    tenant = tenant_of(request)
    visualize = req.visualize is not False  # PaddleX serves images unless told not to
    with rt.admit(1):
        answer = await rt.ocr(data, None, options, tenant, pdf)
        pages = pages_of(answer.doc)
        with rt.holding(visual_bytes(pages) if visualize else 0):
            images = await rt.on_cpu(_images, data, pages, rt, visualize)
    results = [
        {"prunedResult": pruned_result(page, options), **image}
        for page, image in zip(pages, images, strict=True)
    ]
    body = {
        "logId": req.logId or request_id.get(),
        "errorCode": 0,
        "errorMsg": "Success",
        "result": {"ocrResults": results, "dataInfo": _data_info(pages, pdf is not None)},
    }
    return Response(json.dumps(body, ensure_ascii=False), media_type="application/json")


def _parse(raw: bytes) -> PaddleXOcrRequest:
    if json_depth(raw) > MAX_JSON_DEPTH:
        raise InvalidRequest(f"JSON body is nested deeper than {MAX_JSON_DEPTH} levels")
    try:
        return PaddleXOcrRequest.model_validate_json(raw)
    except ValidationError as exc:
        err = exc.errors()[0]
        where = ".".join(str(p) for p in err.get("loc", ())) or "body"
        raise InvalidRequest(f"{where}: {err.get('msg', 'invalid')}") from exc


def _options(req: PaddleXOcrRequest) -> OcrOptionsIn:
    if req.useDocOrientationClassify or req.useDocUnwarping:
        raise InvalidRequest("document orientation and unwarping are not served here")
    given = req.model_dump(include=set(_OPTION_NAMES), exclude_none=True)
    try:
        return OcrOptionsIn.model_validate({_OPTION_NAMES[k]: v for k, v in given.items()})
    except ValidationError as exc:
        err = exc.errors()[0]
        raise InvalidRequest(f"bad option: {err.get('loc')}: {err.get('msg')}") from exc


async def _file(req: PaddleXOcrRequest, rt: Runtime) -> bytes:
    if req.file.startswith(("http://", "https://")):
        return await _fetch(req.file, rt.settings.paddlex_file_url_allow, rt.limits.max_bytes)
    try:
        return base64.b64decode(req.file, validate=True)
    except (binascii.Error, ValueError) as exc:
        raise InvalidRequest(f"file is neither base64 nor an allowed URL: {exc}") from exc


async def _fetch(url: str, allow: str, max_bytes: int) -> bytes:
    """A file from an allow-listed URL: no redirects, bounded in time and size."""
    if not UrlAllowList(allow).allows(url):
        raise InvalidRequest(
            "file URL not allowed: this server fetches only OCR_PADDLEX_FILE_URL_ALLOW"
        )
    chunks, size = [], 0
    try:
        client = httpx.AsyncClient(timeout=FETCH_TIMEOUT_S, follow_redirects=False)
        async with client, client.stream("GET", url) as resp:
            resp.raise_for_status()
            async for chunk in resp.aiter_bytes():
                size += len(chunk)
                if size > max_bytes:
                    raise PayloadTooLarge(f"the file at the URL is over {max_bytes} bytes")
                chunks.append(chunk)
    except httpx.HTTPError as exc:
        raise InvalidRequest(f"file URL could not be fetched: {type(exc).__name__}") from exc
    return b"".join(chunks)


def _is_pdf(req: PaddleXOcrRequest, data: bytes) -> bool:
    """What the file is comes from its bytes; ``fileType`` 0 must then be a PDF."""
    is_pdf = sniff_format(data) == "PDF"
    if req.fileType == 0 and not is_pdf:
        raise InvalidPdf("fileType is 0 (PDF) but the file is not a PDF")
    return is_pdf


def _box(poly: list[list[float]]) -> list[int]:
    xs, ys = [p[0] for p in poly], [p[1] for p in poly]
    return [int(min(xs)), int(min(ys)), int(max(xs)), int(max(ys))]


def _ints(poly: list[list[float]]) -> list[list[int]]:
    return [[round(x), round(y)] for x, y in poly]


def pruned_result(page: dict[str, Any], options: OcrOptions) -> dict[str, Any]:
    """One page of our document in PaddleX's ``prunedResult`` key names (OCRResult.json,
    input path and page index pruned)."""
    lines = page["lines"]
    polys = [_ints(ln["polygon"]) for ln in lines]
    angles = [int(ln["angle"] == 180) if options.use_cls else -1 for ln in lines]
    det = options.det
    result: dict[str, Any] = {
        "model_settings": {
            "use_doc_preprocessor": False,
            "use_textline_orientation": options.use_cls,
        },
        "dt_polys": polys,
        "text_det_params": {
            "limit_side_len": det.limit_side_len,
            "limit_type": det.limit_type,
            "thresh": det.thresh,
            "box_thresh": det.box_thresh,
            "unclip_ratio": det.unclip_ratio,
        },
        "text_type": "general",
        "textline_orientation_angles": angles,
        "text_rec_score_thresh": options.drop_score,
        "return_word_box": options.word_boxes,
        "rec_texts": [ln["text"] for ln in lines],
        "rec_scores": [ln["score"] for ln in lines],
        "rec_polys": polys,
        "rec_boxes": [_box(ln["polygon"]) for ln in lines],
    }
    if options.word_boxes:
        result["text_word"] = [[w["text"] for w in ln["words"] or []] for ln in lines]
        result["text_word_boxes"] = [
            [_box(w["polygon"]) for w in ln["words"] or []] for ln in lines
        ]
    return result


def _data_info(pages: list[dict[str, Any]], pdf: bool) -> dict[str, Any]:
    sizes = [{"width": p["image"]["width"], "height": p["image"]["height"]} for p in pages]
    if pdf:
        return {"numPages": len(pages), "pages": sizes, "type": "pdf"}
    return {**sizes[0], "type": "image"}


# Drawing one page holds its pixels three times (BGR, the drawn copy, the decoder's or PDFium's
# buffer at up to 4 bytes a pixel) plus two JPEGs: ~12 bytes per pixel of the largest page.
VISUAL_BYTES_PER_PIXEL = 12


def visual_bytes(pages: list[dict[str, Any]]) -> int:
    """Memory the visualisation holds: pages are drawn one at a time, so the largest counts."""
    return VISUAL_BYTES_PER_PIXEL * max(
        (p["image"]["width"] * p["image"]["height"] for p in pages), default=0
    )


def _images(
    data: bytes, pages: list[dict[str, Any]], rt: Runtime, visualize: bool
) -> list[dict[str, str | None]]:
    """PaddleX's visualisation per page: the input (a PDF's page rendered again) and the
    detected lines drawn on it, base64 JPEG."""
    if not visualize:
        return [dict.fromkeys(_IMAGE_KEYS) for _ in pages]
    if sniff_format(data) != "PDF":
        return [_drawn(decode_image(data, rt.limits).pixels, pages[0])]
    source = PdfSource.open(data, rt.pdf_options, rt.pdf_limits)
    try:
        by_number = {p.number: p for p in source.pages}
        return [_drawn(source.render(by_number[p["page"]]).pixels, p) for p in pages]
    finally:
        source.close()


_IMAGE_KEYS = ("ocrImage", "docPreprocessingImage", "inputImage")


def _drawn(pixels: np.ndarray, page: dict[str, Any]) -> dict[str, str | None]:
    drawn = pixels.copy()
    for ln in page["lines"]:
        cv2.polylines(drawn, [np.array(_ints(ln["polygon"]), np.int32)], True, (0, 200, 0), 2)
    return {"ocrImage": _jpeg(drawn), "docPreprocessingImage": None, "inputImage": _jpeg(pixels)}


def _jpeg(pixels: np.ndarray) -> str:
    ok, buf = cv2.imencode(".jpg", pixels, [cv2.IMWRITE_JPEG_QUALITY, JPEG_QUALITY])
    if not ok:
        raise UnsupportedMediaType("could not encode the visualisation")
    return base64.b64encode(buf.tobytes()).decode("ascii")
