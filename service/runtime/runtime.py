"""Runtime: everything the API needs to answer, with its lifecycle.

starting -> (models loaded, every bucket shape warmed, batchers running) ready -> draining
(SIGTERM: /readyz 503, queued work finishes) -> stopped.

``ocr(data, ...)`` is the request path after the HTTP layer: cache lookup (image digest +
pipeline fingerprint) -> single flight -> decode -> batched pipeline -> cache store.
"""

from __future__ import annotations

import asyncio
import dataclasses
import hashlib
import json
import logging
import math
import threading
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass
from enum import StrEnum

from models.registry.catalogue import Catalogue, CatalogueError
from service import __version__
from service.batching.policy import BatchPolicy
from service.cache import ResultCache, cache_key, image_digest, make_cache
from service.metrics import Metrics
from service.ocr.decode import DecodeLimits, decode_image
from service.ocr.errors import NotReady, Overloaded, Timeout, UnknownModelSet
from service.ocr.loader import catalogue_from_settings, load_pipeline, missing_runtime
from service.ocr.pipeline import OcrPipeline
from service.ocr.types import OcrOptions, OcrResult
from service.runtime import result_codec
from service.runtime.batched import BatchedPipeline, Flow
from service.runtime.singleflight import SingleFlight
from service.runtime.stages import StagePolicies, make_batchers
from service.settings import Settings

log = logging.getLogger(__name__)

Loader = Callable[[Settings, str], OcrPipeline]


class State(StrEnum):
    STARTING = "starting"
    READY = "ready"
    DRAINING = "draining"
    STOPPED = "stopped"


@dataclass(frozen=True)
class Answer:
    result: OcrResult
    cached: bool


def policies(s: Settings) -> StagePolicies:
    return StagePolicies(
        det=BatchPolicy(s.det_max_batch, float(s.det_batch_pixels), s.det_max_wait_ms / 1000),
        cls=BatchPolicy(s.cls_max_batch, None, s.cls_max_wait_ms / 1000),
        rec=BatchPolicy(s.rec_batch_size, float(s.rec_batch_width), s.rec_max_wait_ms / 1000),
    )


def fingerprint(pipeline: OcrPipeline, options: OcrOptions) -> str:
    """Everything that changes a result: service version, model set + file digests, options."""
    doc = {
        "service": __version__,
        "schema": result_codec.SCHEMA,
        "model_set": pipeline.name,
        "versions": pipeline.versions,
        "options": dataclasses.asdict(options),
    }
    return hashlib.sha256(json.dumps(doc, sort_keys=True).encode()).hexdigest()


class Runtime:
    def __init__(
        self,
        settings: Settings,
        metrics: Metrics | None = None,
        loader: Loader = load_pipeline,
        catalogue: Catalogue | None = None,
    ) -> None:
        self.settings = settings
        self.metrics = metrics or Metrics(gpu=False)
        self.catalogue = catalogue or catalogue_from_settings(settings)
        self.default_set = self.catalogue.get(settings.model_set).name
        self.state = State.STARTING
        self.pipelines: dict[str, BatchedPipeline] = {}
        self.cache: ResultCache = make_cache(
            settings.redis_url,
            settings.cache_memory_bytes,
            settings.cache_ttl_s,
            settings.cache_timeout_ms / 1000,
            self.metrics,
        )
        self.limits = DecodeLimits(
            max_bytes=settings.max_upload_bytes,
            max_pixels=settings.max_image_pixels,
            max_side=settings.max_image_side,
        )
        self.inflight = 0
        self._loader = loader
        self._flights: SingleFlight[OcrResult] = SingleFlight()
        self._cpu = ThreadPoolExecutor(settings.cpu_workers, thread_name_prefix="ocr-cpu")
        n = settings.inference_concurrency
        self._gate = threading.Semaphore(n) if n else None
        self._background: set[asyncio.Task[None]] = set()

    # -- lifecycle -----------------------------------------------------------------------------

    def set_names(self) -> list[str]:
        wanted = self.settings.serve_model_sets.strip()
        if wanted == "all":  # every set this install can run; naming one that it cannot fails
            runnable = []
            for name, ms in sorted(self.catalogue.sets.items()):
                lacking = missing_runtime(ms)
                if lacking:
                    log.warning("not serving model set %s: needs the %s extra", name, lacking)
                else:
                    runnable.append(name)
            return runnable
        names = [self.default_set] + [n.strip() for n in wanted.split(",") if n.strip()]
        resolved = [self.catalogue.get(n).name for n in names]
        return list(dict.fromkeys(resolved))

    async def start(self) -> None:
        """Load every served model set, warm every bucket shape, start the batchers."""
        loop = asyncio.get_running_loop()
        for name in self.set_names():
            pipeline = await loop.run_in_executor(None, self._loader, self.settings, name)
            await loop.run_in_executor(None, pipeline.warmup)
            flow = Flow()
            batchers = make_batchers(
                pipeline, policies(self.settings), self.metrics, flow.expecting, self._gate
            )
            for b in batchers.all():
                b.start()
            self.pipelines[name] = BatchedPipeline(pipeline, batchers, flow, self._cpu)
            self._record_model(pipeline, name == self.default_set)
            log.info("model set %s loaded and warmed", name)
        self.state = State.READY
        self.metrics.ready.set(1)

    def begin_drain(self) -> None:
        if self.state in (State.STARTING, State.READY):
            log.info("draining: /readyz now 503; %d requests in flight", self.inflight)
            self.state = State.DRAINING
            self.metrics.ready.set(0)

    async def stop(self) -> None:
        """Finish everything queued, then release engines, pools and the cache."""
        self.begin_drain()
        for bp in self.pipelines.values():
            for b in bp.batchers.all():
                await b.stop(drain=True)
        if self._background:
            await asyncio.gather(*self._background, return_exceptions=True)
        await self.cache.close()
        self._cpu.shutdown(wait=True)
        self.state = State.STOPPED

    @property
    def ready(self) -> bool:
        return self.state is State.READY

    def _record_model(self, p: OcrPipeline, default: bool) -> None:
        ms = self.catalogue.get(p.name)
        v = p.versions
        self.metrics.model_info.labels(
            p.name, ms.version, v["det"], v["cls"], v["rec"], str(int(default))
        ).set(1)

    # -- admission -----------------------------------------------------------------------------

    @contextmanager
    def admit(self, images: int = 1) -> Iterator[None]:
        """Refuse at once (nothing queued, nothing lost) when not started or saturated.

        Draining still admits: until the listener closes, a load balancer may route requests
        here, and serving them loses nothing (readiness is what turns the traffic away)."""
        if self.state not in (State.READY, State.DRAINING):
            raise NotReady(f"service is {self.state.value}", retry_after_s=5)
        if self.inflight + images > self.settings.max_inflight:
            raise Overloaded(
                f"{self.inflight} requests in flight (limit {self.settings.max_inflight})",
                retry_after_s=self._retry_after(),
            )
        for bp in self.pipelines.values():
            for b, limit in zip(bp.batchers.all(), self._queue_limits(), strict=True):
                if b.depth >= limit:
                    raise Overloaded(
                        f"{b.stage} queue is full ({b.depth} items)",
                        retry_after_s=self._retry_after(),
                    )
        self.inflight += images
        try:
            yield
        finally:
            self.inflight -= images

    def _queue_limits(self) -> tuple[int, int, int]:
        s = self.settings
        return (s.det_max_queue, s.cls_max_queue, s.rec_max_queue)

    def _retry_after(self) -> int:
        backlog = max(
            (b.depth * b.item_seconds for bp in self.pipelines.values() for b in bp.batchers.all()),
            default=0.0,
        )
        return int(min(30, max(1, math.ceil(backlog))))

    # -- the request path ----------------------------------------------------------------------

    def resolve(self, name: str | None) -> BatchedPipeline:
        try:
            key = self.catalogue.get(name or self.default_set).name
        except CatalogueError as exc:
            raise UnknownModelSet(str(exc)) from exc
        if key not in self.pipelines:
            served = ", ".join(sorted(self.pipelines))
            raise UnknownModelSet(f"model set {key!r} is not served here; served: {served}")
        return self.pipelines[key]

    async def ocr(self, data: bytes, model_set: str | None, options: OcrOptions) -> Answer:
        bp = self.resolve(model_set)
        key = cache_key(image_digest(data), fingerprint(bp.pipeline, options))
        try:
            async with asyncio.timeout(self.settings.request_timeout_s):
                hit = await self.cache.get(key)
                if hit is not None:
                    return Answer(result_codec.loads(hit), cached=True)
                result, shared = await self._flights.do(
                    key, lambda: self._compute(bp, data, options, key)
                )
        except TimeoutError as exc:
            raise Timeout(f"no result within {self.settings.request_timeout_s:g} s") from exc
        if shared:
            self.metrics.singleflight_shared.inc()
        return Answer(result, cached=False)

    async def _compute(
        self, bp: BatchedPipeline, data: bytes, options: OcrOptions, key: str
    ) -> OcrResult:
        loop = asyncio.get_running_loop()
        image = await loop.run_in_executor(self._cpu, decode_image, data, self.limits)
        result = await bp.run(image, options)
        for stage, ms in result.timings_ms.items():
            self.metrics.stage_latency.labels(stage, bp.name).observe(ms / 1000)
        task = asyncio.create_task(self.cache.set(key, result_codec.dumps(result)))
        self._background.add(task)
        task.add_done_callback(self._background.discard)
        return result
