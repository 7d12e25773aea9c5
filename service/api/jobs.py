"""The jobs API (issue 13): POST /v1/jobs, GET /v1/jobs/{id}, GET /v1/jobs/{id}/result,
DELETE /v1/jobs/{id}.

A job takes the inputs of /v1/ocr/batch (multipart ``file``/``files``, JSON ``images``, or one
raw body; the options as for /v1/ocr): each image is a page; an unreadable one fails alone.
Headers: ``Idempotency-Key`` (the same key and body return the same job; another body, 422),
``Callback-URL`` (posted to when the job finishes, only where OCR_JOB_CALLBACK_ALLOW allows).
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import re
from datetime import UTC, datetime
from typing import Annotated, Any

from fastapi import APIRouter, Query, Request
from fastapi.responses import JSONResponse, Response

from service.api.access import tenant_of
from service.api.body import read_request
from service.api.errors import STATUS, InvalidRequest, TooManyImages, public_message
from service.api.routes import body_doc
from service.api.schemas import (
    NOT_READING_OPTIONS,
    WORD_FORMATS,
    BatchJsonRequest,
    ErrorResponse,
    Format,
    JobOut,
    JobResultOut,
    OcrOptionsIn,
)
from service.documents.document import PAGE_BREAK
from service.documents.errors import TooManyPages
from service.documents.formats import CONTENT_TYPES, render_document
from service.documents.options import PdfOptions
from service.jobs.errors import JobNotFound
from service.jobs.jobs import Jobs, Submitted
from service.jobs.model import Job, JobSpec, Outcome, PageError
from service.jobs.source import Upload
from service.runtime.runtime import Runtime

router = APIRouter()

_JOB_ID = re.compile(r"^[0-9a-f]{32}$")
MAX_IDEMPOTENCY_KEY = 255


def _errors(*codes: str) -> dict[int | str, dict[str, Any]]:
    statuses = sorted({STATUS[c] for c in codes})
    return {s: {"model": ErrorResponse, "description": "Error (see error.code)"} for s in statuses}


def _jobs(request: Request) -> Jobs:
    jobs: Jobs = request.app.state.jobs
    return jobs


@router.post(
    "/v1/jobs",
    status_code=202,
    response_model=JobOut,
    responses=_errors("INVALID_REQUEST", "TOO_MANY_PAGES", "OVERLOADED", "IDEMPOTENCY_KEY_REUSED"),
    openapi_extra=body_doc(BatchJsonRequest, batch=True),
    summary="Submit images and PDFs (their pages) to read asynchronously",
)
async def submit(request: Request) -> Response:
    jobs = _jobs(request)
    uploads, opts = await _read(request, jobs.settings.job_max_pages)
    key = request.headers.get("idempotency-key", "")
    if len(key) > MAX_IDEMPOTENCY_KEY:
        raise InvalidRequest(f"Idempotency-Key is longer than {MAX_IDEMPOTENCY_KEY} characters")
    spec, pdf = _spec(request, opts), _pdf_options(request, opts)
    job = await jobs.submit(Submitted(uploads, spec, pdf, key, _digest(uploads, spec, pdf)))
    headers = {"Location": f"/v1/jobs/{job.id}", "Retry-After": str(jobs.poll_after(job))}
    return JSONResponse(_status_doc(job, []), 202, headers=headers)


@router.get(
    "/v1/jobs/{job_id}",
    response_model=JobOut,
    responses=_errors("JOB_NOT_FOUND"),
    summary="A job's status, progress and per-page errors",
)
async def status(request: Request, job_id: str) -> Response:
    jobs = _jobs(request)
    job, errors = await jobs.status(_checked(job_id))
    headers = {} if job.status.finished else {"Retry-After": str(jobs.poll_after(job))}
    return JSONResponse(_status_doc(job, errors), headers=headers)


@router.get(
    "/v1/jobs/{job_id}/result",
    response_model=JobResultOut,
    responses=_errors("JOB_NOT_FOUND", "JOB_NOT_FINISHED"),
    summary="A finished job's pages, page_from..page_to (at most OCR_JOB_RESULT_PAGES)",
)
async def result(
    request: Request,
    job_id: str,
    page_from: int = Query(1, ge=1),
    page_to: int | None = Query(None, ge=1),
    format: Annotated[Format, Query()] = "json",
) -> Response:
    jobs, job_id = _jobs(request), _checked(job_id)
    if format == "pdf":
        return await _searchable(request, jobs, job_id)
    span = jobs.settings.job_result_pages
    last = min(page_to or page_from + span - 1, page_from + span - 1)
    job, outcomes = await jobs.result(job_id, page_from, last)
    if format == "json":
        return _json_result(job, page_from, page_to, outcomes)
    doc = _document(job, page_from, outcomes, format)
    body = await _runtime(request).on_cpu(render_document, format, doc, b"")
    return Response(body, media_type=CONTENT_TYPES[format])


@router.delete(
    "/v1/jobs/{job_id}",
    response_model=JobOut,
    responses=_errors("JOB_NOT_FOUND"),
    summary="Cancel a job (its unread pages are dropped)",
)
async def cancel(request: Request, job_id: str) -> Response:
    jobs = _jobs(request)
    job = await jobs.cancel(_checked(job_id))
    _, errors = await jobs.status(job.id)
    return JSONResponse(_status_doc(job, errors))


async def _read(request: Request, max_pages: int) -> tuple[list[Upload], OcrOptionsIn]:
    """The uploads (each has at least one page: more files than pages are too many pages)."""
    try:
        return await read_request(request, batch=True, max_images=max_pages)
    except TooManyImages as exc:
        raise TooManyPages(f"more than {max_pages} pages in one job (OCR_JOB_MAX_PAGES)") from exc


def _json_result(
    job: Job, first: int, page_to: int | None, outcomes: list[Outcome | None]
) -> Response:
    """Pages ``first``.. as JSON, with where the next response starts (body and Link)."""
    end = min(page_to or job.pages_total, job.pages_total)
    last = first + len(outcomes) - 1
    following = last + 1 if last < end else None
    headers = {}
    if following is not None:
        headers["Link"] = f'</v1/jobs/{job.id}/result?page_from={following}>; rel="next"'
    body = _result_body(job, first, outcomes, following)
    return Response(body, media_type="application/json", headers=headers)


async def _searchable(request: Request, jobs: Jobs, job_id: str) -> Response:
    """The searchable PDF of a one-file job (all its pages: a PDF is one document)."""
    job = await jobs.get(job_id)
    original = await jobs.original(job_id)
    if original is None or job.spec.pdf_pages:
        raise InvalidRequest(
            "format=pdf needs a job of one file with every page read: use json, text, hocr "
            "or alto (or /v1/ocr with format=pdf)"
        )
    job, outcomes = await jobs.result(job_id, 1, job.pages_total)
    doc = _document(job, 1, outcomes, "pdf")
    body = await _runtime(request).on_cpu(render_document, "pdf", doc, original)
    return Response(body, media_type=CONTENT_TYPES["pdf"])


def _document(job: Job, first: int, outcomes: list[Outcome | None], fmt: str) -> dict[str, Any]:
    """The pages read, as one document (service/documents/document.py) for the renderers;
    for text, a failed page is an empty page (pages stay where they are, split by \f)."""
    pages = []
    for n, outcome in enumerate(outcomes, start=first):
        if isinstance(outcome, bytes):
            pages.append({**json.loads(outcome), "page": n, "text_layer": False})
        elif fmt == "text":
            pages.append({"text": ""})
    model = next((p for p in pages if "model_set" in p), {"model_set": "", "model_versions": {}})
    doc = {"model_set": model["model_set"], "model_versions": model["model_versions"]}
    return {**doc, "text": PAGE_BREAK.join(p["text"] for p in pages), "pages": pages}


def _runtime(request: Request) -> Runtime:
    rt: Runtime = request.app.state.runtime
    return rt


def _checked(job_id: str) -> str:
    if not _JOB_ID.match(job_id):
        raise JobNotFound(f"no job {job_id[:40]}")
    return job_id


def _spec(request: Request, opts: OcrOptionsIn) -> JobSpec:
    tenant = tenant_of(request)
    client = tenant or (request.client.host if request.client else "")
    overrides = opts.model_dump(exclude_none=True, exclude=NOT_READING_OPTIONS)
    if opts.format in WORD_FORMATS:  # submitted for hOCR, ALTO or PDF: locate the words
        overrides["word_boxes"] = True
    callback = request.headers.get("callback-url", "")
    return JobSpec(opts.model_set, overrides, tenant, client, callback, opts.pages or "")


def _pdf_options(request: Request, opts: OcrOptionsIn) -> PdfOptions:
    pdf = opts.to_pdf_options(_runtime(request).pdf_options)
    if pdf.skip_text_pages:
        raise InvalidRequest("skip_text_pages is for /v1/ocr: a job reads every selected page")
    return pdf


def _digest(uploads: list[Upload], spec: JobSpec, pdf: PdfOptions) -> str:
    """What an Idempotency-Key is bound to: every page's bytes and the options."""
    h = hashlib.sha256()
    for upload in uploads:
        h.update(upload if isinstance(upload, bytes) else upload.message.encode())
        h.update(b"\0")
    head = {
        "model_set": spec.model_set,
        "options": spec.overrides,
        "callback": spec.callback,
        "pdf": dataclasses.asdict(pdf),
    }
    h.update(json.dumps(head, sort_keys=True).encode())
    return h.hexdigest()


def _iso(t: float | None) -> str | None:
    return None if t is None else datetime.fromtimestamp(t, UTC).isoformat(timespec="milliseconds")


def _error_doc(e: PageError) -> dict[str, Any]:
    return {"page": e.page, "code": e.code, "message": public_message(e.message)}


def _status_doc(job: Job, errors: list[PageError]) -> dict[str, Any]:
    done = job.status.finished and job.status.value != "canceled"
    return {
        "id": job.id,
        "status": job.status.value,
        "progress": {
            "pages_total": job.pages_total,
            "pages_done": job.pages_done,
            "pages_failed": job.pages_failed,
        },
        "created_at": _iso(job.created_at),
        "started_at": _iso(job.started_at),
        "finished_at": _iso(job.finished_at),
        "expires_at": _iso(job.expires_at),
        "errors": [_error_doc(e) for e in errors],
        "result_url": f"/v1/jobs/{job.id}/result" if done else None,
    }


def _page_item(page: int, outcome: Outcome | None) -> bytes:
    if outcome is None:
        return b'{"page":%d,"result":null,"error":null}' % page
    if isinstance(outcome, PageError):
        error = json.dumps(_error_doc(outcome), ensure_ascii=False).encode()
        return b'{"page":%d,"result":null,"error":%s}' % (page, error)
    return b'{"page":%d,"result":%s,"error":null}' % (page, outcome)


def _result_body(
    job: Job, first: int, outcomes: list[Outcome | None], following: int | None
) -> bytes:
    """The stored page documents spliced in as they are (no parse, no re-encode)."""
    items = b",".join(_page_item(first + i, o) for i, o in enumerate(outcomes))
    head = json.dumps({"id": job.id, "status": job.status.value})[:-1].encode()
    tail = json.dumps(following).encode()
    return head + b',"pages":[' + items + b'],"next_page_from":' + tail + b"}"
