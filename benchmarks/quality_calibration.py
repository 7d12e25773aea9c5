"""The evidence behind the image-quality thresholds (service/ocr/quality.py): pages of the dev
sets and degraded copies of them (Gaussian blur, downscaling, contrast squeezed towards the
page's mean, all made in memory) read by the real pipeline; per page, the quality the result
reports and its CER against the ground truth; then CER by quality bucket.

Page CER counts a missed ground-truth line as wholly wrong: (edits of the matched lines + the
characters of the unmatched ones) / all ground-truth characters, after the set's normalisation
(models/eval: the IoU line matcher and edit distance of ``ocr eval``).

    .venv/bin/python benchmarks/quality_calibration.py collect --dataset sroie_train_dev \\
        --dataset funsd_train --offset 0 --limit 20 --out var/quality/tune.jsonl
    .venv/bin/python benchmarks/quality_calibration.py table var/quality/report.jsonl
"""

from __future__ import annotations

import argparse
import json
import statistics
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from typing import Any

import cv2
import numpy as np

from models.eval.datasets import Dataset, Sample
from models.eval.detection import match_lines
from models.eval.text import edit_distance
from service.cli.common import open_dataset
from service.ocr import quality
from service.ocr.decode import decode_image
from service.ocr.pipeline import OcrPipeline
from service.ocr.types import Image, OcrResult, Pixels
from service.runtime.loader import load_pipeline
from service.settings import Settings

Degrade = Callable[[Pixels], tuple[Pixels, float]]  # -> pixels, scale of the GT coordinates


def blur(sigma: float) -> Degrade:
    return lambda px: (cv2.GaussianBlur(px, (0, 0), sigma), 1.0)


def downscale(factor: float) -> Degrade:
    def apply(px: Pixels) -> tuple[Pixels, float]:
        size = (round(px.shape[1] * factor), round(px.shape[0] * factor))
        return cv2.resize(px, size, interpolation=cv2.INTER_AREA), factor

    return apply


def squeeze(factor: float) -> Degrade:
    def apply(px: Pixels) -> tuple[Pixels, float]:
        mean = float(px.mean())
        out = mean + (px.astype(np.float32) - mean) * factor
        return np.clip(out, 0, 255).astype(np.uint8), 1.0

    return apply


CONDITIONS: dict[str, Degrade] = {
    "original": lambda px: (px, 1.0),
    "blur 2": blur(2.0),
    "blur 3.5": blur(3.5),
    "downscale 0.5": downscale(0.5),
    "downscale 0.3": downscale(0.3),
    "contrast 0.2": squeeze(0.2),
}


def page_cer(ds: Dataset, sample: Sample, result: OcrResult, scale: float) -> tuple[int, int]:
    """(edits, GT characters) of one page; unmatched GT lines count as all wrong."""
    preds = [np.asarray(ln.quad.points) / scale for ln in result.lines]
    match = match_lines(preds, sample.lines, ds.protocol.iou_threshold)
    norm = ds.protocol.normalize
    gts = {j: norm(sample.lines[j].text or "") for j in match.care_gt}
    matched = {g: p for p, g, _ in match.pairs}
    edits = sum(
        edit_distance(norm(result.lines[matched[j]].text), gt) if j in matched else len(gt)
        for j, gt in gts.items()
    )
    return edits, sum(len(g) for g in gts.values())


def records(pipeline: OcrPipeline, ds: Dataset, s: Settings) -> Iterator[dict[str, Any]]:
    options = s.ocr_options()
    for sample in ds.samples:
        page = decode_image(ds.image_path(sample).read_bytes(), s.decode_limits())
        for name, degrade in CONDITIONS.items():
            pixels, scale = degrade(page.pixels)
            result = pipeline.run(Image(np.ascontiguousarray(pixels), "RAW"), options)
            edits, chars = page_cer(ds, sample, result, scale)
            q = result.quality
            yield {
                "dataset": ds.name,
                "image": sample.image,
                "condition": name,
                "edits": edits,
                "chars": chars,
                "sharpness": q.sharpness,
                "contrast": q.contrast,
                "text_height_px": q.text_height_px,
            }


def collect(args: argparse.Namespace) -> None:
    s = Settings(intra_op_threads=args.threads)
    pipeline = load_pipeline(s, args.model)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    with args.out.open("w") as out:
        for name in args.dataset:
            ds = open_dataset(name, limit=args.limit, offset=args.offset)
            for rec in records(pipeline, ds, s):
                out.write(json.dumps(rec) + "\n")
                out.flush()


def bucket(rec: dict[str, Any]) -> str:
    if rec["sharpness"] is None:
        return "no text"
    found = quality.reasons(quality.Quality(**{k: rec[k] for k in QUALITY_KEYS}))
    return "poor: " + "+".join(found) if found else "ok"


QUALITY_KEYS = ("sharpness", "contrast", "text_height_px")


def cer(rows: Sequence[dict[str, Any]]) -> float:
    return sum(r["edits"] for r in rows) / max(1, sum(r["chars"] for r in rows))


def table(args: argparse.Namespace) -> None:
    rows = [json.loads(line) for line in args.records.read_text().splitlines()]
    print("| group | pages | flagged poor | CER | median page CER |\n|---|---:|---:|---:|---:|")
    for title, key in (("condition", "condition"), ("quality", None)):
        groups: dict[str, list[dict[str, Any]]] = {}
        for r in rows:
            groups.setdefault(r[key] if key else bucket(r), []).append(r)
        for name, group in sorted(groups.items()):
            poor = sum(bucket(r).startswith("poor") for r in group)
            median = statistics.median(cer([r]) for r in group)
            print(f"| {title}: {name} | {len(group)} | {poor} | {cer(group):.3f} | {median:.3f} |")


def main(argv: Sequence[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    sub = ap.add_subparsers(required=True)
    c = sub.add_parser("collect")
    c.add_argument("--model", default=None)
    c.add_argument("--dataset", action="append", required=True)
    c.add_argument("--offset", type=int, default=0)
    c.add_argument("--limit", type=int, default=20)
    c.add_argument("--threads", type=int, default=2)
    c.add_argument("--out", type=Path, required=True)
    c.set_defaults(run=collect)
    t = sub.add_parser("table")
    t.add_argument("records", type=Path)
    t.set_defaults(run=table)
    args = ap.parse_args(argv)
    args.run(args)


if __name__ == "__main__":
    main()
