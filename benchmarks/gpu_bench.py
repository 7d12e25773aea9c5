"""Torch engine benchmark: single stream vs dynamic batching, fp32 vs fp16, CUDA graphs on/off.

Written for a lent GPU (no onnxruntime-gpu there: the torch engine is the GPU path); it also runs
on the CPU with small sizes, as a smoke test. For each engine configuration (dtype x CUDA graphs)
it measures three workloads with the service's own batching code:

- det: the detector's preprocessed page tensors; batching through a ``DynamicBatcher`` over
  ``stages.det_batch`` (same-shape pages only, as in the server);
- rec: the recogniser's rows (crops detected on the pages); batching through ``stages.rec_batch``
  (rows of one width bucket);
- pipeline: whole pages; single stream is ``OcrPipeline.run``, batched is the server's
  ``BatchedPipeline`` (det -> cls -> rec batchers, CPU pool for pre/post-processing).

"batch 1" runs the items one at a time on one stream; "batched-C" runs C closed-loop clients
(each submits, awaits, submits the next). Per row: items/s, request latency p50/p95, mean batch
size, GPU utilisation (NVML via pynvml, else nvidia-smi; mean while measuring), peak torch
allocation and device memory used; on the CPU, process CPU time per item and peak RSS instead.

    # on the GPU machine
    python benchmarks/gpu_bench.py --device cuda --out gpu_bench.json \\
        --images /work/shared/datasets/sroie_train_dev/images --max-images 32
    # CPU smoke test
    python benchmarks/gpu_bench.py --device cpu --quick --out /tmp/gpu_bench_cpu.json
"""

from __future__ import annotations

import argparse
import asyncio
import importlib
import json
import os
import platform
import statistics
import subprocess
import sys
import threading
import time
from collections.abc import Awaitable, Callable, Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")  # as the torch engine does

import numpy as np
import psutil
import torch
from PIL import Image as PILImage
from PIL import ImageDraw, ImageFont

from service.batching.batcher import DynamicBatcher
from service.batching.policy import BatchPolicy
from service.ocr.crop import make_crops, sort_reading_order
from service.ocr.decode import decode_image
from service.ocr.pipeline import OcrPipeline
from service.ocr.recognize import RecRow, infer_rows
from service.ocr.types import Image, OcrOptions
from service.runtime.batched import BatchedPipeline, Flow
from service.runtime.loader import load_pipeline
from service.runtime.runtime import policies
from service.runtime.stages import det_batch, make_batchers, rec_batch
from service.settings import Settings

FONT = "/usr/share/fonts/truetype/dejavu/DejaVuSans.ttf"
WORDS = [
    "invoice",
    "total",
    "amount",
    "tax",
    "date",
    "order",
    "shipped",
    "receipt",
    "cash",
    "change",
    "item",
    "qty",
    "price",
]


@dataclass
class Row:
    stage: str
    dtype: str
    cuda_graphs: bool
    mode: str  # "batch1" | "batched-C"
    items: int
    items_per_s: float
    p50_ms: float
    p95_ms: float
    mean_batch: float
    gpu_util_pct: float | None = None
    torch_peak_mb: float | None = None
    device_used_mb: float | None = None
    cpu_s_per_item: float | None = None
    peak_rss_mb: float | None = None
    extra: dict[str, Any] = field(default_factory=dict)


# ---------------------------------------------------------------- inputs


def synthetic_pages(n: int, width: int, rng: np.random.Generator) -> list[Image]:
    """Receipt-like pages: 6-14 lines of random words, black on white."""
    try:
        font: Any = ImageFont.truetype(FONT, 28)
    except OSError:
        font = ImageFont.load_default()
    pages = []
    for _ in range(n):
        lines = [
            " ".join(rng.choice(WORDS, size=rng.integers(2, 6))) + f" {rng.integers(1, 999)}.99"
            for _ in range(int(rng.integers(6, 15)))
        ]
        page = PILImage.new("RGB", (width, 60 * len(lines) + 40), "white")
        draw = ImageDraw.Draw(page)
        for i, text in enumerate(lines):
            draw.text((30, 20 + 60 * i), text, fill="black", font=font)
        rgb = np.asarray(page, dtype=np.uint8)
        pages.append(Image(pixels=np.ascontiguousarray(rgb[:, :, ::-1]), format="RAW"))
    return pages


def load_pages(specs: Sequence[str], limit: int) -> list[Image]:
    paths: list[Path] = []
    for spec in specs:
        p = Path(spec)
        if p.is_dir():
            paths += sorted(q for q in p.iterdir() if q.suffix.lower() in {".png", ".jpg", ".jpeg"})
        elif p.exists():
            paths.append(p)
        else:
            paths += sorted(Path().glob(spec))
    return [decode_image(p.read_bytes()) for p in paths[:limit]]


# ---------------------------------------------------------------- measuring


class DeviceMonitor:
    """Samples GPU utilisation and memory in a thread (NVML, else nvidia-smi); on the CPU,
    process CPU time and peak RSS."""

    def __init__(self, device: str, device_id: int) -> None:
        self.cuda = device == "cuda"
        self.device_id = device_id
        self._nvml: Any = None
        self._handle: Any = None
        if self.cuda:
            try:
                self._nvml = importlib.import_module("pynvml")
                self._nvml.nvmlInit()
                self._handle = self._nvml.nvmlDeviceGetHandleByIndex(device_id)
            except Exception:  # no pynvml, or no NVML: fall back to nvidia-smi
                self._nvml = None

    def sample(self) -> tuple[float, float] | None:
        """(utilisation %, device memory used MB), or None if unavailable."""
        if self._nvml is not None:
            util = self._nvml.nvmlDeviceGetUtilizationRates(self._handle).gpu
            used = self._nvml.nvmlDeviceGetMemoryInfo(self._handle).used / 2**20
            return float(util), float(used)
        query = "--query-gpu=utilization.gpu,memory.used"
        cmd = ["nvidia-smi", query, "--format=csv,noheader,nounits", f"-i={self.device_id}"]
        try:
            out = subprocess.run(cmd, capture_output=True, text=True, timeout=5, check=True)
            util, used = out.stdout.strip().split(",")
            return float(util), float(used)
        except (OSError, subprocess.SubprocessError, ValueError):
            return None

    @contextmanager
    def measure(self, row_extra: dict[str, float | None]) -> Iterator[None]:
        samples: list[tuple[float, float]] = []
        stop = threading.Event()

        def loop() -> None:
            while not stop.wait(0.05 if self._nvml is not None else 0.25):
                s = self.sample()
                if s is not None:
                    samples.append(s)

        proc = psutil.Process()
        cpu0 = proc.cpu_times()
        peak_rss = [proc.memory_info().rss]

        def rss_loop() -> None:
            while not stop.wait(0.1):
                peak_rss[0] = max(peak_rss[0], proc.memory_info().rss)

        threads = [threading.Thread(target=rss_loop, daemon=True)]
        if self.cuda:
            torch.cuda.synchronize()
            torch.cuda.reset_peak_memory_stats()
            threads.append(threading.Thread(target=loop, daemon=True))
        for t in threads:
            t.start()
        try:
            yield
        finally:
            if self.cuda:
                torch.cuda.synchronize()
            stop.set()
            for t in threads:
                t.join()
            cpu1 = proc.cpu_times()
            row_extra["cpu_s"] = (cpu1.user - cpu0.user) + (cpu1.system - cpu0.system)
            row_extra["peak_rss_mb"] = peak_rss[0] / 2**20
            if self.cuda:
                row_extra["torch_peak_mb"] = torch.cuda.max_memory_allocated() / 2**20
                row_extra["gpu_util_pct"] = (
                    statistics.fmean(s[0] for s in samples) if samples else None
                )
                row_extra["device_used_mb"] = max((s[1] for s in samples), default=None)


def percentile(values: Sequence[float], q: float) -> float:
    return float(np.percentile(np.asarray(values) * 1000.0, q)) if values else float("nan")


async def closed_loop(
    n: int, clients: int, call: Callable[[int], Awaitable[object]]
) -> tuple[list[float], float]:
    """``clients`` concurrent callers run requests 0..n-1; (latencies in s, wall s)."""
    latencies: list[float] = []
    counter = iter(range(n))

    async def client() -> None:
        for i in counter:
            start = time.perf_counter()
            await call(i)
            latencies.append(time.perf_counter() - start)

    start = time.perf_counter()
    await asyncio.gather(*(client() for _ in range(clients)))
    return latencies, time.perf_counter() - start


# ---------------------------------------------------------------- workloads


@dataclass
class Workload:
    """One stage's items: a synchronous single-item call and a batch function for a batcher."""

    stage: str
    n: int
    single: Callable[[int], object]
    key: Callable[[int], tuple[Any, float, Any]]  # item -> (batch key, cost, payload)
    batch_fn: Callable[[list[Any]], Sequence[Any]] | None
    policy: BatchPolicy | None


def det_workload(
    pipeline: OcrPipeline, pages: list[Image], opts: OcrOptions, s: Settings
) -> Workload:
    det = pipeline.detector
    tensors = [det.preprocess(page, opts.det)[0] for page in pages]
    engine = det.engine

    def key(i: int) -> tuple[Any, float, Any]:
        t = tensors[i % len(tensors)]
        return (t.shape[2], t.shape[3]), float(t.shape[2] * t.shape[3]), t

    return Workload(
        "det",
        len(tensors),
        lambda i: engine.run(tensors[i % len(tensors)]),
        key,
        det_batch(pipeline),
        policies(s).det,
    )


def rec_workload(
    pipeline: OcrPipeline, pages: list[Image], opts: OcrOptions, s: Settings
) -> Workload:
    rec = pipeline.recognizer
    rows: list[RecRow] = []
    for page in pages:
        crops = make_crops(page, sort_reading_order(pipeline.detector.detect(page, opts.det)))
        rows += rec.preprocess([c.pixels for c in crops])
    step = rec.shape.step_px

    def key(i: int) -> tuple[Any, float, Any]:
        row = rows[i % len(rows)]
        return row.bucket, float(row.bucket), row

    return Workload(
        "rec",
        len(rows),
        lambda i: infer_rows(rec.engine, [rows[i % len(rows)]], 1, step),
        key,
        rec_batch(pipeline),
        policies(s).rec,
    )


async def run_stage_batched(
    w: Workload, requests: int, clients: int
) -> tuple[list[float], float, float]:
    assert w.batch_fn is not None and w.policy is not None
    # closed-loop clients resubmit as soon as they are answered, all within one loop turn, so
    # the batcher sees them together: no upstream to wait for (expecting = False)
    batcher: DynamicBatcher[Any, Any] = DynamicBatcher(w.stage, w.batch_fn, w.policy)
    batcher.start()

    async def call(i: int) -> object:
        k, cost, payload = w.key(i)
        return await batcher.submit(k, cost, payload)

    try:
        lat, wall = await closed_loop(requests, clients, call)
    finally:
        await batcher.stop()
    return lat, wall, requests / max(batcher.batches, 1)


async def run_pipeline_batched(
    pipeline: OcrPipeline,
    pages: list[Image],
    opts: OcrOptions,
    s: Settings,
    requests: int,
    clients: int,
) -> tuple[list[float], float, float, dict[str, Any]]:
    """The server's batched path; mean batch = pages per det batch (cls/rec: batch counts)."""
    flow = Flow()
    batchers = make_batchers(pipeline, policies(s), None, flow.expecting, None)
    for b in batchers.all():
        b.start()
    cpu = ThreadPoolExecutor(s.cpu_workers, thread_name_prefix="bench-cpu")
    bp = BatchedPipeline(pipeline, batchers, flow, cpu)
    try:
        lat, wall = await closed_loop(
            requests, clients, lambda i: bp.run(pages[i % len(pages)], opts)
        )
    finally:
        for b in batchers.all():
            await b.stop()
        cpu.shutdown()
    counts = {"cls_batches": batchers.cls.batches, "rec_batches": batchers.rec.batches}
    return lat, wall, requests / max(batchers.det.batches, 1), counts


# ---------------------------------------------------------------- driver


def make_row(
    stage: str,
    dtype: str,
    graphs: bool,
    mode: str,
    lat: list[float],
    wall: float,
    mean_batch: float,
    m: dict[str, float | None],
) -> Row:
    n = len(lat)
    cpu_s = m.get("cpu_s")
    return Row(
        stage=stage,
        dtype=dtype,
        cuda_graphs=graphs,
        mode=mode,
        items=n,
        items_per_s=n / wall if wall > 0 else float("nan"),
        p50_ms=percentile(lat, 50),
        p95_ms=percentile(lat, 95),
        mean_batch=mean_batch,
        gpu_util_pct=m.get("gpu_util_pct"),
        torch_peak_mb=m.get("torch_peak_mb"),
        device_used_mb=m.get("device_used_mb"),
        cpu_s_per_item=None if cpu_s is None else cpu_s / max(n, 1),
        peak_rss_mb=m.get("peak_rss_mb"),
    )


def bench_config(
    args: argparse.Namespace, pages: list[Image], dtype: str, graphs: bool
) -> list[Row]:
    s = Settings(
        engine="torch",
        torch_device=args.device,
        torch_dtype=dtype,
        torch_cuda_graphs=graphs,
        gpu_device_id=args.device_id,
        intra_op_threads=args.threads,
        rec_batch_size=args.rec_max_batch,
        rec_batch_width=args.rec_batch_width,
        cls_max_batch=args.cls_max_batch,
        det_max_batch=args.det_max_batch,
    )
    pipeline = load_pipeline(s, args.set)
    pipeline.warmup()
    opts = s.ocr_options()
    monitor = DeviceMonitor(args.device, args.device_id)
    rows: list[Row] = []
    workloads = {
        "det": lambda: det_workload(pipeline, pages, opts, s),
        "rec": lambda: rec_workload(pipeline, pages, opts, s),
    }
    for stage in args.stages:
        w = workloads[stage]() if stage in workloads else None
        n_items = w.n if w else len(pages)
        single = w.single if w else (lambda i: pipeline.run(pages[i % len(pages)], opts))
        for i in range(min(n_items, args.requests)):  # warm-up: every shape once (graph capture)
            single(i)
        m: dict[str, float | None] = {}
        lat: list[float] = []
        with monitor.measure(m):
            start = time.perf_counter()
            for i in range(args.requests):
                t = time.perf_counter()
                single(i)
                lat.append(time.perf_counter() - t)
            wall = time.perf_counter() - start
        rows.append(make_row(stage, dtype, graphs, "batch1", lat, wall, 1.0, m))
        print_row(rows[-1])
        for clients in args.concurrency:
            warm = min(args.requests, 2 * clients)  # new batch shapes: tuning, graph capture
            extra: dict[str, Any] = {}
            m = {}
            if w is not None:
                asyncio.run(run_stage_batched(w, warm, clients))
                with monitor.measure(m):
                    lat, wall, mean_batch = asyncio.run(
                        run_stage_batched(w, args.requests, clients)
                    )
            else:
                asyncio.run(run_pipeline_batched(pipeline, pages, opts, s, warm, clients))
                with monitor.measure(m):
                    lat, wall, mean_batch, extra = asyncio.run(
                        run_pipeline_batched(pipeline, pages, opts, s, args.requests, clients)
                    )
            row = make_row(stage, dtype, graphs, f"batched-{clients}", lat, wall, mean_batch, m)
            row.extra = extra
            rows.append(row)
            print_row(row)
    return rows


HEADER = (
    f"{'stage':8} {'dtype':9} {'graphs':6} {'mode':11} {'items':>5} {'items/s':>8} {'p50 ms':>8} "
    f"{'p95 ms':>8} {'batch':>6} {'gpu %':>6} {'torch MB':>9} {'dev MB':>8} {'cpu s/it':>8} "
    f"{'rss MB':>7}"
)


def fmt(v: float | None, spec: str) -> str:
    width = int(spec.split(".")[0])
    return f"{'-':>{width}}" if v is None else format(v, spec)


def print_row(r: Row) -> None:
    print(
        f"{r.stage:8} {r.dtype:9} {r.cuda_graphs!s:6} {r.mode:11} {r.items:5d} "
        f"{r.items_per_s:8.2f} {r.p50_ms:8.1f} {r.p95_ms:8.1f} {r.mean_batch:6.1f} "
        f"{fmt(r.gpu_util_pct, '6.1f')} {fmt(r.torch_peak_mb, '9.0f')} "
        f"{fmt(r.device_used_mb, '8.0f')} {fmt(r.cpu_s_per_item, '8.3f')} "
        f"{fmt(r.peak_rss_mb, '7.0f')}",
        flush=True,
    )


def parse_args(argv: Sequence[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    p.add_argument("--device", choices=["cuda", "cpu"], default="cuda")
    p.add_argument("--device-id", type=int, default=0)
    p.add_argument("--set", default="ppocr-v6-small", help="catalogue model set")
    p.add_argument(
        "--images", nargs="*", default=[], help="files, dirs or globs; default: synthetic"
    )
    p.add_argument("--max-images", type=int, default=32)
    p.add_argument("--synthetic-width", type=int, default=960)
    p.add_argument(
        "--dtypes", default=None, help="comma list; default float32,float16 (cpu: float32)"
    )
    p.add_argument("--cuda-graphs", default=None, help="comma list of off,on (cpu: off)")
    p.add_argument("--concurrency", default="8,32,128", help="batched clients, comma list")
    p.add_argument("--requests", type=int, default=256, help="requests per measurement")
    p.add_argument("--stages", default="det,rec,pipeline")
    p.add_argument("--threads", type=int, default=0, help="CPU intra-op threads (0 = default)")
    p.add_argument("--rec-max-batch", type=int, default=64)
    p.add_argument("--rec-batch-width", type=int, default=None, help="rows x bucket px (cpu: 960)")
    p.add_argument("--cls-max-batch", type=int, default=64)
    p.add_argument("--det-max-batch", type=int, default=8)
    p.add_argument("--quick", action="store_true", help="CPU smoke: 2 small pages, few requests")
    p.add_argument("--out", type=Path, required=True, help="JSON results")
    args = p.parse_args(argv)
    on_cpu = args.device == "cpu"
    args.dtypes = (args.dtypes or ("float32" if on_cpu else "float32,float16")).split(",")
    graphs = (args.cuda_graphs or ("off" if on_cpu else "off,on")).split(",")
    args.cuda_graphs = [g == "on" for g in graphs]
    args.concurrency = [int(c) for c in args.concurrency.split(",")]
    args.stages = args.stages.split(",")
    if args.rec_batch_width is None:  # the service's CPU default bounds RAM; a GPU wants rows
        args.rec_batch_width = 960 if on_cpu else 64 * 960
    if args.quick:
        args.max_images, args.synthetic_width = 2, 480
        args.requests = min(args.requests, 6)
        args.concurrency = [c for c in args.concurrency if c <= 8] or [2]
    return args


def environment(args: argparse.Namespace) -> dict[str, Any]:
    env: dict[str, Any] = {
        "torch": torch.__version__,
        "python": platform.python_version(),
        "cpu_count": os.cpu_count(),
        "device": args.device,
    }
    if args.device == "cuda" and torch.cuda.is_available():
        env["gpu"] = torch.cuda.get_device_name(args.device_id)
        env["cuda"] = torch.version.cuda
        env["cudnn_tf32"] = torch.backends.cudnn.allow_tf32
        env["matmul_tf32"] = torch.backends.cuda.matmul.allow_tf32
    return env


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(argv)
    if args.device == "cuda" and not torch.cuda.is_available():
        print("no CUDA device: use --device cpu for the smoke test", file=sys.stderr)
        return 2
    rng = np.random.default_rng(0)
    pages = load_pages(args.images, args.max_images) if args.images else []
    pages = pages or synthetic_pages(args.max_images, args.synthetic_width, rng)
    print(f"{len(pages)} pages; {environment(args)}")
    print(HEADER)
    rows: list[Row] = []
    for dtype in args.dtypes:
        for graphs in args.cuda_graphs:
            rows += bench_config(args, pages, dtype, graphs)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    result = {
        "environment": environment(args),
        "args": {k: str(v) for k, v in vars(args).items()},
        "rows": [asdict(r) for r in rows],
    }
    args.out.write_text(json.dumps(result, indent=2))
    print(f"wrote {args.out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
