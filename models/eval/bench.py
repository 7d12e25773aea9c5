"""Timing harness shared by `ocr bench` and the peer runner (benchmarks/peer_runner.py).

Stdlib + psutil only, so any venv can import it with the repo root on sys.path. Call
`set_thread_env(n)` BEFORE importing numpy/onnxruntime/paddle: most math libraries read their
thread variables once, at import.
"""

from __future__ import annotations

import json
import os
import platform
import resource
import statistics
import sys
import time
from collections.abc import Iterable, Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import psutil

THREAD_ENV_VARS = (
    "OMP_NUM_THREADS",
    "OMP_THREAD_LIMIT",
    "MKL_NUM_THREADS",
    "OPENBLAS_NUM_THREADS",
    "BLIS_NUM_THREADS",
    "NUMEXPR_NUM_THREADS",
    "VECLIB_MAXIMUM_THREADS",
)
# ru_maxrss is KiB on Linux, bytes on macOS.
_MAXRSS_TO_BYTES = 1 if sys.platform == "darwin" else 1024


def set_thread_env(threads: int) -> dict[str, str]:
    """Pin every common math-library thread variable to `threads`; returns what was set."""
    if threads < 1:
        raise ValueError(f"threads must be >= 1, got {threads}")
    values = {name: str(threads) for name in THREAD_ENV_VARS}
    os.environ.update(values)
    return values


def thread_env() -> dict[str, str]:
    """The thread variables currently in the environment."""
    return {name: os.environ[name] for name in THREAD_ENV_VARS if name in os.environ}


def percentile(values: Iterable[float], q: float) -> float:
    """q-th percentile (0..100) with linear interpolation between order statistics."""
    data = sorted(values)
    if not data:
        raise ValueError("percentile of an empty sequence")
    if not 0.0 <= q <= 100.0:
        raise ValueError(f"q must be in [0, 100], got {q}")
    pos = (len(data) - 1) * q / 100.0
    lo = int(pos)
    hi = min(lo + 1, len(data) - 1)
    return data[lo] + (data[hi] - data[lo]) * (pos - lo)


def cpu_model() -> str:
    """The CPU's model name (from /proc/cpuinfo on Linux), else the architecture."""
    try:
        with open("/proc/cpuinfo", encoding="utf-8") as fh:
            for line in fh:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def peak_rss_bytes() -> int:
    """Peak resident set size of this process (and of any waited-for child), in bytes."""
    own = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * _MAXRSS_TO_BYTES
    children = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss * _MAXRSS_TO_BYTES
    return max(own, children, psutil.Process().memory_info().rss)


class BenchRecorder:
    """Records model load time and per-image latency for one (system, dataset, threads) run."""

    def __init__(
        self, system: str, dataset: str, threads: int, config: Mapping[str, Any] | None = None
    ) -> None:
        self.system = system
        self.dataset = dataset
        self.threads = threads
        self.config: dict[str, Any] = dict(config or {})
        self.latencies_s: list[float] = []
        self.load_s: float | None = None
        self.cold_start_s: float | None = None
        self._loop_start: float | None = None
        self._loop_end: float | None = None
        self._peak_rss = 0
        self._process = psutil.Process()
        self._loadavg_start = os.getloadavg()

    @contextmanager
    def load(self) -> Iterator[None]:
        """Time model construction: `with rec.load(): engine = Peer(...)`."""
        start = time.perf_counter()
        yield
        self.load_s = time.perf_counter() - start
        self._sample_rss()

    @contextmanager
    def measure(self) -> Iterator[None]:
        """Time one image end to end: `with rec.measure(): result = engine(image)`."""
        start = time.perf_counter()
        if self._loop_start is None:
            self._loop_start = start
        yield
        end = time.perf_counter()
        self.record(end - start, end=end)

    def record(self, seconds: float, end: float | None = None) -> None:
        """Add one latency measured elsewhere; `end` is its perf_counter end time, if known."""
        end = time.perf_counter() if end is None else end
        if self._loop_start is None:
            self._loop_start = end - seconds
        self._loop_end = end
        if self.cold_start_s is None:
            self.cold_start_s = time.time() - self._process.create_time()
        self.latencies_s.append(seconds)
        self._sample_rss()

    def _sample_rss(self) -> None:
        self._peak_rss = max(self._peak_rss, self._process.memory_info().rss)

    def summary(self) -> dict[str, Any]:
        """The run's figures; latency in ms, memory in MiB, times in seconds."""
        lat_ms = [s * 1000.0 for s in self.latencies_s]
        n = len(lat_ms)
        wall = (self._loop_end or 0.0) - (self._loop_start or 0.0)
        return {
            "system": self.system,
            "dataset": self.dataset,
            "threads": self.threads,
            "n_images": n,
            "latency_ms": {
                "median": statistics.median(lat_ms) if n else None,
                "p95": percentile(lat_ms, 95.0) if n else None,
                "mean": statistics.fmean(lat_ms) if n else None,
                "each": [round(v, 1) for v in lat_ms],  # in image order: pooled over datasets
            },
            "images_per_s": n / wall if n and wall > 0 else None,
            "peak_rss_mb": max(self._peak_rss, peak_rss_bytes()) / 2**20,
            "cold_start_s": self.cold_start_s,
            "load_s": self.load_s,
            "thread_env": thread_env(),
            # 1-minute load average before/after: a busy machine shows up here, not in latency
            "loadavg_1m": {"start": self._loadavg_start[0], "end": os.getloadavg()[0]},
            "machine": {
                "cpus": os.cpu_count(),
                "cpu": cpu_model(),
                "python": platform.python_version(),
            },
            "config": self.config,
        }


def write_predictions(path: str | Path, records: Iterable[Mapping[str, Any]]) -> int:
    """Write one JSON object per line (UTF-8, non-ASCII kept); returns the record count."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    count = 0
    with path.open("w", encoding="utf-8") as fh:
        for rec in records:
            fh.write(json.dumps(rec, ensure_ascii=False) + "\n")
            count += 1
    return count


def read_jsonl(path: str | Path) -> list[dict[str, Any]]:
    """Read a JSON-lines file (predictions or dataset labels), skipping blank lines."""
    with Path(path).open(encoding="utf-8") as fh:
        return [json.loads(line) for line in fh if line.strip()]


def write_summary(path: str | Path, summary: Mapping[str, Any]) -> None:
    """Write a summary dict as indented JSON."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(summary, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
