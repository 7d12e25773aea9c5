"""FLOP roofline of the reading flow (issue 18): where the arithmetic of a page goes, and how
much of the CPU's matmul peak the engines reach.

    .venv/bin/python benchmarks/flops.py --limit 20 --threads 2 [--json OUT.json]

The pipeline the settings configure (default: what `ocr predict` runs; OCR_ENGINE=... and
OCR_PROFILE=... apply) reads the first N pages of each page-mix dataset. Every engine call is
recorded with its input shape and time by a proxy engine in front of the real one, and every
recogniser row with its content width, so nothing is re-derived by hand: FLOPs per call come
from ONNX shape inference at the recorded shape (models/eval/flops.py, per row: the graphs
have no op that mixes rows). Recogniser work is split into content, padding (the bucket's
columns beyond the content) and window overlap (columns a long line's windows read twice),
and turned readings of tall crops are counted apart. The same run measures a large fp32
matmul (numpy, ONNX Runtime, OpenVINO f32 and bf16 when installed) at the same thread count.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import sys
import time
from collections import defaultdict
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

import numpy as np  # noqa: E402

from models.eval.flops import FlopCounter  # noqa: E402
from service.engines.base import EngineBase, Tensor, TopKArrays  # noqa: E402

DATASETS = ("sroie_train_dev", "funsd_train", "msra_td500_train")  # as benchmarks/page_mix.py
STAGES = ("det", "cls", "rec")


@dataclass
class Calls:
    """What the engines were asked on one page: (stage, input shape, seconds) per call, and
    the recogniser's rows as (content px, bucket px, crop, view, part, offset)."""

    engine: list[tuple[str, tuple[int, ...], float]] = field(default_factory=list)
    rec_rows: list[tuple[int, int, int, int, int, int]] = field(default_factory=list)


class Recording(EngineBase):
    """A proxy in front of a stage's engine: same answers, each call's shape and time logged."""

    def __init__(self, inner: Any, stage: str, calls: Callable[[], Calls]) -> None:
        self.inner, self.stage, self.calls = inner, stage, calls
        self.name, self.metadata = inner.name, inner.metadata
        self.top_k_on_device = inner.top_k_on_device

    def run(self, batch: Tensor) -> Tensor:
        start = time.perf_counter()
        out: Tensor = self.inner.run(batch)
        self.calls().engine.append((self.stage, batch.shape, time.perf_counter() - start))
        return out

    def run_topk(self, batch: Tensor, k: int) -> TopKArrays:
        start = time.perf_counter()
        out: TopKArrays = self.inner.run_topk(batch, k)
        self.calls().engine.append((self.stage, batch.shape, time.perf_counter() - start))
        return out


def instrument(pipeline: Any) -> Callable[[], Calls]:
    """Put recording proxies in front of the pipeline's engines; returns the current page's log
    (replace it with ``log.page = Calls()`` between pages)."""
    state = {"page": Calls()}
    current = lambda: state["page"]  # noqa: E731
    pipeline.detector.engine = Recording(pipeline.detector.engine, "det", current)
    pipeline.classifier.engine = Recording(pipeline.classifier.engine, "cls", current)
    rec = pipeline.recognizer
    rec.engine = Recording(rec.engine, "rec", current)
    infer = rec.infer

    def recording_infer(rows: Sequence[Any]) -> Any:
        current().rec_rows.extend(
            (r.width, r.bucket, r.crop, r.view, r.part, r.offset) for r in rows
        )
        return infer(rows)

    rec.infer = recording_infer
    current.state = state  # type: ignore[attr-defined]
    return current


@dataclass
class PageWork:
    """One page's FLOPs by stage, the recogniser's split, engine and wall seconds."""

    flops: dict[str, float]
    rec_padding: float
    rec_overlap: float
    rec_turned: float
    engine_s: float
    wall_s: float


def page_work(calls: Calls, counters: dict[str, FlopCounter], wall_s: float) -> PageWork:
    flops = dict.fromkeys(STAGES, 0.0)
    for stage, shape, _ in calls.engine:
        flops[stage] += shape[0] * counters[stage].flops((1, *shape[1:]))
    padding, overlap, turned = rec_split(calls.rec_rows, counters["rec"])
    engine_s = sum(s for _, _, s in calls.engine)
    return PageWork(flops, padding, overlap, turned, engine_s, wall_s)


def rec_split(
    rows: Sequence[tuple[int, int, int, int, int, int]], rec: FlopCounter
) -> tuple[float, float, float]:
    """Recogniser FLOPs spent on (padding, window overlap, turned readings). Padding = a row's
    FLOPs at its bucket minus at its content width (rounded up to the 8-px time step); overlap
    = the content FLOPs of a windowed line times the share of its window columns read twice."""
    f = lambda w: rec.flops((1, 3, 48, max(8, math.ceil(w / 8) * 8)))  # noqa: E731
    padding = sum(f(b) - f(w) for w, b, *_ in rows)
    turned = sum(f(b) for w, b, _, view, *_ in rows if view)
    lines: dict[tuple[int, int], list[tuple[int, int]]] = defaultdict(list)
    for w, _, crop, view, _, off in rows:
        lines[crop, view].append((w, off))
    overlap = 0.0
    for parts in lines.values():
        if len(parts) > 1:
            read = sum(w for w, _ in parts)
            span = max(off + w for w, off in parts)
            overlap += sum(f(w) for w, _ in parts) * (read - span) / read
    return padding, overlap, turned


def matmul_peaks(threads: int, n: int = 2048) -> dict[str, float]:
    """GFLOP/s of an n x n x n fp32 matmul (best of 5 after a warm-up) on each runtime here."""
    a = np.random.default_rng(0).standard_normal((n, n), dtype=np.float32)
    runners: dict[str, Callable[[], Any]] = {"numpy fp32": lambda: a @ a}
    runners |= _ort_matmul(a, threads) | _openvino_matmuls(a, threads)
    return {name: 2 * n**3 / _best(run) / 1e9 for name, run in runners.items()}


def _best(run: Callable[[], Any], repeats: int = 5) -> float:
    run()
    times = []
    for _ in range(repeats):
        t = time.perf_counter()
        run()
        times.append(time.perf_counter() - t)
    return min(times)


def _matmul_model(b: np.ndarray) -> bytes:
    from onnx import TensorProto, helper, numpy_helper

    x = helper.make_tensor_value_info("x", TensorProto.FLOAT, list(b.shape))
    y = helper.make_tensor_value_info("y", TensorProto.FLOAT, list(b.shape))
    node = helper.make_node("MatMul", ["x", "w"], ["y"])
    graph = helper.make_graph([node], "mm", [x], [y], [numpy_helper.from_array(b, "w")])
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 13)])
    return bytes(model.SerializeToString())


def _ort_matmul(a: np.ndarray, threads: int) -> dict[str, Callable[[], Any]]:
    import onnxruntime as ort

    so = ort.SessionOptions()
    so.intra_op_num_threads = threads
    sess = ort.InferenceSession(_matmul_model(a), so, providers=["CPUExecutionProvider"])
    return {"onnxruntime fp32": lambda: sess.run(None, {"x": a})}


def _openvino_matmuls(a: np.ndarray, threads: int) -> dict[str, Callable[[], Any]]:
    try:
        import openvino as ov
    except ImportError:
        return {}
    core, out = ov.Core(), {}
    model = core.read_model(_matmul_model(a), b"")
    for precision in ("f32", "bf16"):
        config = {"INFERENCE_NUM_THREADS": threads, "INFERENCE_PRECISION_HINT": precision}
        request = core.compile_model(model, "CPU", config).create_infer_request()
        out[f"openvino {precision}"] = lambda r=request: r.infer({0: a})
    return out


def report(kinds: dict[str, list[PageWork]], peaks: dict[str, float], engine: str) -> list[str]:
    """Markdown: one row per dataset and one for all pages, then the roofline lines."""
    head = (
        "| pages | n | GFLOP/page | det % | cls % | rec % | rec padding % | rec overlap % "
        "| rec turned % | engine s/page | GFLOP/s engines | GFLOP/s whole page |"
    )
    lines = [head, "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|"]
    everything = [p for pages in kinds.values() for p in pages]
    for name, pages in [*kinds.items(), ("all", everything)]:
        lines.append(_row(name, pages))
    flops = sum(sum(p.flops.values()) for p in everything)
    engine_s = sum(p.engine_s for p in everything)
    achieved = flops / engine_s / 1e9
    fp32 = max(v for k, v in peaks.items() if "bf16" not in k)
    lines += ["", f"Engine `{engine}`. Large fp32 matmul (2048³) on the same threads, this run:"]
    lines += [f"- {name}: {gflops:.0f} GFLOP/s" for name, gflops in peaks.items()]
    lines.append(
        f"- pipeline engines: {achieved:.0f} GFLOP/s = {achieved / fp32:.0%} of the best fp32 "
        "matmul"
    )
    if "openvino bf16" in peaks:
        bf16 = peaks["openvino bf16"]
        lines.append(
            f"- bf16 matmul peak {bf16:.0f} GFLOP/s = {bf16 / fp32:.2f}x fp32: at the same "
            f"efficiency the engines' {engine_s / len(everything):.2f} s/page would be "
            f"{engine_s / len(everything) * fp32 / bf16:.2f} s/page"
        )
    return lines


def _row(name: str, pages: Sequence[PageWork]) -> str:
    total = {s: sum(p.flops[s] for p in pages) for s in STAGES}
    all_ = sum(total.values())
    rec = total["rec"] or 1.0
    pad, over, turn = (
        sum(getattr(p, k) for p in pages) for k in ("rec_padding", "rec_overlap", "rec_turned")
    )
    engine_s = sum(p.engine_s for p in pages)
    wall_s = sum(p.wall_s for p in pages)
    n = len(pages)
    return (
        f"| {name} | {n} | {all_ / n / 1e9:.1f} | {100 * total['det'] / all_:.0f} "
        f"| {100 * total['cls'] / all_:.0f} | {100 * total['rec'] / all_:.0f} "
        f"| {100 * pad / rec:.0f} | {100 * over / rec:.1f} | {100 * turn / rec:.1f} "
        f"| {engine_s / n:.2f} | {all_ / engine_s / 1e9:.0f} | {all_ / wall_s / 1e9:.0f} |"
    )


def run_pages(args: argparse.Namespace) -> tuple[dict[str, list[PageWork]], str]:
    from models.eval.datasets import load_dataset
    from service.cli.common import open_pipeline, resolve_dataset, settings_with
    from service.ocr.decode import decode_image

    s = settings_with(args.threads)
    pipeline = open_pipeline(s, None)
    counters = {task: FlopCounter(path) for task, path in model_files(s, pipeline.name).items()}
    log = instrument(pipeline)
    options = s.ocr_options()
    kinds: dict[str, list[PageWork]] = {}
    for name in args.datasets:
        ds = load_dataset(resolve_dataset(name, args.datasets_dir), limit=args.limit)
        kinds[name] = []
        for sample in ds.samples:
            image = decode_image(ds.image_path(sample).read_bytes(), s.decode_limits())
            log.state["page"] = Calls()  # type: ignore[attr-defined]
            start = time.perf_counter()
            pipeline.run(image, options)
            wall = time.perf_counter() - start
            kinds[name].append(page_work(log(), counters, wall))
            gflop = sum(kinds[name][-1].flops.values()) / 1e9
            print(f"{name} {sample.image}: {gflop:.1f} GFLOP, {wall:.2f} s", flush=True)
    return kinds, pipeline.engine


def model_files(s: Any, name: str) -> dict[str, Path]:
    """The ONNX file of each stage of the loaded set, from the store."""
    from models.registry.store import ModelStore
    from service.runtime.loader import catalogue_from_settings

    resolved = ModelStore(s.model_dir).resolve(catalogue_from_settings(s).get(name), verify=False)
    return {task: resolved.tasks[task].path for task in STAGES}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--limit", type=int, default=20, help="first N pages of each dataset")
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--datasets", nargs="+", default=list(DATASETS))
    parser.add_argument("--datasets-dir", type=Path, default=None)
    parser.add_argument("--json", type=Path, help="write every page's figures here")
    args = parser.parse_args()
    kinds, engine = run_pages(args)
    peaks = matmul_peaks(args.threads)
    load = os.getloadavg()
    print(f"\nload average {load[0]:.1f} / {load[1]:.1f} / {load[2]:.1f}")
    print("\n".join(report(kinds, peaks, engine)))
    if args.json:
        data = {k: [vars(p) for p in v] for k, v in kinds.items()} | {"peaks": peaks}
        args.json.write_text(json.dumps(data, indent=1))


if __name__ == "__main__":
    main()
