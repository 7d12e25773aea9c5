"""The versioned API: POST /v1/ocr, POST /v1/ocr/batch, GET /v1/models."""

from __future__ import annotations

import asyncio
import json
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import Response

from service.api.access import tenant_of
from service.api.body import Item, only, read_request
from service.api.disconnect import ClientGone, unless_disconnected
from service.api.errors import STATUS, InvalidRequest, error_response, public_message
from service.api.schemas import (
    BatchItem,
    BatchJsonRequest,
    BatchResponse,
    ErrorDetail,
    ErrorResponse,
    ModelSetInfo,
    ModelsResponse,
    OcrJsonRequest,
    OcrOptionsIn,
    OcrResponse,
    PdfResponse,
)
from service.documents.formats import CONTENT_TYPES, render_document
from service.documents.options import PdfOptions
from service.logs import request_id
from service.ocr.errors import OcrError
from service.ocr.types import OcrOptions
from service.runtime.runtime import Answer, Runtime

router = APIRouter()

CLIENT_CLOSED = 499  # nginx's convention: nobody is left to read it


def _errors(*codes: str) -> dict[int | str, dict[str, Any]]:
    statuses = sorted({STATUS[c] for c in codes})
    return {s: {"model": ErrorResponse, "description": "Error (see error.code)"} for s in statuses}


def body_doc(json_model: type, batch: bool) -> dict[str, Any]:
    file_field = "files" if batch else "file"
    file_schema: dict[str, Any] = {"type": "string", "format": "binary"}
    props: dict[str, Any] = {
        file_field: {"type": "array", "items": file_schema} if batch else file_schema,
        "options": {"type": "string", "description": "OcrOptionsIn as a JSON string"},
    }
    return {
        "requestBody": {
            "required": True,
            "content": {
                "multipart/form-data": {
                    "schema": {"type": "object", "properties": props, "required": [file_field]}
                },
                "application/json": {
                    "schema": {"$ref": f"#/components/schemas/{json_model.__name__}"}
                },
                "image/*": {"schema": {"type": "string", "format": "binary"}},
                "application/pdf": {"schema": {"type": "string", "format": "binary"}},
            },
        }
    }


# format=json is the response model; the other formats answer with their own content type
_FORMAT_RESPONSES: dict[int | str, dict[str, Any]] = {
    200: {
        "description": "The result in the format asked for (format option).",
        "content": {ct: {} for f, ct in CONTENT_TYPES.items() if f != "json"},
    }
}


_ACCESS_ERRORS = ("UNAUTHENTICATED", "FORBIDDEN", "OVERLOADED")  # with OCR_API_KEYS
_OCR_ERRORS = (
    *_ACCESS_ERRORS,
    "INVALID_IMAGE",
    "INVALID_PDF",
    "PDF_ENCRYPTED",
    "TOO_MANY_PAGES",
    "IMAGE_TOO_LARGE",
    "INVALID_REQUEST",
    "IMAGE_QUALITY_POOR",
    "UNSUPPORTED_MEDIA_TYPE",
    "REQUEST_TIMEOUT",
    "PAYLOAD_TOO_LARGE",
    "NOT_READY",
    "TIMEOUT",
)


def _runtime(request: Request) -> Runtime:
    rt: Runtime = request.app.state.runtime
    return rt


@router.post(
    "/v1/ocr",
    response_model=OcrResponse | PdfResponse,
    responses={**_FORMAT_RESPONSES, **_errors(*_OCR_ERRORS)},
    openapi_extra=body_doc(OcrJsonRequest, batch=False),
    summary="OCR one image or PDF",
)
async def ocr(request: Request) -> Response:
    rt = _runtime(request)
    images, opts = await read_request(request, batch=False, max_images=1)
    data = only(images)
    options = opts.to_options(rt.options)
    pdf = opts.to_pdf_options(rt.pdf_options)
    with rt.admit(1):
        work = rt.ocr(data, opts.model_set, options, tenant_of(request), pdf)
        try:
            answer = await unless_disconnected(request, work)
        except ClientGone:
            return Response(status_code=CLIENT_CLOSED)
    _count(rt, answer)
    return await _render(rt, answer, opts, data)


@router.post(
    "/v1/ocr/batch",
    response_model=BatchResponse,
    responses=_errors(*_OCR_ERRORS, "TOO_MANY_IMAGES"),
    openapi_extra=body_doc(BatchJsonRequest, batch=True),
    summary="OCR several images or PDFs in one call (each succeeds or fails on its own)",
)
async def ocr_batch(request: Request) -> Response:
    rt = _runtime(request)
    images, opts = await read_request(request, batch=True, max_images=rt.settings.max_batch_images)
    if opts.format != "json":
        raise InvalidRequest(
            f"format={opts.format}: /v1/ocr/batch answers JSON; send one file to /v1/ocr for it"
        )
    options = opts.to_options(rt.options)
    pdf = opts.to_pdf_options(rt.pdf_options)
    rt.resolve(opts.model_set)  # an unknown set fails the call, not each item
    tenant = tenant_of(request)
    with rt.admit(sum(isinstance(i, bytes) for i in images)):
        work = asyncio.gather(
            *(_ocr_item(rt, i, opts.model_set, options, tenant, pdf) for i in images),
            return_exceptions=True,
        )
        try:
            answers = await unless_disconnected(request, work)
        except ClientGone:
            return Response(status_code=CLIENT_CLOSED)
    rid = request_id.get()
    items = [_batch_item(rt, i, a, rid) for i, a in enumerate(answers)]
    head = json.dumps({"request_id": rid}, ensure_ascii=False)[:-1].encode()
    body = head + b',"results":[' + b",".join(items) + b"]}"
    return Response(body, media_type="application/json")


async def _ocr_item(
    rt: Runtime,
    item: Item,
    model_set: str | None,
    options: OcrOptions,
    tenant: str,
    pdf: PdfOptions,
) -> Answer:
    if isinstance(item, OcrError):  # unreadable: fails alone
        raise item
    return await rt.ocr(item, model_set, options, tenant, pdf)


def _batch_item(rt: Runtime, index: int, a: Answer | BaseException, rid: str) -> bytes:
    if isinstance(a, Answer):
        _count(rt, a)
        return b'{"index":%d,"result":%s,"error":null}' % (index, a.response(rid))
    if isinstance(a, OcrError):
        rt.metrics.errors.labels(a.code).inc()
        error = ErrorDetail(code=a.code, message=public_message(a.message), request_id=rid)
        return BatchItem(index=index, error=error).model_dump_json().encode()
    raise a


@router.get(
    "/v1/models",
    response_model=ModelsResponse,
    responses=_errors(*_ACCESS_ERRORS),
    summary="Model sets and versions",
)
async def models(request: Request) -> ModelsResponse:
    rt = _runtime(request)
    sets = []
    for name, ms in sorted(rt.catalogue.sets.items()):
        served = rt.pipelines.get(name)
        sets.append(
            ModelSetInfo(
                name=name,
                version=ms.version,
                description=ms.description,
                languages=list(ms.languages),
                aliases=list(ms.aliases),
                licence=ms.licence,
                versions=ms.versions(),
                loaded=served is not None,
                default=name == rt.default_set,
                engine=served.pipeline.engine if served else None,
                engine_choice=(served.pipeline.engine_choice or None) if served else None,
            )
        )
    return ModelsResponse(default=rt.default_set, model_sets=sets)


def _count(rt: Runtime, a: Answer) -> None:
    version = rt.catalogue.get(a.model_set).version
    rt.metrics.images.labels(a.model_set, version, str(a.cached).lower()).inc()


async def _render(rt: Runtime, answer: Answer, opts: OcrOptionsIn, source: bytes) -> Response:
    """The result in the format asked for; the formats besides JSON render on the CPU pool."""
    if opts.format == "json":
        return Response(answer.response(request_id.get()), media_type="application/json")
    body = await rt.on_cpu(render_document, opts.format, answer.doc, source)
    return Response(body, media_type=CONTENT_TYPES[opts.format])


__all__ = ["error_response", "router"]
