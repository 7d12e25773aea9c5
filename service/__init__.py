"""OCR Service: the online side (pipeline, engines, API)."""

from importlib.metadata import PackageNotFoundError, version

try:
    __version__ = version("ocr-service")
except PackageNotFoundError:  # running from a source tree without an install
    __version__ = "0.0.0+source"
