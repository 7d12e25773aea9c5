"""Pieces shared by the predict, eval, bench and derive commands."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

import click

from models.registry.errors import RegistryError
from service.cli.errors import SetupFailed
from service.ocr.decode import decode_image
from service.ocr.errors import OcrError
from service.ocr.pipeline import OcrPipeline
from service.ocr.types import OcrOptions
from service.runtime.loader import load_pipeline
from service.settings import Settings, get_settings

if TYPE_CHECKING:  # eval and bench only: `ocr predict` does not import the eval package
    from models.eval.datasets import Dataset

PredictBytes = Callable[[bytes], Mapping[str, Any]]


def settings_with(threads: int | None) -> Settings:
    s = get_settings()
    return s if threads is None else s.model_copy(update={"intra_op_threads": threads})


def open_pipeline(s: Settings, model: str | None) -> OcrPipeline:
    """Load a model set or fail with the registry's message (e.g. 'run ocr models pull')."""
    try:
        return load_pipeline(s, model)
    except (RegistryError, OcrError) as exc:
        raise SetupFailed(str(exc)) from exc


def open_dataset(arg: str, limit: int | None = None, offset: int = 0) -> Dataset:
    """``NAME[:SPLIT]`` or ``PATH[:SPLIT]`` -> the dataset (``icdar2015_word_train:dev``)."""
    from models.eval.datasets import load_dataset

    where, _, split = arg.partition(":") if not Path(arg).exists() else (arg, "", "")
    return load_dataset(resolve_dataset(where), limit=limit, offset=offset, split=split or None)


def resolve_dataset(arg: str, root: Path | None = None) -> Path:
    """A dataset folder by path, or by name under the datasets directory (OCR_DATASETS_DIR)."""
    for candidate in (Path(arg), (root or get_settings().datasets_dir) / arg):
        if (candidate / "labels.jsonl").is_file():
            return candidate
    raise click.BadParameter(f"{arg!r} is neither a folder with labels.jsonl nor a dataset name")


def dataset_predictor(
    pipeline: OcrPipeline, kind: str, options: OcrOptions, s: Settings
) -> PredictBytes:
    """A function image-bytes -> prediction record in the dataset's label format. Pages go
    through the reading flow the server runs (``OcrPipeline.run``)."""
    limits = s.decode_limits()

    def page(data: bytes) -> dict[str, Any]:
        result = pipeline.run(decode_image(data, limits), options)
        lines = [
            {"points": [list(p) for p in ln.quad.points], "text": ln.text, "score": ln.score}
            for ln in result.lines
        ]
        return {"lines": lines}

    def crop(data: bytes) -> dict[str, Any]:
        rec = pipeline.read_line(decode_image(data, limits), options)
        return {"text": rec.text, "score": rec.score}

    def angle(data: bytes) -> dict[str, Any]:
        deg, score = pipeline.classify_angle(decode_image(data, limits))
        return {"angle": deg, "score": score}

    return {"page": page, "crop": crop, "angle": angle}[kind]


def reading_files(predict: PredictBytes) -> Callable[[Path], Mapping[str, Any]]:
    """Adapt a bytes predictor to the eval runner, which hands over file paths."""
    return lambda path: predict(path.read_bytes())
