"""Detector settings on the dev page sets, detection only (no cls/rec), one process, one run:
the evidence behind the DetOptions defaults. Prints det P/R/F (IoU >= 0.5, the sets' protocol)
and the median detector time per page for each variant.

    .venv/bin/python benchmarks/det_tuning.py --dataset sroie_train_dev --dataset funsd_train \\
        --dataset msra_td500_train --limit 100
"""

from __future__ import annotations

import argparse
import statistics
import time
from collections.abc import Sequence
from typing import Any

from models.eval.datasets import Dataset
from models.eval.report import score
from service.cli.common import open_dataset
from service.ocr.decode import decode_image
from service.ocr.pipeline import OcrPipeline
from service.ocr.types import DetOptions
from service.runtime.loader import load_pipeline
from service.settings import Settings

VARIANTS: dict[str, dict[str, Any]] = {
    "max 1280 (today)": {},
    "max 1600": {"limit_side_len": 1600},
    "max 1920": {"limit_side_len": 1920},
    "min 736 (RapidOCR)": {"limit_type": "min", "limit_side_len": 736},
    "native (PaddleOCR 3: min 64)": {"limit_type": "min", "limit_side_len": 64},
    "max 1280, unclip 1.8": {"unclip_ratio": 1.8},
    "max 1280, box 0.5": {"box_thresh": 0.5},
    "native, box 0.5": {"limit_type": "min", "limit_side_len": 64, "box_thresh": 0.5},
}


def run(pipeline: OcrPipeline, ds: Dataset, opts: DetOptions, s: Settings) -> tuple[Any, float]:
    records, times = [], []
    for sample in ds.samples:
        image = decode_image(ds.image_path(sample).read_bytes(), s.decode_limits())
        start = time.perf_counter()
        dets = pipeline.detector.detect(image, opts)
        times.append((time.perf_counter() - start) * 1000)
        lines = [{"points": [list(p) for p in d.quad.points], "text": ""} for d in dets]
        records.append({"image": sample.image, "lines": lines})
    return score(ds, records).metrics, statistics.median(times)


def main(argv: Sequence[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--model", default="ppocr-v6-small")
    ap.add_argument("--dataset", action="append", required=True)
    ap.add_argument("--limit", type=int)
    ap.add_argument("--variant", action="append", help="only these (default: all)")
    args = ap.parse_args(argv)
    s = Settings(intra_op_threads=2)
    pipeline = load_pipeline(s, args.model)
    sets = [open_dataset(d, limit=args.limit) for d in args.dataset]
    base = s.ocr_options().det
    print(f"{'variant':<30} {'dataset':<18} {'det_P':>6} {'det_R':>6} {'det_F':>6} {'ms':>6}")
    for name in args.variant or list(VARIANTS):
        opts = DetOptions(**{**base.__dict__, **VARIANTS[name]})
        for ds in sets:
            m, ms = run(pipeline, ds, opts, s)
            print(
                f"{name:<30} {ds.name:<18} {m['det_precision']:>6.4f} {m['det_recall']:>6.4f} "
                f"{m['det_f1']:>6.4f} {ms:>6.0f}",
                flush=True,
            )


if __name__ == "__main__":
    main()
