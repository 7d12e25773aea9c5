"""Recogniser pre/post-processing variants on every dev crop set, in one process and one run:
the evidence behind each model's RecShape defaults (time-step margin, rotated readings of tall
crops, width buckets). Accuracy only (no timing); the model is loaded once.

    .venv/bin/python benchmarks/rec_tuning.py --model ppocr-v6-small \\
        --dataset icdar2015_word_train:dev --dataset iiit5k_train --dataset sroie_train_line_crops

Prints, per variant and set: word accuracy (the set's protocol), CER, empty readings, and the
word accuracy on crops taller than wide.
"""

from __future__ import annotations

import argparse
import dataclasses
from collections.abc import Sequence
from typing import Any

from models.eval.datasets import Dataset
from models.eval.report import score
from service.cli.common import open_dataset
from service.ocr.decode import decode_image
from service.ocr.pipeline import OcrPipeline
from service.runtime.loader import load_pipeline
from service.settings import Settings

NO_TURNS = {"turn_ratio": float("inf")}
VARIANTS: dict[str, dict[str, Any]] = {
    "cut (margin 0), no turns": {"step_margin": 0, **NO_TURNS},
    "margin 1, no turns": {"step_margin": 1, **NO_TURNS},
    "margin 2, no turns": {"step_margin": 2, **NO_TURNS},
    "no cut, no turns": {"step_margin": 10_000, **NO_TURNS},
    "margin 2, turns, surest wins": {"step_margin": 2, "turn_margin": 0.0},
    "margin 2, turns 0.3 surer (default)": {"step_margin": 2, "turn_margin": 0.3},
}


def run(pipeline: OcrPipeline, ds: Dataset, s: Settings) -> tuple[dict[str, float], int, float]:
    options, limits = s.ocr_options(), s.decode_limits()
    records, tall_ok, tall_n = [], 0, 0
    for sample in ds.samples:
        image = decode_image(ds.image_path(sample).read_bytes(), limits)
        rec = pipeline.read_line(image, options)
        records.append({"image": sample.image, "text": rec.text, "score": rec.score})
        if image.height > image.width:
            tall_n += 1
            tall_ok += ds.protocol.normalize(rec.text) == ds.protocol.normalize(sample.text)
    report = score(ds, records)
    empty = sum(not r["text"].strip() for r in records)
    return report.metrics, empty, tall_ok / max(tall_n, 1)


def main(argv: Sequence[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--model", default="ppocr-v6-small")
    ap.add_argument("--dataset", action="append", required=True, help="NAME[:SPLIT]")
    ap.add_argument("--limit", type=int)
    ap.add_argument("--variant", action="append", help="only these (default: all)")
    ap.add_argument("--buckets", help="comma list of rec width buckets to try instead")
    args = ap.parse_args(argv)
    s = Settings(intra_op_threads=2)
    pipeline = load_pipeline(s, args.model)
    base = pipeline.recognizer.shape
    if args.buckets:
        base = dataclasses.replace(base, buckets=tuple(int(b) for b in args.buckets.split(",")))
    sets = [open_dataset(d, limit=args.limit) for d in args.dataset]
    print(f"model {args.model}, buckets {base.buckets[0]}..{base.buckets[-1]}")
    print(f"{'variant':<30} {'dataset':<26} {'word_acc':>8} {'cer':>7} {'empty':>5} {'tall':>6}")
    for name in args.variant or list(VARIANTS):
        pipeline.recognizer.shape = dataclasses.replace(base, **VARIANTS[name])
        for ds in sets:
            m, empty, tall = run(pipeline, ds, s)
            print(
                f"{name:<30} {ds.name:<26} {m['word_accuracy']:>8.4f} {m['cer']:>7.4f} "
                f"{empty:>5} {tall:>6.3f}",
                flush=True,
            )


if __name__ == "__main__":
    main()
