"""CTC recogniser stage: crops -> (text, score).

Three steps, so that a cross-request batcher can own the middle one:

1. ``preprocess`` (pure): each crop is resized to the model height keeping its aspect ratio,
   normalised, and right-padded with ``pad_value`` (0.0 after normalisation, as PP-OCR trains and
   infers) to the smallest width bucket that holds it. A row's tensor depends only on its crop and
   its bucket, never on its neighbours. Lines wider than the largest bucket are cut into
   overlapping windows (not squashed); each window is a row of its own.
2. ``infer_rows``: rows of the same bucket are stacked (sorted by width) into batches of at most
   ``max_batch`` and run through the engine.
   Each row keeps only the time steps that cover its own content (the padding's steps are
   dropped, see ``RecRow.steps``), as a compact ``TopK`` table (the full 18k-class output is
   freed after each batch).
3. ``postprocess`` (pure): a long line's windows are spliced where their overlaps agree
   (``models.codec.stitch``), and each line is decoded once, greedy or beam.
"""

from __future__ import annotations

import math
from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass

import cv2
import numpy as np
import numpy.typing as npt

from models.codec.charset import Charset, CharsetError
from models.codec.ctc import Decoder
from models.codec.stitch import join_windows
from models.codec.topk import DEFAULT_K, TopK
from models.codec.words import word_spans
from service.engines.base import Engine, Tensor, warm_up
from service.ocr.errors import ModelError
from service.ocr.types import Pixels, Recognition

# Padding changes what a recogniser reads (it sees the padded columns), so buckets are per model,
# chosen on ../shared/datasets: PP-OCRv6 reads best with the least padding (64, 128, ..., 960);
# PP-OCRv4 needs short crops padded to PP-OCR's own 320 minimum (plates: 0.98 vs 0.90 exact).
DEFAULT_BUCKETS = tuple(range(64, 961, 64))
MIN_320_BUCKETS = tuple(range(320, 961, 64))
GREEDY = Decoder()
MEAN = (0.5, 0.5, 0.5)
STD = (0.5, 0.5, 0.5)


@dataclass(frozen=True)
class RecShape:
    """Input geometry of the recogniser. Widths are multiples of the model's time-step width."""

    height: int = 48
    buckets: tuple[int, ...] = DEFAULT_BUCKETS
    min_width: int = 8  # never narrower than one time step
    overlap: int = 144  # px shared by consecutive windows of a long line (3 line heights)
    step_px: int = 8  # input px per output time step (PP-OCR rec: 8); window offsets align to it
    pad_value: float = 0.0  # in normalised units: 0.0 is PP-OCR's padding
    # output steps kept past a row's content: CTC peaks of SVTR-style models can land a step
    # or two after the last glyph's columns, and cutting them dropped last characters
    step_margin: int = 2
    turn_ratio: float = 1.0  # h > this x w: also read it turned 90 and 270 degrees...
    turn_margin: float = 0.3  # ...and a turned reading wins only when this much surer
    space_weight: float = 1.0  # the space class's probability x this before decoding (catalogue)

    def stands(self, width: float, height: float) -> bool:
        """A crop this shape is also read turned (vertical text, a word cut out standing up)."""
        return height > self.turn_ratio * width

    def __post_init__(self) -> None:
        if not self.buckets or list(self.buckets) != sorted(set(self.buckets)):
            raise ValueError("buckets must be a non-empty, strictly increasing tuple")
        if any(b % self.step_px for b in self.buckets) or self.overlap % self.step_px:
            raise ValueError(f"buckets and overlap must be multiples of step_px={self.step_px}")
        if not 0 < self.overlap < self.buckets[-1] // 2:
            raise ValueError("overlap must be positive and under half the largest bucket")
        if self.space_weight <= 0:
            raise ValueError("space_weight must be positive")

    def bucket_for(self, width: int) -> int:
        """The smallest bucket that holds ``width`` px (the largest one for a window)."""
        return next((b for b in self.buckets if b >= width), self.buckets[-1])


@dataclass(frozen=True)
class RecRow:
    """One model input row: a whole crop, or one window of a long line, in one of its views."""

    crop: int  # index of the crop in the request
    part: int  # window number within the crop (0 for a line that fits one bucket)
    offset: int  # x of the window's first px in the resized line
    width: int  # content px (<= bucket); the rest is padding
    bucket: int
    tensor: Tensor  # (3, height, bucket) float32
    view: int = 0  # which reading of the crop: 0 as given, else one of TURNS

    def steps(self, total_steps: int, margin: int = 0) -> int:
        """Output time steps covering this row's content, plus ``margin`` past it."""
        return min(total_steps, math.ceil(self.width * total_steps / self.bucket) + margin)


TURNS = {1: cv2.ROTATE_90_CLOCKWISE, 2: cv2.ROTATE_90_COUNTERCLOCKWISE}  # view -> rotation
VIEWS = (0, *TURNS)  # as given first


def in_view(crop: Pixels, view: int) -> Pixels:
    """The crop as view ``view`` reads it (0: as given; else turned as ``TURNS`` says)."""
    return np.asarray(cv2.rotate(crop, TURNS[view]), dtype=np.uint8) if view else crop


def views(crop: Pixels, shape: RecShape) -> list[tuple[int, Pixels]]:
    """The readings a crop gets: as given and, for a crop taller than wide (vertical text, a
    word cut out standing up), also turned 90 and 270 degrees."""
    h, w = crop.shape[:2]
    return [(v, in_view(crop, v)) for v in (VIEWS if shape.stands(w, h) else VIEWS[:1])]


def choose(readings: dict[int, Recognition], turn_margin: float) -> Recognition:
    """The reading as given, unless it is empty or a turned one is ``turn_margin`` surer: on
    the dev crop sets an upright single character ("1", "a") often reads as something turned
    with fair confidence, while a standing word reads as junk upright."""
    upright = readings.get(0, Recognition("", 0.0))
    turned = [r for view, r in readings.items() if view and r.text.strip()]
    best = max(turned, key=lambda r: r.score, default=None)
    if best is not None and (not upright.text.strip() or best.score > upright.score + turn_margin):
        return best
    return upright


def to_bgr(crop: Pixels) -> Pixels:
    """Gray or BGRA crops to 3-channel BGR; BGR passes through."""
    if crop.ndim == 2:
        return np.ascontiguousarray(cv2.cvtColor(crop, cv2.COLOR_GRAY2BGR))
    if crop.shape[2] == 4:
        return np.ascontiguousarray(cv2.cvtColor(crop, cv2.COLOR_BGRA2BGR))
    return crop


def resize_to_height(crop: Pixels, height: int, min_width: int, max_width: int | None) -> Pixels:
    """Aspect-preserving resize to ``height`` (width = ceil(height * w / h), clamped)."""
    h, w = crop.shape[:2]
    width = max(min_width, math.ceil(height * w / h))
    if max_width is not None:
        width = min(width, max_width)
    return np.asarray(cv2.resize(to_bgr(crop), (width, height), interpolation=cv2.INTER_LINEAR))


def normalize(
    pixels: Pixels, mean: Sequence[float] = MEAN, std: Sequence[float] = STD
) -> npt.NDArray[np.float32]:
    """BGR uint8 (H, W, 3) -> float32 (3, H, W): (px / 255 - mean) / std per channel."""
    scale = np.float32(1.0 / 255.0)
    x: npt.NDArray[np.float32] = pixels.astype(np.float32) * scale
    x -= np.asarray(mean, np.float32)
    x /= np.asarray(std, np.float32)
    return np.ascontiguousarray(x.transpose(2, 0, 1))


def pad_right(chw: npt.NDArray[np.float32], width: int, value: float) -> Tensor:
    out = np.full((chw.shape[0], chw.shape[1], width), value, dtype=np.float32)
    out[:, :, : chw.shape[2]] = chw[:, :, :width]
    return out


def window_offsets(width: int, window: int, overlap: int) -> list[int]:
    """Left edges of windows of ``window`` px, sharing ``overlap`` px, that cover ``width``."""
    offsets = [0]
    while offsets[-1] + window < width:
        offsets.append(offsets[-1] + window - overlap)
    return offsets


def preprocess(crops: Sequence[Pixels], shape: RecShape = RecShape()) -> list[RecRow]:
    """Crops -> model rows (every view of every crop). Pure; a crop with no pixels yields no
    row (read as "")."""
    rows: list[RecRow] = []
    for i, crop in enumerate(crops):
        for view, pixels in views(crop, shape) if crop.size else []:
            rows += _line_rows(i, view, pixels, shape)
    return rows


def _line_rows(crop: int, view: int, pixels: Pixels, shape: RecShape) -> list[RecRow]:
    """One reading of a crop: resized to the model height, cut into windows if too wide."""
    line = normalize(resize_to_height(pixels, shape.height, shape.min_width, None))
    width, widest = line.shape[2], shape.buckets[-1]
    rows = []
    for part, off in enumerate(window_offsets(width, widest, shape.overlap)):
        w = min(widest, width - off)
        bucket = shape.bucket_for(w)
        window = pad_right(line[:, :, off : off + w], bucket, shape.pad_value)
        rows.append(RecRow(crop, part, off, w, bucket, window, view))
    return rows


def batch_size(bucket: int, max_batch: int, max_batch_px: int | None) -> int:
    """Rows per engine call for one bucket: at most ``max_batch`` and, when a padded-width
    budget is set, at most ``max_batch_px // bucket`` (never below 1). Activation memory grows
    with batch x width: 16 rows of 960 px cost ~270 MB more peak RSS than 4 rows."""
    if max_batch_px is None:
        return max_batch
    return max(1, min(max_batch, max_batch_px // bucket))


def infer_rows(
    engine: Engine,
    rows: Sequence[RecRow],
    max_batch: int,
    step_px: int = 8,
    k: int = DEFAULT_K,
    max_batch_px: int | None = None,
    margin: int = 0,
) -> list[TopK]:
    """Run rows bucket by bucket (sorted by width) in batches of at most ``max_batch``.

    Returns, per row and in row order, the top ``k`` classes of its content's time steps only
    (``RecRow.steps``, plus ``margin`` steps); the engine's full (N, T, C) output is dropped
    after each batch.
    """
    by_bucket: dict[int, list[int]] = defaultdict(list)
    for idx in sorted(range(len(rows)), key=lambda j: (rows[j].bucket, rows[j].width)):
        by_bucket[rows[idx].bucket].append(idx)
    out: dict[int, TopK] = {}
    for members in by_bucket.values():
        size = batch_size(rows[members[0]].bucket, max_batch, max_batch_px)
        for start in range(0, len(members), size):
            chunk = members[start : start + size]
            batch = np.stack([rows[j].tensor for j in chunk])
            tables = _top_classes(engine, batch, [rows[j] for j in chunk], k, step_px, margin)
            out.update(zip(chunk, tables, strict=True))
    return [out[j] for j in range(len(rows))]


def _top_classes(
    engine: Engine, batch: Tensor, rows: Sequence[RecRow], k: int, step_px: int, margin: int
) -> list[TopK]:
    """One engine call -> each row's top-k table over its content's steps. An engine with its
    own top-k (the torch engine selects on the GPU, so only N x T x k values reach the host)
    gives the exact top k; otherwise ``TopK.from_probs`` reduces the full output here."""
    if engine.top_k_on_device:
        values, ids, classes = engine.run_topk(batch, k)
        steps = _steps(values.shape, batch, rows, step_px, margin)
        return [TopK(ids[n, :s], values[n, :s], classes) for n, s in enumerate(steps)]
    probs = engine.run(batch)
    steps = _steps(probs.shape, batch, rows, step_px, margin)
    return [TopK.from_probs(probs[n, :s], k) for n, s in enumerate(steps)]


def _steps(
    shape: tuple[int, ...], batch: Tensor, rows: Sequence[RecRow], step_px: int, margin: int
) -> list[int]:
    """Check the output shape against the input; each row's count of content steps."""
    if len(shape) != 3 or shape[0] != len(rows) or shape[1] * step_px != batch.shape[3]:
        raise ModelError(
            f"recogniser output {shape} for input width {batch.shape[3]}; "
            f"expected (N, width / {step_px}, classes)"
        )
    return [row.steps(shape[1], margin) for row in rows]


def postprocess(
    rows: Sequence[RecRow],
    outputs: Sequence[TopK],
    n_crops: int,
    charset: Charset,
    decoder: Decoder,
    shape: RecShape = RecShape(),
    words: bool = False,
) -> list[Recognition]:
    """Per-row outputs -> one Recognition per crop, in crop order. Pure. A crop read in several
    views keeps one reading (``choose``, by ``shape.turn_margin``). With ``words``, a reading of
    the crop as given also says where its words are (``models.codec.words``)."""
    step_px = shape.step_px
    windows: dict[tuple[int, int], list[tuple[int, TopK]]] = defaultdict(list)
    line_px: dict[tuple[int, int], int] = defaultdict(int)  # the resized line's width
    for row, out in zip(rows, outputs, strict=True):
        windows[row.crop, row.view].append((row.offset // step_px, out))
        line_px[row.crop, row.view] = max(line_px[row.crop, row.view], row.offset + row.width)
    readings: list[dict[int, Recognition]] = [{} for _ in range(n_crops)]
    for (crop, view), parts in sorted(windows.items()):
        located = words and view == 0
        steps = line_px[crop, view] / step_px
        readings[crop][view] = _decode(parts, steps, charset, decoder, located, shape.space_weight)
    return [choose(r, shape.turn_margin) for r in readings]


def _decode(
    parts: list[tuple[int, TopK]],
    steps: float,
    charset: Charset,
    decoder: Decoder,
    words: bool,
    space_weight: float,
) -> Recognition:
    """One reading: its windows spliced where their overlaps agree, decoded once."""
    parts.sort(key=lambda p: p[0])
    table, ids = join_windows([t for _, t in parts], [o for o, _ in parts]).dense()
    table = weigh_space(table, ids, charset, space_weight)
    subset = charset.subset(ids.tolist())
    text, score = decoder.decode(table, subset)
    return Recognition(text, score, _locate_words(table, subset, steps) if words else ())


def weigh_space(
    table: npt.NDArray[np.float32], ids: npt.NDArray[np.intp], charset: Charset, weight: float
) -> npt.NDArray[np.float32]:
    """The (T, U) table over class ``ids`` with the space's probability x ``weight``, each step
    renormalised (``RecShape.space_weight``); the table itself when there is nothing to weigh."""
    column = np.flatnonzero(ids == charset.space_id) if charset.use_space else ids[:0]
    if weight == 1.0 or not column.size:
        return table
    out = table.copy()
    out[:, column] *= weight
    return out / out.sum(axis=1, keepdims=True)


def _locate_words(
    table: npt.NDArray[np.float32], charset: Charset, steps: float
) -> tuple[tuple[str, float, float], ...]:
    return tuple(
        (w.text, min(1.0, w.start / steps), min(1.0, w.end / steps))
        for w in word_spans(table, charset)
    )


class TextRecognizer:
    """The recogniser stage: one engine (not shared), one charset, fixed width buckets."""

    def __init__(
        self,
        engine: Engine,
        charset: Charset,
        shape: RecShape = RecShape(),
        max_batch: int = 16,
        max_batch_px: int | None = None,
    ) -> None:
        self.engine = engine
        self.charset = charset
        self.shape = shape
        self.max_batch = max_batch
        self.max_batch_px = max_batch_px

    def preprocess(self, crops: Sequence[Pixels]) -> list[RecRow]:
        return preprocess(crops, self.shape)

    def infer(self, rows: Sequence[RecRow]) -> list[TopK]:
        """The engine step: a batcher's worker calls it with rows of one bucket, the CLI with
        all of a request's rows."""
        shape = self.shape
        outputs = infer_rows(
            self.engine,
            rows,
            self.max_batch,
            shape.step_px,
            max_batch_px=self.max_batch_px,
            margin=shape.step_margin,
        )
        if outputs:
            try:
                self.charset.validate(outputs[0].num_classes)
            except CharsetError as exc:
                raise ModelError(str(exc)) from exc
        return outputs

    def postprocess(
        self,
        rows: Sequence[RecRow],
        outputs: Sequence[TopK],
        n_crops: int,
        decoder: Decoder,
        words: bool = False,
    ) -> list[Recognition]:
        return postprocess(rows, outputs, n_crops, self.charset, decoder, self.shape, words)

    def recognize(
        self, crops: Sequence[Pixels], decoder: Decoder = GREEDY, words: bool = False
    ) -> list[Recognition]:
        rows = self.preprocess(crops)
        return self.postprocess(rows, self.infer(rows), len(crops), decoder, words)

    def warmup(self) -> None:
        """Run every bucket shape once on an engine that specialises per shape (GPU runtimes
        tune kernels per shape, OpenVINO prepares each new one); otherwise one typical line."""
        shape = self.shape
        buckets = shape.buckets if self.engine.shape_specialised else (shape.bucket_for(320),)
        for bucket in buckets:
            rows = batch_size(bucket, self.max_batch, self.max_batch_px)
            warm_up(self.engine, (3, shape.height, bucket), rows)
