"""The jobs API's errors (mapped to HTTP in api/errors.py with every other code)."""

from __future__ import annotations

from service.ocr.errors import OcrError
from service.runtime.errors import Retryable


class JobNotFound(OcrError):
    """No such job (never submitted here, or expired long enough ago to be forgotten)."""

    code = "JOB_NOT_FOUND"


class JobExpired(OcrError):
    """The job existed; its result passed OCR_JOB_TTL_S and was deleted."""

    code = "JOB_EXPIRED"


class JobNotFinished(Retryable):
    """The result of a job still queued or running: poll its status (Retry-After)."""

    code = "JOB_NOT_FINISHED"


class IdempotencyKeyReused(OcrError):
    """An Idempotency-Key sent again with another body (the first job is not replaced)."""

    code = "IDEMPOTENCY_KEY_REUSED"


class CallbackRefused(OcrError):
    """A completion callback URL that OCR_JOB_CALLBACK_ALLOW does not allow."""

    code = "INVALID_REQUEST"
