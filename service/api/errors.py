"""Errors -> HTTP, in one place. Every error response has the same shape:

    {"error": {"code": "STABLE_CODE", "message": "human text", "request_id": "..."}}

and the status of its code below. Nothing a client sends may produce a 500: anything unexpected
is logged with its traceback and answered as INTERNAL (api/middleware.py), never a bare crash.
"""

from __future__ import annotations

import json
import logging
import re

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException as StarletteHTTPException

from service.logs import request_id
from service.metrics import Metrics
from service.ocr.errors import OcrError
from service.runtime.errors import Retryable

log = logging.getLogger(__name__)


class TooManyImages(OcrError):
    code = "TOO_MANY_IMAGES"


class InvalidRequest(OcrError):
    """A request the API cannot read: bad JSON, bad base64, unknown or out-of-range option."""

    code = "INVALID_REQUEST"


class Unauthenticated(OcrError):
    """No API key sent where OCR_API_KEYS requires one."""

    code = "UNAUTHENTICATED"


class Forbidden(OcrError):
    """An API key that is not one of OCR_API_KEYS."""

    code = "FORBIDDEN"


class BodyTimeout(OcrError):
    """The client stopped sending its request body (OCR_BODY_TIMEOUT_S between chunks)."""

    code = "REQUEST_TIMEOUT"


STATUS = {
    "INVALID_IMAGE": 422,
    "INVALID_REQUEST": 422,
    "IMAGE_QUALITY_POOR": 422,
    "UNKNOWN_MODEL_SET": 422,
    "UNAUTHENTICATED": 401,
    "FORBIDDEN": 403,
    "REQUEST_TIMEOUT": 408,
    "UNSUPPORTED_MEDIA_TYPE": 415,
    "PAYLOAD_TOO_LARGE": 413,
    "IMAGE_TOO_LARGE": 413,
    "TOO_MANY_IMAGES": 413,
    "TOO_MANY_PAGES": 413,
    "INVALID_PDF": 422,
    "PDF_ENCRYPTED": 422,
    "OVERLOADED": 429,
    "NOT_READY": 503,
    "TIMEOUT": 504,
    "NOT_FOUND": 404,
    "JOB_NOT_FOUND": 404,
    "JOB_EXPIRED": 404,
    "JOB_NOT_FINISHED": 409,
    "IDEMPOTENCY_KEY_REUSED": 422,
    "METHOD_NOT_ALLOWED": 405,
    "MODEL_ERROR": 500,
    "INTERNAL": 500,
}
_HTTP_CODES = {404: "NOT_FOUND", 405: "METHOD_NOT_ALLOWED", 413: "PAYLOAD_TOO_LARGE"}
# the request body was left unread: the connection cannot carry another request
_CLOSES = {"PAYLOAD_TOO_LARGE", "REQUEST_TIMEOUT"}
_HEADERS = {"UNAUTHENTICATED": {"WWW-Authenticate": "Bearer"}}

# what a client never sees: object reprs (<... object at 0x7f...>), tracebacks, and more than
# MAX_MESSAGE characters (messages may quote what the client sent)
_REPR = re.compile(r"\s*<[^<>]*\bat 0x[0-9A-Fa-f]+>")
_TRACEBACK = re.compile(r"\s*Traceback \(most recent call last\).*", re.DOTALL)
MAX_MESSAGE = 500


def public_message(message: str) -> str:
    """An error message fit for a client: no object reprs, no tracebacks, bounded length."""
    text = _TRACEBACK.sub("", _REPR.sub("", message)).strip()
    if len(text) > MAX_MESSAGE:
        text = text[: MAX_MESSAGE - 1] + "…"
    return text or "invalid request"


def error_body(code: str, message: str) -> dict[str, dict[str, str]]:
    rid = request_id.get()
    return {"error": {"code": code, "message": public_message(message), "request_id": rid}}


def error_response(code: str, message: str, metrics: Metrics | None = None) -> JSONResponse:
    if metrics is not None:
        metrics.errors.labels(code).inc()
    headers = dict(_HEADERS.get(code, {}))
    if code in _CLOSES:
        headers["Connection"] = "close"
    return JSONResponse(error_body(code, message), STATUS.get(code, 500), headers=headers)


def ocr_error_response(exc: OcrError, metrics: Metrics | None = None) -> JSONResponse:
    resp = error_response(exc.code, exc.message, metrics)
    if isinstance(exc, Retryable):
        resp.headers["Retry-After"] = str(exc.retry_after_s)
    return resp


PADDLEX_PATHS = frozenset({"/ocr"})  # PaddleX serving protocol: its own error shape


def paddlex_shaped(resp: JSONResponse) -> JSONResponse:
    """The same error in the PaddleX serving shape: ``{"logId", "errorCode", "errorMsg"}`` with
    the HTTP status as errorCode (as PaddleX's own server answers), headers kept."""
    error = json.loads(bytes(resp.body))["error"]
    body = {
        "logId": error["request_id"],
        "errorCode": resp.status_code,
        "errorMsg": f"{error['code']}: {error['message']}",
    }
    headers = {k: v for k, v in resp.headers.items() if k.lower() not in _OWN_HEADERS}
    return JSONResponse(body, resp.status_code, headers=headers)


_OWN_HEADERS = {"content-length", "content-type"}


def install(app: FastAPI, metrics: Metrics) -> None:
    def shaped(request: Request, resp: JSONResponse) -> JSONResponse:
        return paddlex_shaped(resp) if request.url.path in PADDLEX_PATHS else resp

    async def on_ocr_error(request: Request, exc: Exception) -> JSONResponse:
        assert isinstance(exc, OcrError)
        if exc.code in ("INTERNAL", "MODEL_ERROR"):
            log.error("%s: %s", exc.code, exc.message)
        return shaped(request, ocr_error_response(exc, metrics))

    async def on_validation(request: Request, exc: Exception) -> JSONResponse:
        assert isinstance(exc, RequestValidationError)
        resp = error_response("INVALID_REQUEST", _validation_message(exc), metrics)
        return shaped(request, resp)

    async def on_http(request: Request, exc: Exception) -> JSONResponse:
        assert isinstance(exc, StarletteHTTPException)
        code = _HTTP_CODES.get(exc.status_code, "INVALID_REQUEST")
        resp = error_response(code, str(exc.detail), metrics)
        resp.status_code = exc.status_code if exc.status_code < 500 else 500
        resp.headers.update(exc.headers or {})  # e.g. Allow on a 405
        return shaped(request, resp)

    app.add_exception_handler(OcrError, on_ocr_error)
    app.add_exception_handler(RequestValidationError, on_validation)
    app.add_exception_handler(StarletteHTTPException, on_http)


def _validation_message(exc: RequestValidationError) -> str:
    parts = []
    for err in exc.errors()[:5]:
        where = ".".join(str(p) for p in err.get("loc", ()))
        parts.append(f"{where}: {err.get('msg', 'invalid')}")
    return "; ".join(parts) or "invalid request"
