"""The wire contract: request options and response bodies (OpenAPI is generated from these).

Result bodies are produced by ``service.ocr.export`` (the one serialisation, shared with the CLI
and the cache); ``OcrResponse`` documents that shape and the API tests validate it."""

from __future__ import annotations

import dataclasses
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from service.documents.options import PAGES_PATTERN, PdfOptions
from service.ocr.quality import BLURRY_BELOW, LOW_CONTRAST_BELOW, TOO_SMALL_BELOW
from service.ocr.types import OcrOptions

Format = Literal["json", "text", "hocr", "alto", "pdf"]
WORD_FORMATS = ("hocr", "alto", "pdf")  # they place words: the reading locates them


class OcrOptionsIn(BaseModel):
    """Per-request options; every one left out takes the server's configured default."""

    model_config = ConfigDict(extra="forbid")

    model_set: str | None = Field(None, max_length=64, description="Model set name or alias.")
    det_limit_side_len: int | None = Field(None, ge=32, le=4096)
    det_limit_type: Literal["max", "min"] | None = None
    det_thresh: float | None = Field(None, gt=0, lt=1)
    det_box_thresh: float | None = Field(None, gt=0, lt=1)
    det_unclip_ratio: float | None = Field(None, gt=0, le=5)
    use_cls: bool | None = Field(None, description="Run the 0/180 line classifier.")
    cls_thresh: float | None = Field(None, ge=0, le=1)
    decoder: Literal["greedy", "beam"] | None = None
    beam_width: int | None = Field(None, ge=1, le=50)
    drop_score: float | None = Field(None, ge=0, le=1)
    word_boxes: bool = Field(False, description="Also return a polygon per word of each line.")
    fields: Literal["receipt"] | None = Field(
        None, description="receipt: also read company, date, address and total (SROIE task 3)."
    )
    quality: Literal["warn", "strict"] | None = Field(
        None,
        description="warn (default): a poor image gets a warning with its result; "
        "strict: 422 IMAGE_QUALITY_POOR instead of a result.",
    )
    format: Format = Field(
        "json",
        description="json: lines with polygons (a PDF: one entry per page); text: text/plain "
        "reading rows, pages separated by a form feed; hocr: hOCR 1.2 (XHTML); alto: ALTO v4 "
        "XML; pdf: a searchable PDF (the original pages or image, an invisible text layer).",
    )
    pages: str | None = Field(
        None,
        max_length=256,
        pattern=PAGES_PATTERN,
        description='PDF input: the pages to read, 1-based ("1-3,7"); default every page.',
    )
    dpi: int | None = Field(
        None, ge=36, le=600, description="PDF input: render pages at this resolution."
    )
    skip_text_pages: bool | None = Field(
        None, description="PDF input: leave pages that already have a text layer unread."
    )

    def to_options(self, base: OcrOptions) -> OcrOptions:
        """The server's options with every field this request set replaced (and word boxes
        where the format places words)."""
        changes = self.model_dump(exclude_none=True, exclude=NOT_READING_OPTIONS)
        if self.format in WORD_FORMATS:
            changes["word_boxes"] = True
        return base.updated(changes)

    def to_pdf_options(self, base: PdfOptions) -> PdfOptions:
        """The server's PDF options with every field this request set replaced."""
        return dataclasses.replace(base, **self.model_dump(exclude_none=True, include=PDF_OPTIONS))


PDF_OPTIONS = {f.name for f in dataclasses.fields(PdfOptions)}
# they choose the model set, the rendering and the pages, not the reading
NOT_READING_OPTIONS = {"model_set", "format", *PDF_OPTIONS}


class OcrJsonRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")

    image: str = Field(description="The image file's bytes, base64 (standard alphabet).")
    options: OcrOptionsIn = Field(default_factory=OcrOptionsIn)


class BatchJsonRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")

    images: list[str] = Field(min_length=1, description="Image files, base64 each.")
    options: OcrOptionsIn = Field(default_factory=OcrOptionsIn)


class WordOut(BaseModel):
    polygon: list[list[float]] = Field(description="4 corners [x, y], clockwise from top-left.")
    text: str


class Line(BaseModel):
    polygon: list[list[float]] = Field(description="4 corners [x, y], clockwise from top-left.")
    text: str
    score: float = Field(description="Recognition confidence in [0, 1].")
    angle: Literal[0, 180] = Field(description="180: the line was read upside down.")
    det_score: float = Field(description="Detection confidence in [0, 1].")
    words: list[WordOut] | None = Field(None, description="Per-word boxes, with word_boxes.")


class ImageSize(BaseModel):
    width: int
    height: int


class KeyField(BaseModel):
    value: str = Field(description="As printed (SROIE convention: `RM 60.30` -> `60.30`).")
    normalized: str | None = Field(description="ISO 8601 date, or a decimal amount.")
    currency: str | None = Field(description="ISO 4217 code when printed (RM -> MYR).")
    confidence: float
    polygons: list[list[list[float]]] = Field(description="The lines it was read from.")


class QualityOut(BaseModel):
    """Medians over the detected text regions; null on a page without text."""

    sharpness: float | None = Field(
        description="Variance of the Laplacian of the text regions, grey levels stretched to "
        f"0..255 (below {BLURRY_BELOW:g}: blurry)."
    )
    contrast: float | None = Field(
        description="(p95 - p5) / 255 of the text regions' grey levels "
        f"(below {LOW_CONTRAST_BELOW:g}: faint)."
    )
    text_height_px: float | None = Field(
        description=f"Median detected line height in px (below {TOO_SMALL_BELOW:g}: too small)."
    )


class WarningOut(BaseModel):
    code: Literal["IMAGE_QUALITY_POOR"]
    reasons: list[Literal["blurry", "text_too_small", "low_contrast"]]
    hint: str = Field(description="What to do about it, for a person.")


class ImageResult(BaseModel):
    """One image's reading (service/ocr/export.py): the body of an image's result, and each
    page of a PDF's."""

    model_set: str
    model_versions: dict[str, str]
    image: ImageSize
    lines: list[Line]
    text: str = Field(description="All lines as plain text, one visual row per line.")
    timings_ms: dict[str, float] = Field(description="Wall time per stage of the computation.")
    quality: QualityOut
    warnings: list[WarningOut] = Field(
        description="IMAGE_QUALITY_POOR when reading is likely to suffer; none on a blank page."
    )
    fields: dict[str, KeyField | None] | None = Field(
        None, description="With fields=receipt: company, date, address, total (null: not found)."
    )


class OcrResponse(ImageResult):
    """The result of an image."""

    request_id: str
    cached: bool = Field(description="True when the result came from the result cache.")


class PdfPage(ImageResult):
    page: int = Field(description="The page's number in the PDF (1-based).")
    text_layer: bool = Field(description="The page already had a text layer.")


class PdfResponse(BaseModel):
    """The result of a PDF (service/documents/document.py): one entry per page read."""

    request_id: str
    model_set: str
    model_versions: dict[str, str]
    text: str = Field(description="The whole document's text; pages separated by a form feed.")
    timings_ms: dict[str, float] = Field(
        description="Each stage summed over the pages (render included); total: wall time."
    )
    pages: list[PdfPage]
    cached: bool = Field(description="True when the result came from the result cache.")


class ErrorDetail(BaseModel):
    code: str
    message: str
    request_id: str


class ErrorResponse(BaseModel):
    error: ErrorDetail


class BatchItem(BaseModel):
    index: int
    result: OcrResponse | PdfResponse | None = None
    error: ErrorDetail | None = None


class BatchResponse(BaseModel):
    request_id: str
    results: list[BatchItem]


class ModelSetInfo(BaseModel):
    name: str
    version: str
    description: str
    languages: list[str]
    aliases: list[str]
    licence: str
    versions: dict[str, str]
    loaded: bool
    default: bool
    engine: str | None = Field(
        None, description="What runs a loaded set, e.g. 'openvino bf16' (null when not loaded)."
    )
    engine_choice: str | None = Field(
        None, description="Why that engine, when OCR_ENGINE=auto chose it by measurement."
    )


class ModelsResponse(BaseModel):
    default: str
    model_sets: list[ModelSetInfo]


# -- asynchronous jobs (issue 13) -------------------------------------------------------------

JobState = Literal["queued", "running", "succeeded", "failed", "canceled"]


class JobProgress(BaseModel):
    pages_total: int
    pages_done: int = Field(description="Pages read or failed.")
    pages_failed: int


class PageErrorOut(BaseModel):
    page: int = Field(description="1-based page number in the job.")
    code: str
    message: str


class JobOut(BaseModel):
    """A job's status. ``succeeded``: every page was read, some may have failed on their own
    (``errors``); ``failed``: every page failed."""

    id: str
    status: JobState
    progress: JobProgress
    created_at: str = Field(description="ISO 8601, UTC.")
    started_at: str | None
    finished_at: str | None
    expires_at: str | None = Field(description="When the job and its result are deleted.")
    errors: list[PageErrorOut]
    result_url: str | None = Field(description="Set once the job is finished.")


class JobPageOut(BaseModel):
    page: int
    result: ImageResult | None = None
    error: PageErrorOut | None = None


class JobResultOut(BaseModel):
    id: str
    status: JobState
    pages: list[JobPageOut]
    next_page_from: int | None = Field(description="The next page_from to ask for; null: done.")


# -- PaddleX basic serving, OCR pipeline: POST /ocr (issue 13) ------------------------------
# The protocol's own definitions are paddlex.inference.serving.schemas.ocr (InferRequest,
# InferResult); tests/integration/test_paddlex_serving.py validates against them.


class PaddleXOcrRequest(BaseModel):
    """PaddleX's InferRequest: camelCase, every option optional (the server's default)."""

    file: str = Field(
        description="The file, base64; or a URL where OCR_PADDLEX_FILE_URL_ALLOW allows."
    )
    fileType: Literal[0, 1] | None = Field(None, description="0 = PDF, 1 = image; null = sniffed.")
    useDocOrientationClassify: bool | None = Field(None, description="Not supported: false/null.")
    useDocUnwarping: bool | None = Field(None, description="Not supported: false/null.")
    useTextlineOrientation: bool | None = Field(None, description="-> use_cls")
    textDetLimitSideLen: int | None = Field(None, description="-> det_limit_side_len")
    textDetLimitType: str | None = Field(None, description="-> det_limit_type")
    textDetThresh: float | None = Field(None, description="-> det_thresh")
    textDetBoxThresh: float | None = Field(None, description="-> det_box_thresh")
    textDetUnclipRatio: float | None = Field(None, description="-> det_unclip_ratio")
    textRecScoreThresh: float | None = Field(None, description="-> drop_score")
    returnWordBox: bool | None = Field(None, description="-> word_boxes")
    visualize: bool | None = Field(
        None, description="ocrImage/inputImage as base64 JPEG (default)."
    )
    logId: str | None = Field(None, max_length=128)


class PaddleXOcrResult(BaseModel):
    prunedResult: dict[str, Any]
    ocrImage: str | None = None
    docPreprocessingImage: str | None = None
    inputImage: str | None = None


class PaddleXInferResult(BaseModel):
    ocrResults: list[PaddleXOcrResult]
    dataInfo: dict[str, Any]


class PaddleXResponse(BaseModel):
    logId: str
    errorCode: int = Field(description="0 on success, else the HTTP status.")
    errorMsg: str = Field(description='"Success", else "CODE: message".')
    result: PaddleXInferResult | None = None
