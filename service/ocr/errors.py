"""One small error hierarchy. Each error carries a stable machine-readable code.

These are the reading path's own errors, raised at its edges (decode, model loading, engines).
The server adds its own subclasses (service/runtime/errors.py: admission, readiness, time;
service/api/errors.py: request shape). All are mapped to HTTP in one place (api/errors.py).
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
    """More bytes than the input limit (decode checks it for every caller, the HTTP layer while
    the body streams in)."""

    code = "PAYLOAD_TOO_LARGE"


class ModelError(OcrError):
    """A model file is missing, fails its sha256 check, or does not load."""

    code = "MODEL_ERROR"


class ImageQualityPoor(OcrError):
    """``quality="strict"`` and the text is blurred, too small or faint (service/ocr/quality.py):
    the result would likely be wrong, so none is given."""

    code = "IMAGE_QUALITY_POOR"
