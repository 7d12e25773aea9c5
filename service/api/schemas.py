"""The wire contract: request options and response bodies (OpenAPI is generated from these)."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

from service.ocr.types import DetOptions, OcrOptions, OcrResult, Quad
from service.settings import Settings


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
    format: Literal["json", "text"] = Field(
        "json", description="json: lines with polygons; text: plain text/plain reading rows."
    )

    def to_options(self, s: Settings) -> OcrOptions:
        def pick(value: object, default: object) -> object:
            return default if value is None else value

        det = DetOptions(
            limit_side_len=pick(self.det_limit_side_len, s.det_limit_side_len),  # type: ignore[arg-type]
            limit_type=pick(self.det_limit_type, s.det_limit_type),  # type: ignore[arg-type]
            thresh=pick(self.det_thresh, s.det_thresh),  # type: ignore[arg-type]
            box_thresh=pick(self.det_box_thresh, s.det_box_thresh),  # type: ignore[arg-type]
            unclip_ratio=pick(self.det_unclip_ratio, s.det_unclip_ratio),  # type: ignore[arg-type]
        )
        return OcrOptions(
            det=det,
            use_cls=pick(self.use_cls, s.use_cls),  # type: ignore[arg-type]
            cls_thresh=pick(self.cls_thresh, s.cls_thresh),  # type: ignore[arg-type]
            decoder=pick(self.decoder, s.decoder),  # type: ignore[arg-type]
            beam_width=pick(self.beam_width, s.beam_width),  # type: ignore[arg-type]
            drop_score=pick(self.drop_score, s.drop_score),  # type: ignore[arg-type]
            word_boxes=self.word_boxes,
        )


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


class OcrResponse(BaseModel):
    request_id: str
    model_set: str
    model_versions: dict[str, str]
    image: ImageSize
    lines: list[Line]
    text: str = Field(description="All lines as plain text, one visual row per line.")
    timings_ms: dict[str, float] = Field(description="Wall time per stage of the computation.")
    cached: bool = Field(description="True when the result came from the result cache.")


class ErrorDetail(BaseModel):
    code: str
    message: str
    request_id: str


class ErrorResponse(BaseModel):
    error: ErrorDetail


class BatchItem(BaseModel):
    index: int
    result: OcrResponse | None = None
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


class ModelsResponse(BaseModel):
    default: str
    model_sets: list[ModelSetInfo]


def _polygon(quad: Quad) -> list[list[float]]:
    return [[round(x, 1), round(y, 1)] for x, y in quad.points]


def ocr_response(
    result: OcrResult, text: str, rid: str, cached: bool, word_boxes: bool = False
) -> OcrResponse:
    return OcrResponse(
        request_id=rid,
        model_set=result.model_set,
        model_versions=result.model_versions,
        image=ImageSize(width=result.width, height=result.height),
        lines=[
            Line(
                polygon=_polygon(ln.quad),
                text=ln.text,
                score=round(ln.score, 5),
                angle=ln.angle,
                det_score=round(ln.det_score, 5),
                words=[WordOut(polygon=_polygon(w.quad), text=w.text) for w in ln.words]
                if word_boxes
                else None,
            )
            for ln in result.lines
        ],
        text=text,
        timings_ms={k: round(v, 2) for k, v in result.timings_ms.items()},
        cached=cached,
    )
