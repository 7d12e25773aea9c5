"""The one reading flow: image -> det -> crops -> cls -> rec -> OcrResult.

``OcrPipeline.read(image, options, steps)`` is the only place that decides the order of stages,
the orientation logic, the timing keys and the assembly of the result. ``steps`` (service/ocr/
steps.py) decides where the work runs: ``run`` passes ``DirectSteps`` (CLI, eval, bench, the
precision gate); the server passes its batchers and CPU pool (service/runtime/batched.py).
Holds no per-request state: options travel with every call as a frozen value.
"""

from __future__ import annotations

import dataclasses
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass

import numpy as np

from models.codec.ctc import Decoder
from service.engines.base import Tensor
from service.ocr import classify
from service.ocr.classify import AngleClassifier
from service.ocr.crop import make_crops, sort_reading_order
from service.ocr.db_postprocess import DetGeometry
from service.ocr.detect import TextDetector
from service.ocr.quality import measure as measure_quality
from service.ocr.quality import warnings_for as quality_warnings
from service.ocr.recognize import TextRecognizer
from service.ocr.steps import DirectSteps, Steps, run_inline
from service.ocr.types import (
    Crop,
    DetOptions,
    Image,
    OcrOptions,
    OcrResult,
    Pixels,
    Quad,
    Quality,
    Recognition,
    TextLine,
    Word,
)

TIMING_KEYS = ("det", "cls", "rec", "total")  # wall ms per stage (queueing included), and all


class _Timer:
    def __init__(self) -> None:
        self.ms: dict[str, float] = {}

    @contextmanager
    def __call__(self, stage: str) -> Iterator[None]:
        start = time.perf_counter()
        yield
        self.ms[stage] = self.ms.get(stage, 0.0) + (time.perf_counter() - start) * 1000.0


@dataclass(frozen=True)
class Regions:
    """What detection found: the crops in reading order and how readable they look."""

    crops: Sequence[Crop]
    quality: Quality


class OcrPipeline:
    def __init__(
        self,
        name: str,
        versions: dict[str, str],
        detector: TextDetector,
        classifier: AngleClassifier,
        recognizer: TextRecognizer,
        engine: str = "",
    ) -> None:
        self.name = name
        self.versions = versions
        self.detector = detector
        self.classifier = classifier
        self.recognizer = recognizer
        self.engine = engine  # what runs the models, e.g. "openvino bf16": results depend on it
        self.engine_choice = ""  # why that engine, when OCR_ENGINE=auto chose it
        self.direct = DirectSteps(detector, classifier, recognizer)

    async def read(self, image: Image, options: OcrOptions, steps: Steps) -> OcrResult:
        timer = _Timer()
        with timer("det"):
            crops, quality = await self._detect(image, options.det, steps)
        with timer("cls"):
            pixels, angles = await self._orient([c.pixels for c in crops], options, steps)
        with timer("rec"):
            recs = await self.read_lines(pixels, options, steps)
        return self.assemble(image, Regions(crops, quality), angles, recs, options, timer.ms)

    async def _detect(
        self, image: Image, opts: DetOptions, steps: Steps
    ) -> tuple[list[Crop], Quality]:
        tensor, geometry = await steps.cpu(self.detector.preprocess, image, opts)
        prob = await steps.det(tensor)
        return await steps.cpu(self._crops, image, prob, geometry, opts)

    def _crops(
        self, image: Image, prob: Tensor, geometry: DetGeometry, opts: DetOptions
    ) -> tuple[list[Crop], Quality]:
        """DB post-processing, reading order, perspective crops and the regions' quality: one
        hop of CPU work (the page's pixels are at hand here, and off the event loop)."""
        detections = self.detector.postprocess(prob, geometry, opts)
        quality = measure_quality(image.pixels, [d.quad for d in detections])
        crops = make_crops(image, sort_reading_order(detections), self.detector.crop_margin)
        return crops, quality

    async def _orient(
        self, pixels: list[Pixels], options: OcrOptions, steps: Steps
    ) -> tuple[list[Pixels], list[classify.Angle]]:
        if not options.use_cls or not pixels:
            steps.skip("cls")
            return pixels, [0] * len(pixels)
        rows, owners = await steps.cpu(self.classifier.preprocess, pixels)
        probs = await steps.cls(rows)
        return await steps.cpu(classify.orient, pixels, probs, owners, options.cls_thresh)

    async def read_lines(
        self, pixels: Sequence[Pixels], options: OcrOptions, steps: Steps
    ) -> list[Recognition]:
        """Recognition of upright line images (a page's crops, or a crop data set's images)."""
        rec = self.recognizer
        rows = await steps.cpu(rec.preprocess, pixels)
        outputs = await steps.rec(rows)
        decoder = decoder_for(options)
        return await steps.cpu(
            rec.postprocess, rows, outputs, len(pixels), decoder, options.word_boxes
        )

    def run(self, image: Image, options: OcrOptions) -> OcrResult:
        """The flow with every step in this thread (CLI, eval, bench, the precision gate)."""
        return run_inline(self.read(image, options, self.direct))

    def read_line(self, image: Image, options: OcrOptions) -> Recognition:
        """Recognition only: the whole image is one text line (word/line crop sets)."""
        return run_inline(self.read_lines([image.pixels], options, self.direct))[0]

    def classify_angle(self, image: Image) -> tuple[int, float]:
        """0/180 classification only: the whole image is one text line."""
        angle, score = self.classifier.classify([image.pixels])[0]
        return int(angle), float(score)

    def reading_config(self) -> dict[str, object]:
        """Everything besides the model files and the options that changes what is read (the
        engine and its precision, the recogniser's buckets and margins, the detector's contract,
        buckets and crop margin, the classifier's shape): part of the result cache's fingerprint."""
        det, cls = self.detector, self.classifier
        return {
            "engine": self.engine,
            "rec": dataclasses.asdict(self.recognizer.shape),
            "det": [
                dataclasses.asdict(det.spec),
                det.buckets,
                det.max_side,
                det.max_pixels,
                det.crop_margin,
            ],
            "cls": [cls.height, cls.width],
        }

    def warmup(self) -> None:
        """One run of every recogniser bucket, the classifier and a page-sized detection."""
        self.detector.warmup()
        self.classifier.warmup()
        self.recognizer.warmup()

    def assemble(
        self,
        image: Image,
        regions: Regions,
        angles: Sequence[classify.Angle],
        recs: Sequence[Recognition],
        options: OcrOptions,
        timings_ms: dict[str, float],
    ) -> OcrResult:
        """Stage outputs -> OcrResult: empty and low-confidence readings are dropped; the
        quality (of every detected region, read or dropped) comes with its warnings."""
        lines = tuple(
            TextLine(c.quad, r.text.strip(), r.score, a, c.det_score, _words(c.quad, a, r))
            for c, a, r in zip(regions.crops, angles, recs, strict=True)
            if r.text.strip() and r.score >= options.drop_score
        )
        timings_ms["total"] = sum(timings_ms.values())
        return OcrResult(
            lines=lines,
            width=image.width,
            height=image.height,
            model_set=self.name,
            model_versions=dict(self.versions),
            timings_ms=timings_ms,
            quality=regions.quality,
            warnings=quality_warnings(regions.quality),
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
