"""The serving runtime's errors: admission, readiness, time limits, model-set routing."""

from __future__ import annotations

from service.ocr.errors import OcrError


class Retryable(OcrError):
    """Refused for now: the client should retry after ``retry_after_s`` (the Retry-After header)."""

    def __init__(self, message: str, retry_after_s: int = 1) -> None:
        super().__init__(message)
        self.retry_after_s = retry_after_s


class NotReady(Retryable):
    """Models not loaded and warmed yet, or the process is draining for shutdown."""

    code = "NOT_READY"


class Overloaded(Retryable):
    """A stage queue or the in-flight limit is full: refused at once, before any work."""

    code = "OVERLOADED"


class TooCostly(OcrError):
    """Options that would cost more than this server allows per request (OCR_MAX_DET_PIXELS,
    OCR_MAX_BEAM_WIDTH): refused before any work, never silently clamped."""

    code = "INVALID_REQUEST"


class Timeout(OcrError):
    code = "TIMEOUT"


class UnknownModelSet(OcrError):
    code = "UNKNOWN_MODEL_SET"
