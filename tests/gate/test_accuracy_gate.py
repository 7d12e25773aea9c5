"""Accuracy regression gate: the real `ocr eval` CLI on fixed dataset slices, against floors.

Needs ../shared/datasets (skips without it) and the pulled models. Each slice runs in its own
`ocr eval` process, exactly as a user would run it; the JSON report is compared with
tests/gate/thresholds.yaml.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import yaml

pytestmark = pytest.mark.gate

HERE = Path(__file__).resolve().parent
REPO = HERE.parents[1]
DATASETS = REPO.parent / "shared" / "datasets"
SLICES: list[dict[str, Any]] = yaml.safe_load((HERE / "thresholds.yaml").read_text())["slices"]


def _eval(slice_: dict[str, Any], out: Path) -> dict[str, float]:
    cmd = [
        str(Path(sys.executable).parent / "ocr"), "eval", "--no-progress",
        "--dataset", str(DATASETS / slice_["dataset"]) + _split(slice_),
        "--limit", str(slice_["limit"]),
        "--model", slice_["model"], "--out", str(out),
    ]  # fmt: skip
    env = {**os.environ, "OCR_INTRA_OP_THREADS": os.environ.get("OCR_INTRA_OP_THREADS", "0")}
    proc = subprocess.run(cmd, capture_output=True, text=True, env=env, timeout=1800)
    assert proc.returncode == 0, proc.stderr[-3000:]
    print(proc.stdout)
    report = json.loads(out.read_text())["reports"][0]
    assert report["counts"].get("errors", 0) == 0, report["counts"]
    return report["metrics"]


def _split(slice_: dict[str, Any]) -> str:
    return f":{slice_['split']}" if "split" in slice_ else ""


@pytest.mark.parametrize(
    "slice_", SLICES, ids=[f"{s['model']}-{s['dataset']}{_split(s)}" for s in SLICES]
)
def test_accuracy_does_not_regress(slice_: dict[str, Any], tmp_path: Path) -> None:
    if not (DATASETS / slice_["dataset"] / "labels.jsonl").is_file():
        if os.environ.get("CI"):  # CI always has ../shared beside the checkout
            pytest.fail(f"{DATASETS / slice_['dataset']} missing in CI: the gate cannot run")
        pytest.skip(f"{DATASETS / slice_['dataset']} not available")
    metrics = _eval(slice_, tmp_path / "report.json")
    failures = [
        f"{k} = {metrics[k]:.4f} < floor {v}" for k, v in slice_.get("min", {}).items()
        if metrics[k] < v
    ] + [
        f"{k} = {metrics[k]:.4f} > ceiling {v}" for k, v in slice_.get("max", {}).items()
        if metrics[k] > v
    ]  # fmt: skip
    assert not failures, f"{slice_['dataset']}: " + "; ".join(failures)
