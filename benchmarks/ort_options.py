"""Measure ONNX Runtime CPU session options on our models: latency and peak RSS.

Each configuration runs in a fresh process (peak RSS is per process), over a realistic mix of
input shapes (detector: 12 page shapes up to 960 px; recogniser: every width bucket at a
rec batch budget). Usage:
    .venv/bin/python benchmarks/ort_options.py [--threads 1] [--model ppocr-v6-small]
"""

from __future__ import annotations

import argparse
import itertools
import json
import resource
import subprocess
import sys
import time

DET_SHAPES = [(960, 736), (736, 960), (960, 704), (640, 960), (960, 960), (512, 960)] * 2
REC_SHAPES = [(n, w) for w, n in [(80, 48), (160, 24), (320, 12), (480, 8), (640, 6), (960, 4)]]


def child(task: str, path: str, arena: bool, pattern: bool, level: str, threads: int) -> None:
    import numpy as np
    import onnxruntime as ort

    so = ort.SessionOptions()
    so.intra_op_num_threads = threads
    so.inter_op_num_threads = 1
    so.enable_cpu_mem_arena = arena
    so.enable_mem_pattern = pattern
    so.graph_optimization_level = getattr(ort.GraphOptimizationLevel, level)
    sess = ort.InferenceSession(path, so, providers=["CPUExecutionProvider"])
    name = sess.get_inputs()[0].name
    if task == "det":
        shapes = [(1, 3, h, w) for h, w in DET_SHAPES]
    else:
        shapes = [(n, 3, 48, w) for n, w in REC_SHAPES] * 2
    rng = np.random.default_rng(0)
    sess.run(None, {name: rng.random(shapes[0], dtype=np.float32)})
    start = time.perf_counter()
    for shape in shapes:
        sess.run(None, {name: rng.random(shape, dtype=np.float32)})
    ms = (time.perf_counter() - start) * 1000 / len(shapes)
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(json.dumps({"ms_per_run": round(ms, 1), "peak_rss_mb": round(peak)}))


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--model", default="ppocr-v6-small")
    ap.add_argument("--child", nargs=6)
    args = ap.parse_args()
    if args.child:
        task, path, arena, pattern, level, threads = args.child
        child(task, path, arena == "1", pattern == "1", level, int(threads))
        return
    from models.registry.catalogue import load_catalogue
    from models.registry.store import ModelStore

    resolved = ModelStore().resolve(load_catalogue().get(args.model))
    print("| task | arena | mem pattern | graph opt | ms/run | peak RSS MB |")
    print("|---|---|---|---|---|---|")
    levels = ["ORT_ENABLE_BASIC", "ORT_ENABLE_ALL"]
    for task in ("det", "rec"):
        path = str(resolved.tasks[task].path)  # type: ignore[index]
        for arena, pattern, level in itertools.product("01", "01", levels):
            cmd = [sys.executable, __file__, "--child", task, path, arena, pattern, level]
            out = subprocess.run([*cmd, str(args.threads)], capture_output=True, text=True)
            r = json.loads(out.stdout)
            print(
                f"| {task} | {arena} | {pattern} | {level} | {r['ms_per_run']} "
                f"| {r['peak_rss_mb']} |",
                flush=True,
            )


if __name__ == "__main__":
    main()
