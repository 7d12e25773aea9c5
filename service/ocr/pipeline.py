"""OcrPipeline.run(image, options) -> OcrResult. Reads like the data flow:

detect -> reading order -> perspective crops -> 0/180 classify (+ flip) -> recognise -> lines.
Holds no per-request state: options travel with every call as a frozen value.
"""

from __future__ import annotations

import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass

import numpy as np

from models.codec.ctc import Decoder
from service.ocr.classify import AngleClassifier, rotate_upright
from service.ocr.crop import make_crops, sort_reading_order
from service.ocr.detect import TextDetector
from service.ocr.recognize import TextRecognizer
from service.ocr.types import (
    Crop,
    Image,
    OcrOptions,
    OcrResult,
    Pixels,
    Quad,
    Recognition,
    TextLine,
    Word,
)


class _Timer:
    def __init__(self) -> None:
        self.ms: dict[str, float] = {}

    @contextmanager
    def __call__(self, stage: str) -> Iterator[None]:
        start = time.perf_counter()
        yield
        self.ms[stage] = self.ms.get(stage, 0.0) + (time.perf_counter() - start) * 1000.0


@dataclass(frozen=True)
class _Oriented:
    pixels: Pixels
    angle: int


class OcrPipeline:
    def __init__(
        self,
        name: str,
        versions: dict[str, str],
        detector: TextDetector,
        classifier: AngleClassifier,
        recognizer: TextRecognizer,
    ) -> None:
        self.name = name
        self.versions = versions
        self.detector = detector
        self.classifier = classifier
        self.recognizer = recognizer

    def run(self, image: Image, options: OcrOptions) -> OcrResult:
        timer = _Timer()
        with timer("det"):
            detections = self.detector.detect(image, options.det)
        with timer("crop"):
            crops = make_crops(image, sort_reading_order(detections))
        with timer("cls"):
            oriented = self._orient(crops, options)
        with timer("rec"):
            recs = self.recognizer.recognize(
                [o.pixels for o in oriented], decoder_for(options), options.word_boxes
            )
        return assemble(self, image, crops, [o.angle for o in oriented], recs, options, timer.ms)

    def _orient(self, crops: Sequence[Crop], options: OcrOptions) -> list[_Oriented]:
        pixels = [c.pixels for c in crops]
        if not options.use_cls or not crops:
            return [_Oriented(p, 0) for p in pixels]
        results = self.classifier.classify(pixels)
        upright = rotate_upright(pixels, results, options.cls_thresh)
        return [_Oriented(u, 0 if u is p else 180) for u, p in zip(upright, pixels, strict=True)]

    def read_line(self, image: Image, options: OcrOptions) -> Recognition:
        """Recognition only: the whole image is one text line (word/line crop sets)."""
        return self.recognizer.recognize([image.pixels], decoder_for(options))[0]

    def classify_angle(self, image: Image) -> tuple[int, float]:
        """0/180 classification only: the whole image is one text line."""
        angle, score = self.classifier.classify([image.pixels])[0]
        return int(angle), float(score)

    def warmup(self) -> None:
        """One run of every recogniser bucket, the classifier and a page-sized detection."""
        self.detector.warmup()
        self.classifier.warmup()
        self.recognizer.warmup()


def assemble(
    pipeline: OcrPipeline,
    image: Image,
    crops: Sequence[Crop],
    angles: Sequence[int],
    recs: Sequence[Recognition],
    options: OcrOptions,
    timings_ms: dict[str, float],
) -> OcrResult:
    """Stage outputs -> OcrResult: empty and low-confidence readings are dropped. Shared by the
    synchronous pipeline and the batched one (service/runtime), so both answer alike."""
    lines = tuple(
        TextLine(c.quad, r.text.strip(), r.score, a, c.det_score, _words(c.quad, a, r))  # type: ignore[arg-type]
        for c, a, r in zip(crops, angles, recs, strict=True)
        if r.text.strip() and r.score >= options.drop_score
    )
    timings_ms["total"] = sum(timings_ms.values())
    return OcrResult(
        lines=lines,
        width=image.width,
        height=image.height,
        model_set=pipeline.name,
        model_versions=dict(pipeline.versions),
        timings_ms=timings_ms,
    )


def _words(quad: Quad, angle: int, rec: Recognition) -> tuple[Word, ...]:
    """Word spans (fractions of the crop's width) -> quads in the source image. The crop runs
    along the quad's top edge p0 -> p1 (bottom p3 -> p2); read at 180, it runs backwards."""
    if not rec.words:
        return ()
    p = quad.as_array().astype(np.float64)
    words = []
    for text, x0, x1 in rec.words:
        a, b = (1.0 - x1, 1.0 - x0) if angle == 180 else (x0, x1)
        top_a, top_b = p[0] + a * (p[1] - p[0]), p[0] + b * (p[1] - p[0])
        bot_a, bot_b = p[3] + a * (p[2] - p[3]), p[3] + b * (p[2] - p[3])
        words.append(Word(text, Quad.from_array([top_a, top_b, bot_b, bot_a])))
    return tuple(words)


def decoder_for(options: OcrOptions) -> Decoder:
    return Decoder(kind=options.decoder, beam_width=options.beam_width)
