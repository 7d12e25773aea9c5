"""The receipt-field rules' tuning set: the SROIE 2019 training receipts not in sroie_train_dev.

    .venv/bin/python benchmarks/sroie_tuning_set.py SNAPSHOT OUT
    .venv/bin/python benchmarks/receipt_fields.py --lines gt --dataset OUT

SNAPSHOT is a checkout (or `git archive` export) of github:zzzDavid/ICDAR-2019-SROIE at
27be4271b251c256f695acbade9a801bffe85994, the commit sroie_train_dev was cut from: its
`data/img/NNN.jpg`, `data/box/NNN.csv` (x1,y1,...,x4,y4,text per line) and `data/key/NNN.json`.
OUT receives a labels.jsonl in the sroie_train_dev format whose images are symlinks into the
snapshot: nothing of the dataset is copied, and OUT belongs outside the repository (research-use
licence, see ../shared/datasets/sroie_train_dev/README.md). Left out: the 100 receipts of
sroie_train_dev (by `source_id`) and every image with a byte-identical twin in the set, so no
receipt of the report set reaches the tuning set under another number. 519 receipts remain.
"""

from __future__ import annotations

import argparse
import hashlib
import json
from collections import defaultdict
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from PIL import Image

REPO_ROOT = Path(__file__).resolve().parents[1]
DEV = REPO_ROOT.parent / "shared" / "datasets" / "sroie_train_dev" / "labels.jsonl"
FIELDS = ("company", "date", "address", "total")


def twins(images: Sequence[Path]) -> set[str]:
    """Stems of images whose bytes occur more than once."""
    by_digest: dict[str, list[str]] = defaultdict(list)
    for path in images:
        by_digest[hashlib.sha256(path.read_bytes()).hexdigest()].append(path.stem)
    return {stem for stems in by_digest.values() if len(stems) > 1 for stem in stems}


def read_boxes(path: Path) -> list[dict[str, Any]]:
    raw = path.read_bytes()
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError:
        text = raw.decode("latin-1")
    lines = []
    for row in text.splitlines():
        parts = row.strip().split(",", 8)
        if len(parts) == 9:
            c = [int(v) for v in parts[:8]]
            points = [[c[0], c[1]], [c[2], c[3]], [c[4], c[5]], [c[6], c[7]]]
            lines.append({"points": points, "text": parts[8]})
    return lines


def record(image: Path, data: Path, out: Path) -> dict[str, Any]:
    key = json.loads((data / "key" / f"{image.stem}.json").read_bytes().decode("utf-8", "replace"))
    link = out / "images" / image.name
    if not link.exists():
        link.symlink_to(image.resolve())
    width, height = Image.open(image).size
    return {
        "image": f"images/{image.name}",
        "width": width,
        "height": height,
        "lines": read_boxes(data / "box" / f"{image.stem}.csv"),
        "key_fields": {name: key.get(name, "") for name in FIELDS},
        "source_id": image.stem,
    }


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("snapshot", type=Path, help="the ICDAR-2019-SROIE checkout")
    parser.add_argument("out", type=Path, help="a folder outside the repository")
    parser.add_argument("--dev", type=Path, default=DEV, help="sroie_train_dev labels.jsonl")
    args = parser.parse_args(argv)
    data = args.snapshot / "data"
    dev = {json.loads(line)["source_id"] for line in args.dev.read_text().splitlines() if line}
    images = sorted((data / "img").glob("*.jpg"))
    skip = dev | twins(images)
    (args.out / "images").mkdir(parents=True, exist_ok=True)
    records = [record(path, data, args.out) for path in images if path.stem not in skip]
    with (args.out / "labels.jsonl").open("w", encoding="utf-8") as fh:
        fh.writelines(json.dumps(r) + "\n" for r in records)
    print(f"{len(records)} receipts -> {args.out / 'labels.jsonl'} ({len(skip)} left out)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
