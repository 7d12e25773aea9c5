"""Tesseract 5 (the `tesseract` binary, `--psm 7`: one text line) over a crop set, written as
the predictions JSONL that `ocr eval --predictions` scores: the baseline a recogniser trained
with `ocr train` must beat (docs/training.md).

    python benchmarks/tesseract_lines.py ../shared/datasets/sroie_train_line_crops out.jsonl
    ocr eval --dataset sroie_train_line_crops --predictions out.jsonl
"""

from __future__ import annotations

import argparse
import json
import subprocess
import time
from pathlib import Path

from models.eval.datasets import load_dataset


def read_line(image: Path, lang: str) -> str:
    """Tesseract's reading of one line image (psm 7, default LSTM engine)."""
    cmd = ["tesseract", str(image), "stdout", "--psm", "7", "-l", lang]
    out = subprocess.run(
        cmd, capture_output=True, text=True, check=True, env={"OMP_THREAD_LIMIT": "1"}
    )
    return " ".join(out.stdout.split())


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("dataset", type=Path)
    parser.add_argument("out", type=Path)
    parser.add_argument("--lang", default="eng")
    args = parser.parse_args()
    ds = load_dataset(args.dataset)
    started = time.monotonic()
    with args.out.open("w", encoding="utf-8") as f:
        for sample in ds.samples:
            text = read_line(ds.image_path(sample), args.lang)
            f.write(json.dumps({"image": sample.image, "text": text}, ensure_ascii=False) + "\n")
    print(f"{len(ds)} lines in {time.monotonic() - started:.0f} s -> {args.out}")


if __name__ == "__main__":
    main()
