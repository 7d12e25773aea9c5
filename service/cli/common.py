"""Pieces shared by the predict, eval and bench commands."""

from __future__ import annotations

import sys
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

import click

from models.registry.errors import RegistryError
from service.ocr.decode import DecodeLimits, decode_image
from service.ocr.errors import OcrError
from service.ocr.loader import load_pipeline, options_from_settings
from service.ocr.pipeline import OcrPipeline
from service.ocr.types import OcrOptions
from service.settings import Settings, get_settings

PredictBytes = Callable[[bytes], Mapping[str, Any]]
DATASETS_DIR = Path(__file__).resolve().parents[2].parent / "shared" / "datasets"


def decode_limits(s: Settings) -> DecodeLimits:
    return DecodeLimits(
        max_bytes=s.max_upload_bytes, max_pixels=s.max_image_pixels, max_side=s.max_image_side
    )


def settings_with(threads: int | None) -> Settings:
    s = get_settings()
    return s if threads is None else s.model_copy(update={"intra_op_threads": threads})


def open_pipeline(s: Settings, model: str | None) -> OcrPipeline:
    """Load a model set or exit with the registry's message (e.g. 'run ocr models pull')."""
    try:
        return load_pipeline(s, model)
    except (RegistryError, OcrError) as exc:
        click.echo(f"error: {exc}", err=True)
        sys.exit(2)


def resolve_dataset(arg: str) -> Path:
    """A dataset folder by path, or by name under ../shared/datasets."""
    for candidate in (Path(arg), DATASETS_DIR / arg):
        if (candidate / "labels.jsonl").is_file():
            return candidate
    raise click.BadParameter(f"{arg!r} is neither a folder with labels.jsonl nor a dataset name")


def dataset_predictor(
    pipeline: OcrPipeline, kind: str, options: OcrOptions, s: Settings
) -> PredictBytes:
    """A function image-bytes -> prediction record in the dataset's label format."""
    limits = decode_limits(s)

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


def default_options(s: Settings) -> OcrOptions:
    return options_from_settings(s)
