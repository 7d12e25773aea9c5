"""Every Prometheus metric of the service: prefixed ``ocr_``, units in the name, bounded labels.

One ``Metrics`` object per app, on its own ``CollectorRegistry`` (tests build many apps in one
process). Label values come from small fixed sets only: route templates (never raw paths),
status codes, error codes, stage names (det/cls/rec), model set names from the catalogue.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator

from prometheus_client import (
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
    PlatformCollector,
    ProcessCollector,
)
from prometheus_client.core import GaugeMetricFamily
from prometheus_client.registry import Collector

log = logging.getLogger(__name__)

LATENCY_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30)
WAIT_BUCKETS = (0.0001, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 5)
SIZE_BUCKETS = (1, 2, 3, 4, 6, 8, 12, 16, 24, 32, 48, 64, 128)


class Metrics:
    def __init__(self, registry: CollectorRegistry | None = None, gpu: bool = True) -> None:
        r = self.registry = registry or CollectorRegistry()
        ProcessCollector(registry=r)  # process_resident_memory_bytes, cpu seconds, fds
        PlatformCollector(registry=r)
        self.http_requests = Counter(
            "ocr_http_requests_total", "HTTP requests.", ["route", "method", "status"], registry=r
        )
        self.http_latency = Histogram(
            "ocr_http_request_duration_seconds",
            "HTTP request latency, body read to response.",
            ["route", "status"],
            buckets=LATENCY_BUCKETS,
            registry=r,
        )
        self.in_flight = Gauge(
            "ocr_http_requests_in_flight", "Requests being handled.", ["route"], registry=r
        )
        self.errors = Counter(
            "ocr_errors_total", "Error responses by stable error code.", ["code"], registry=r
        )
        self.images = Counter(
            "ocr_images_total",
            "Images answered, by model set, model version and cache outcome.",
            ["model_set", "version", "cached"],
            registry=r,
        )
        self.stage_latency = Histogram(
            "ocr_stage_duration_seconds",
            "Per-image wall time of a pipeline stage (queueing included).",
            ["stage", "model_set"],
            buckets=LATENCY_BUCKETS,
            registry=r,
        )
        self.batch_size = Histogram(
            "ocr_batch_size",
            "Items per engine call.",
            ["stage"],
            buckets=SIZE_BUCKETS,
            registry=r,
        )
        self.batch_wait = Histogram(
            "ocr_batch_wait_seconds",
            "Time an item waited in its stage queue before its batch ran.",
            ["stage"],
            buckets=WAIT_BUCKETS,
            registry=r,
        )
        self.batch_latency = Histogram(
            "ocr_batch_duration_seconds",
            "Engine time per batch.",
            ["stage"],
            buckets=LATENCY_BUCKETS,
            registry=r,
        )
        self.queue_depth = Gauge(
            "ocr_queue_depth", "Items waiting in a stage queue.", ["stage"], registry=r
        )
        self.batch_retries = Counter(
            "ocr_batch_retries_total",
            "Batches that failed and were retried item by item.",
            ["stage"],
            registry=r,
        )
        self.dropped_items = Counter(
            "ocr_batch_dropped_items_total",
            "Queued items dropped before inference (their request was cancelled or timed out).",
            ["stage"],
            registry=r,
        )
        self.cache_requests = Counter(
            "ocr_cache_requests_total",
            "Result cache lookups by outcome (hit, miss, error).",
            ["backend", "result"],
            registry=r,
        )
        self.cache_corrupt = Counter(
            "ocr_cache_corrupt_total",
            "Cache entries that did not decode: treated as a miss and overwritten.",
            registry=r,
        )
        self.cache_errors = Counter(
            "ocr_cache_errors_total",
            "Result cache backend failures (the request was served uncached).",
            ["backend", "op"],
            registry=r,
        )
        self.cache_bytes = Gauge(
            "ocr_cache_bytes", "Bytes held by the in-process cache.", ["backend"], registry=r
        )
        self.singleflight_shared = Counter(
            "ocr_singleflight_shared_total",
            "Requests answered by an identical request already being computed.",
            registry=r,
        )
        self.model_info = Gauge(
            "ocr_model_info",
            "Loaded model sets (value 1); default=1 marks the default set.",
            ["model_set", "version", "det", "cls", "rec", "default"],
            registry=r,
        )
        self.ready = Gauge("ocr_ready", "1 when /readyz answers 200.", registry=r)
        self.job_pages_queued = Gauge(
            "ocr_job_pages_queued",
            "Job pages queued or being read (with Redis: all replicas'; the HPA scales on it).",
            registry=r,
        )
        self.job_pages = Counter(
            "ocr_job_pages_total",
            "Job pages read here, by outcome (ok, error, released back to the queue).",
            ["outcome"],
            registry=r,
        )
        if gpu:
            r.register(NvmlCollector())


class NvmlCollector(Collector):
    """GPU utilisation and memory via NVML. Emits nothing where there is no NVIDIA GPU or no
    ``pynvml``; never raises into a scrape."""

    def __init__(self) -> None:
        self._nvml = _init_nvml()

    def collect(self) -> Iterator[GaugeMetricFamily]:
        nv = self._nvml
        if nv is None:
            return
        util = GaugeMetricFamily(
            "ocr_gpu_utilization_ratio", "GPU busy fraction (NVML).", labels=["gpu"]
        )
        used = GaugeMetricFamily("ocr_gpu_memory_used_bytes", "GPU memory used.", labels=["gpu"])
        total = GaugeMetricFamily("ocr_gpu_memory_total_bytes", "GPU memory.", labels=["gpu"])
        try:
            for i in range(nv.nvmlDeviceGetCount()):
                handle = nv.nvmlDeviceGetHandleByIndex(i)
                rates = nv.nvmlDeviceGetUtilizationRates(handle)
                mem = nv.nvmlDeviceGetMemoryInfo(handle)
                util.add_metric([str(i)], rates.gpu / 100.0)
                used.add_metric([str(i)], float(mem.used))
                total.add_metric([str(i)], float(mem.total))
        except Exception as exc:  # a scrape must never fail because of the GPU
            log.debug("NVML read failed: %s", exc)
            return
        yield from (util, used, total)


def _init_nvml():  # type: ignore[no-untyped-def]
    try:
        import pynvml

        pynvml.nvmlInit()
        return pynvml
    except Exception:  # no package, no driver, no GPU: the metrics are simply absent
        return None
