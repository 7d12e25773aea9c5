"""Paddle Inference vs ONNX Runtime on the same PP-OCRv4 weights, side by side (issue 5).

    .venv/bin/python benchmarks/engines_compare.py [--pages 25] [--crops 300] [--angles 200]
        [--threads 2] [--engines onnxruntime,paddle,paddle-no-onednn] [--json FILE]
    .venv/bin/python benchmarks/engines_compare.py --det-sweep 60   # oneDNN cache vs det RSS

`ppocr-v4-mobile` (ONNX) and `ppocr-v4-mobile-paddle` (Paddle format, same models) run through
the whole service pipeline on the first N records of dev datasets in ../shared/datasets:
SROIE receipts (pages), SROIE line crops (the recogniser alone) and the 0/180 angle set (the
classifier alone). Every (engine, dataset) pair runs in a fresh subprocess, so peak RSS is that
engine's alone. Timing is `ocr bench`'s: bytes read outside the timer, decode + pipeline inside,
no warm-up. Accuracy is scored by models.eval (the dataset's own protocol); "same" counts the
images whose output text is identical to ONNX Runtime's; "loadavg" is the 1-minute load average
when the run started (on a shared machine, compare rows taken at similar load only).

--det-sweep N runs the Paddle det model alone on N random page shapes (multiples of 32, 384..960
px a side) once per oneDNN cache capacity and prints the RSS it ends at: every page has another
det shape, and oneDNN keeps primitives per shape.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import re
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

REPO_ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO_ROOT))

from models.eval.bench import set_thread_env  # noqa: E402  (stdlib + psutil only)

# engine name -> (model set, settings overrides)
ENGINES: dict[str, tuple[str, dict[str, Any]]] = {
    "onnxruntime": ("ppocr-v4-mobile", {}),
    "paddle": ("ppocr-v4-mobile-paddle", {"paddle_mkldnn": True}),
    "paddle-no-onednn": ("ppocr-v4-mobile-paddle", {"paddle_mkldnn": False}),
}
# "paddle-cacheN": oneDNN on with PaddleOptions.mkldnn_cache_capacity=N (not a service setting)
CACHE_VARIANT = re.compile(r"^paddle-cache(\d+)$")


def _known(engine: str) -> bool:
    return engine in ENGINES or CACHE_VARIANT.match(engine) is not None


DATASETS = {  # CLI flag -> dataset
    "pages": "sroie_train_dev",
    "crops": "sroie_train_line_crops",
    "angles": "angle_cls_dev",
}
SKIP_COLUMNS = ("latency_", "acc_")


# ------------------------------------------------------------------------------------- worker


def _output_text(record: dict[str, Any]) -> Any:
    """What must agree between engines: the line texts (page), the text (crop), the angle."""
    if "lines" in record:
        return [ln["text"] for ln in record["lines"]]
    return record.get("text", record.get("angle"))


def worker(engine: str, dataset: str, limit: int, threads: int, out: Path) -> None:
    set_thread_env(threads)  # before numpy / the runtimes create their thread pools
    from models.eval.bench import BenchRecorder
    from models.eval.datasets import load_dataset
    from models.eval.report import score
    from service.cli.common import dataset_predictor, resolve_dataset
    from service.runtime.loader import load_pipeline
    from service.settings import Settings

    cache = CACHE_VARIANT.match(engine)
    if cache:
        import functools

        import service.engines.paddle as paddle_engine

        # the loader imports PaddleOptions when it opens a Paddle model: give it another default
        options = functools.partial(
            paddle_engine.PaddleOptions, mkldnn_cache_capacity=int(cache[1])
        )
        setattr(paddle_engine, "PaddleOptions", options)  # noqa: B010
    model_set, overrides = ENGINES["paddle" if cache else engine]
    ds = load_dataset(resolve_dataset(dataset), limit=limit)
    s = Settings(intra_op_threads=threads, **overrides)
    rec = BenchRecorder(engine, ds.name, threads)
    with rec.load():
        pipeline = load_pipeline(s, model_set)
    predict = dataset_predictor(pipeline, ds.kind, s.ocr_options(), s)
    records: list[dict[str, Any]] = []
    for sample in ds.samples:
        data = ds.image_path(sample).read_bytes()
        start = time.perf_counter()
        with rec.measure():
            record = dict(predict(data))
        record.update(image=sample.image, latency_ms=(time.perf_counter() - start) * 1000)
        records.append(record)
    report = score(ds, records)
    doc = {
        "engine": engine,
        "model_set": model_set,
        "summary": rec.summary(),
        "report": report.to_dict(),
        "outputs": {r["image"]: _output_text(r) for r in records},
    }
    out.write_text(json.dumps(doc, ensure_ascii=False), encoding="utf-8")


def det_sweep_worker(capacity: int, n: int, threads: int) -> None:
    set_thread_env(threads)
    import numpy as np
    import psutil

    from models.registry.catalogue import load_catalogue
    from models.registry.store import ModelStore
    from service.engines.paddle import PaddleEngine, PaddleOptions

    ms = load_catalogue().get("ppocr-v4-mobile-paddle")
    det = ModelStore().resolve(ms).tasks["det"]
    opts = PaddleOptions(threads=threads, mkldnn=True, mkldnn_cache_capacity=capacity)
    engine = PaddleEngine(det.paths, opts)
    rng = np.random.default_rng(0)
    proc = psutil.Process()
    rss, lat = [], []
    for i in range(n):
        h, w = (32 * int(v) for v in rng.integers(12, 31, size=2))
        x = rng.standard_normal((1, 3, h, w)).astype(np.float32)
        start = time.perf_counter()
        engine.run(x)
        lat.append(time.perf_counter() - start)
        if (i + 1) % 10 == 0:
            rss.append(proc.memory_info().rss / 2**20)
    print(
        json.dumps(
            {
                "capacity": capacity,
                "rss_mb_every_10": [round(r) for r in rss],
                "median_ms": round(float(np.median(lat)) * 1000, 1),
            }
        )
    )


# ------------------------------------------------------------------------------------- parent


def _run_worker(engine: str, dataset: str, limit: int, threads: int) -> dict[str, Any]:
    with tempfile.TemporaryDirectory() as tmp:
        out = Path(tmp) / "result.json"
        cmd = [sys.executable, __file__, "--worker", engine, dataset, str(limit), str(threads)]
        print(f"# {engine} on {dataset}[:{limit}] ...", file=sys.stderr, flush=True)
        subprocess.run([*cmd, str(out)], check=True, cwd=REPO_ROOT)
        result: dict[str, Any] = json.loads(out.read_text(encoding="utf-8"))
        return result


def _markdown(dataset: str, results: list[dict[str, Any]]) -> str:
    from models.eval.report import TABLE_COLUMNS

    first = results[0]["report"]
    metrics = [
        (k, h) for k, h in TABLE_COLUMNS if k in first["metrics"] and not k.startswith(SKIP_COLUMNS)
    ]
    base = results[0]["outputs"]
    head = [
        "engine",
        "n",
        *(h for _, h in metrics),
        "same as ORT",
        "median ms",
        "p95 ms",
        "peak RSS MiB",
        "load s",
        "loadavg",
    ]
    lines = [
        f"**{dataset}** ({first['kind']}, first {first['n']})",
        "",
        "| " + " | ".join(head) + " |",
        "| :--- | " + " | ".join("---:" for _ in head[1:]) + " |",
    ]
    for r in results:
        s, m = r["summary"], r["report"]["metrics"]
        same = sum(r["outputs"].get(k) == v for k, v in base.items())
        cells = [
            r["engine"],
            str(r["report"]["n"]),
            *(f"{m[k]:.4f}" for k, _ in metrics),
            f"{same}/{len(base)}",
            f"{s['latency_ms']['median']:.1f}",
            f"{s['latency_ms']['p95']:.1f}",
            f"{s['peak_rss_mb']:.0f}",
            f"{s['load_s']:.2f}",
            f"{s['loadavg_1m']['start']:.1f}",
        ]
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    ap.add_argument("--pages", type=int, default=25, help="SROIE receipts (0 = skip)")
    ap.add_argument("--crops", type=int, default=300, help="SROIE line crops (0 = skip)")
    ap.add_argument("--angles", type=int, default=200, help="angle_cls_dev samples (0 = skip)")
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument(
        "--engines",
        default=",".join(ENGINES),
        help="comma list of " + ", ".join(ENGINES) + ", paddle-cacheN (oneDNN cache N shapes)",
    )
    ap.add_argument("--json", type=Path, help="also write every result here")
    ap.add_argument("--det-sweep", type=int, metavar="N", help="oneDNN cache capacity vs det RSS")
    ap.add_argument("--capacities", default="0,1,10", help="for --det-sweep (0 = unbounded)")
    ap.add_argument("--worker", nargs=5, help=argparse.SUPPRESS)
    ap.add_argument("--sweep-worker", nargs=3, type=int, help=argparse.SUPPRESS)
    args = ap.parse_args()

    if args.worker:
        engine, dataset, limit, threads, out = args.worker
        worker(engine, dataset, int(limit), int(threads), Path(out))
        return
    if args.sweep_worker:
        det_sweep_worker(*args.sweep_worker)
        return
    if args.det_sweep:
        for cap in (int(c) for c in args.capacities.split(",")):
            cmd = [sys.executable, __file__, "--sweep-worker", str(cap), str(args.det_sweep)]
            subprocess.run([*cmd, str(args.threads)], check=True, cwd=REPO_ROOT)
        return

    engines = [e.strip() for e in args.engines.split(",") if e.strip()]
    unknown = [e for e in engines if not _known(e)]
    if unknown or not engines or engines[0] != "onnxruntime":
        ap.error(f"--engines: start with onnxruntime; known: {', '.join(ENGINES)}")
    from importlib.metadata import version

    print(
        f"# Python {platform.python_version()}, paddlepaddle {version('paddlepaddle')}, "
        f"onnxruntime {version('onnxruntime')}, "
        f"{os.cpu_count()} CPUs, threads={args.threads}, load avg {os.getloadavg()[0]:.2f}"
    )
    everything: dict[str, list[dict[str, Any]]] = {}
    for flag, dataset in DATASETS.items():
        limit = getattr(args, flag)
        if limit <= 0:
            continue
        results = [_run_worker(e, dataset, limit, args.threads) for e in engines]
        everything[dataset] = results
        print(_markdown(dataset, results) + "\n", flush=True)
    if args.json:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps(everything, indent=1, ensure_ascii=False))


if __name__ == "__main__":
    main()
