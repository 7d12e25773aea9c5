"""One small error hierarchy. Each error carries a stable machine-readable code.

Raised at the edges (decode, model loading, engines); mapped to HTTP in one place (api/errors.py).
"""

from __future__ import annotations


class OcrError(Exception):
    code = "INTERNAL"

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


class InvalidImage(OcrError):
    """Bytes that are not a decodable image (corrupt, truncated, empty, unknown format)."""

    code = "INVALID_IMAGE"


class UnsupportedMediaType(OcrError):
    code = "UNSUPPORTED_MEDIA_TYPE"


class ImageTooLarge(OcrError):
    """Pixel count or side length over the configured limits (incl. decompression bombs)."""

    code = "IMAGE_TOO_LARGE"


class PayloadTooLarge(OcrError):
    code = "PAYLOAD_TOO_LARGE"


class ModelError(OcrError):
    """A model file is missing, fails its sha256 check, or does not load."""

    code = "MODEL_ERROR"


class NotReady(OcrError):
    """Models not loaded and warmed yet, or the process is draining for shutdown."""

    code = "NOT_READY"

    def __init__(self, message: str, retry_after_s: int = 1) -> None:
        super().__init__(message)
        self.retry_after_s = retry_after_s


class Overloaded(OcrError):
    """A stage queue or the in-flight limit is full: refused at once, before any work."""

    code = "OVERLOADED"

    def __init__(self, message: str, retry_after_s: int = 1) -> None:
        super().__init__(message)
        self.retry_after_s = retry_after_s


class TooManyImages(OcrError):
    code = "TOO_MANY_IMAGES"


class InvalidRequest(OcrError):
    """A request the API cannot read: bad JSON, bad base64, unknown or out-of-range option."""

    code = "INVALID_REQUEST"


class UnknownModelSet(OcrError):
    code = "UNKNOWN_MODEL_SET"


class Timeout(OcrError):
    code = "TIMEOUT"
