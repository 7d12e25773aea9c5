"""Runtime: everything the API needs to answer, with its lifecycle.

starting -> (models loaded, every bucket shape warmed, batchers running) ready -> draining
(SIGTERM: /readyz 503, queued work finishes) -> stopped.

``ocr(data, ...)`` is the request path after the HTTP layer: cache lookup (image digest +
pipeline fingerprint) -> single flight -> header -> admission by cost (admission.py: memory
budget, expected finishing time) -> decode -> the reading flow on the batchers -> the exported
JSON document, stored as bytes and served as they are on a later hit.
"""

from __future__ import annotations

import asyncio
import dataclasses
import functools
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
from typing import Any, ParamSpec, TypeVar

from models.registry.catalogue import Catalogue, CatalogueError
from service import __version__
from service.batching.policy import BatchPolicy
from service.cache import ResultCache, cache_key, image_digest, make_cache
from service.documents.document import pages_of
from service.documents.options import PdfOptions
from service.documents.pdf import PageInfo, PdfSource
from service.documents.reading import read_pdf
from service.fields.document import result_document
from service.metrics import Metrics
from service.ocr import export
from service.ocr.decode import Header, decode_image, read_header, sniff_format
from service.ocr.pipeline import OcrPipeline
from service.ocr.quality import refuse_poor
from service.ocr.types import OcrOptions, OcrResult
from service.runtime.admission import (
    Backlog,
    Cost,
    Hold,
    MemoryBudget,
    det_pixels,
    document_cost,
    estimate,
)
from service.runtime.batched import Flow, ServedSet, on_pool
from service.runtime.documents import ServedPages
from service.runtime.errors import NotReady, Overloaded, Timeout, TooCostly, UnknownModelSet
from service.runtime.loader import catalogue_from_settings, load_pipeline, missing_runtime
from service.runtime.memory import IdleRelease, set_malloc_policy, trim_heap
from service.runtime.singleflight import SingleFlight
from service.runtime.stages import StagePolicies, make_batchers, release_memory
from service.settings import Settings

log = logging.getLogger(__name__)

Loader = Callable[[Settings, str], OcrPipeline]
T = TypeVar("T")
PS = ParamSpec("PS")


class State(StrEnum):
    STARTING = "starting"
    READY = "ready"
    DRAINING = "draining"
    STOPPED = "stopped"


HASH_INLINE_BYTES = 256 * 1024  # larger uploads are hashed off the event loop
PRIOR_UNITS_PER_S = 0.5  # the rate assumed until measured: ~0.4 receipts/s (2 cores do ~2)
RELEASE_IDLE_S = 2.0  # memory goes back to the OS after this long without work
BACKGROUND_STAGES = 3  # a background request may wait OCR_JOB_LAG_S more at each stage


@dataclass(frozen=True)
class Answer:
    """One image's or PDF's result: the exported document, as JSON bytes and parsed."""

    body: bytes  # export.export_result(...) encoded: what the cache holds
    doc: dict[str, Any]
    model_set: str
    cached: bool

    def response(self, rid: str) -> bytes:
        """The HTTP JSON body: the cached bytes with request_id and cached spliced in."""
        head = json.dumps({"request_id": rid}, ensure_ascii=False)[:-1].encode()
        tail = b',"cached":' + (b"true" if self.cached else b"false") + b"}"
        return head + b"," + self.body[1:-1] + tail


def parse_cached(data: bytes) -> dict[str, Any] | None:
    """A cached document, or None when the entry does not decode (a miss, never a 500)."""
    try:
        doc = json.loads(data)
    except (ValueError, UnicodeDecodeError):
        return None
    ok = isinstance(doc, dict) and "text" in doc
    ok = ok and (isinstance(doc.get("lines"), list) or isinstance(doc.get("pages"), list))
    return doc if ok else None


def policies(s: Settings) -> StagePolicies:
    return StagePolicies(
        det=BatchPolicy(s.det_max_batch, float(s.det_batch_pixels), s.det_max_wait_ms / 1000),
        cls=BatchPolicy(s.cls_max_batch, None, s.cls_max_wait_ms / 1000),
        rec=BatchPolicy(s.rec_batch_size, float(s.rec_batch_width), s.rec_max_wait_ms / 1000),
    )


def fingerprint(
    pipeline: OcrPipeline, options: OcrOptions, tenant: str = "", pdf: PdfOptions | None = None
) -> str:
    """Everything that changes a result: service version, model set + file digests, options
    (not ``quality``: strict refuses a document, it does not change it; for a PDF, how it
    becomes pages); and the API key's id, so that one client's results are never another's
    cache hits."""
    doc: dict[str, Any] = {
        "service": __version__,
        "schema": export.SCHEMA,
        "model_set": pipeline.name,
        "versions": pipeline.versions,
        "reading": pipeline.reading_config(),
        "options": dataclasses.asdict(dataclasses.replace(options, quality="warn")),
    }
    if tenant:
        doc["tenant"] = tenant
    if pdf is not None:
        doc["pdf"] = dataclasses.asdict(pdf)
    return hashlib.sha256(json.dumps(doc, sort_keys=True).encode()).hexdigest()


class Runtime:
    def __init__(
        self,
        settings: Settings,
        metrics: Metrics | None = None,
        loader: Loader = load_pipeline,
        catalogue: Catalogue | None = None,
    ) -> None:
        # before the worker and request threads exist: a thread's first malloc picks its arena
        set_malloc_policy(settings.malloc_mmap_threshold, settings.malloc_arena_max)
        self.settings = settings
        self.metrics = metrics or Metrics(gpu=False)
        self.catalogue = catalogue or catalogue_from_settings(settings)
        self.default_set = self.catalogue.get(settings.model_set).name
        self.state = State.STARTING
        self.pipelines: dict[str, ServedSet] = {}
        self.cache: ResultCache = make_cache(
            settings.redis_url,
            settings.cache_memory_bytes,
            settings.cache_ttl_s,
            settings.cache_timeout_ms / 1000,
            self.metrics,
        )
        self.limits = settings.decode_limits()
        self.pdf_limits = settings.pdf_limits()
        self.pdf_options = settings.pdf_options()  # what every request's PDF options start from
        self.options = settings.ocr_options()  # what every request's options start from
        self.inflight = 0
        self._loader = loader
        self._flights: SingleFlight[Answer] = SingleFlight()
        self._cpu = ThreadPoolExecutor(settings.cpu_workers, thread_name_prefix="ocr-cpu")
        n = settings.inference_concurrency
        self._gate = threading.Semaphore(n) if n else None
        self._background: set[asyncio.Task[None]] = set()
        self.budget = MemoryBudget(settings.memory_budget_bytes)
        self.backlog = Backlog(PRIOR_UNITS_PER_S)
        self.admit_within_s = settings.admit_within_s or 0.75 * settings.request_timeout_s
        self.idle = IdleRelease(RELEASE_IDLE_S, self.release_memory)

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
            self.pipelines[name] = ServedSet(pipeline, batchers, flow, self._cpu)
            self._record_model(pipeline, name == self.default_set)
            log.info("model set %s loaded and warmed on %s", name, pipeline.engine)
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
        await self.idle.close()
        if self._background:
            await asyncio.gather(*self._background, return_exceptions=True)
        await self.cache.close()
        self._cpu.shutdown(wait=True)
        self.state = State.STOPPED

    async def release_memory(self) -> None:
        """Engine arenas and glibc's free heap back to the OS (runtime/memory.py)."""
        for served in self.pipelines.values():
            await release_memory(served.pipeline, served.batchers)
        await asyncio.get_running_loop().run_in_executor(self._cpu, trim_heap)

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

    def _retry_after(self, wait_s: float = 0.0) -> int:
        """Seconds until the work in flight is done (or, given, until ``wait_s`` has passed)."""
        wait_s = wait_s or self.backlog.expected_s(0.0)
        return int(min(30, max(1, math.ceil(wait_s))))

    def check_options(self, options: OcrOptions) -> None:
        """Per-request options that multiply the cost, against the server's caps (422)."""
        limit = self.settings.max_beam_width
        if options.decoder == "beam" and options.beam_width > limit:
            raise TooCostly(f"beam_width {options.beam_width} is over this server's {limit}")

    def _cost(self, served: ServedSet, header: Header, options: OcrOptions, body: int) -> Cost:
        det_px = det_pixels(served.pipeline.detector, header, options.det)
        if det_px > self.settings.max_det_pixels:
            raise TooCostly(
                f"detecting text in this {header.width}x{header.height} image with "
                f"det_limit_side_len={options.det.limit_side_len} ({options.det.limit_type}) "
                f"takes {det_px} detector pixels; this server allows "
                f"{self.settings.max_det_pixels}: ask for a smaller det_limit_side_len"
            )
        return estimate(header, det_px, body)

    @contextmanager
    def _admitted(self, cost: Cost) -> Iterator[Hold]:
        """Refuse (429) what would pass the memory budget or finish after ``admit_within_s``;
        hold the admitted request's bytes and work until it leaves."""
        expected = self.backlog.expected_s(cost.units)
        if expected > self.admit_within_s and self.backlog.units > 0:
            raise Overloaded(
                f"the work in flight takes ~{expected:.0f} s; requests must finish within "
                f"{self.admit_within_s:g} s",
                retry_after_s=self._retry_after(expected - self.admit_within_s),
            )
        self.budget.check(cost.decode_bytes, self._retry_after())
        self.backlog.start(cost.units, asyncio.get_running_loop().time())
        self.idle.started()
        done = False
        try:
            with self.budget.hold(cost.decode_bytes) as held:
                yield held
                done = True
        finally:
            self.backlog.finish(cost.units, asyncio.get_running_loop().time(), done)
            self.idle.finished()

    @contextmanager
    def holding(self, nbytes: int) -> Iterator[None]:
        """Hold ``nbytes`` of the memory budget for work outside a reading (drawing a result on
        its image again): 429 when they do not fit now, 413 when they never would."""
        self.budget.check(nbytes, self._retry_after())
        with self.budget.hold(nbytes):
            yield

    # -- the request path ----------------------------------------------------------------------

    def resolve(self, name: str | None) -> ServedSet:
        try:
            key = self.catalogue.get(name or self.default_set).name
        except CatalogueError as exc:
            raise UnknownModelSet(str(exc)) from exc
        if key not in self.pipelines:
            served = ", ".join(sorted(self.pipelines))
            raise UnknownModelSet(f"model set {key!r} is not served here; served: {served}")
        return self.pipelines[key]

    async def ocr(
        self,
        data: bytes,
        model_set: str | None,
        options: OcrOptions,
        tenant: str = "",
        pdf: PdfOptions | None = None,
        background: bool = False,
    ) -> Answer:
        """An image's or a PDF's result (``pdf``: how a PDF becomes pages; default the
        server's). ``tenant`` (the API key's id) partitions the cache and the single flight;
        ``background`` (job pages) queues the engine work behind interactive requests. With
        ``quality="strict"`` a result with a poor-quality warning on any page, cached or fresh,
        is an error."""
        answer = await self._answer(data, model_set, options, tenant, pdf, background)
        if options.quality == "strict":
            refuse_poor([w for page in pages_of(answer.doc) for w in page.get("warnings", [])])
        return answer

    async def _answer(
        self,
        data: bytes,
        model_set: str | None,
        options: OcrOptions,
        tenant: str,
        pdf: PdfOptions | None,
        background: bool,
    ) -> Answer:
        lag_s = self.settings.job_lag_s if background else 0.0
        limit_s = self.settings.request_timeout_s + BACKGROUND_STAGES * lag_s
        served = self.resolve(model_set)
        self.check_options(options)
        pdf = (pdf or self.pdf_options) if sniff_format(data) == "PDF" else None
        fp = fingerprint(served.pipeline, options, tenant, pdf)
        try:
            async with asyncio.timeout(limit_s):
                key = cache_key(await self._digest(data), fp)
                hit = await self._cached(key, served.name)
                if hit is not None:
                    return hit
                answer, shared = await self._flights.do(
                    key, lambda: self._compute(served, data, options, key, pdf, lag_s)
                )
        except TimeoutError as exc:
            raise Timeout(f"no result within {limit_s:g} s") from exc
        if shared:
            self.metrics.singleflight_shared.inc()
        return answer

    async def _digest(self, data: bytes) -> str:
        return await self._off_loop(image_digest, data)

    async def on_cpu(self, fn: Callable[PS, T], *args: PS.args, **kwargs: PS.kwargs) -> T:
        """``fn`` on the CPU pool (work too long for the event loop: rendering a format)."""
        return await on_pool(self._cpu, fn, *args, **kwargs)

    async def _off_loop(self, fn: Callable[[bytes], T], data: bytes) -> T:
        """``fn(data)`` inline for small uploads, on the CPU pool for large ones."""
        if len(data) <= HASH_INLINE_BYTES:
            return fn(data)
        return await asyncio.get_running_loop().run_in_executor(self._cpu, fn, data)

    async def _cached(self, key: str, model_set: str) -> Answer | None:
        body = await self.cache.get(key)
        if body is None:
            return None
        doc = parse_cached(body)
        if doc is None:  # overwritten by this request's own result
            log.warning("cache entry %s… does not decode: recomputing", key[:16])
            self.metrics.cache_corrupt.inc()
            return None
        return Answer(body, doc, model_set, cached=True)

    async def _compute(
        self,
        served: ServedSet,
        data: bytes,
        options: OcrOptions,
        key: str,
        pdf: PdfOptions | None,
        lag_s: float = 0.0,
    ) -> Answer:
        if pdf is not None:
            return self._store(key, await self._read_pdf(served, data, options, pdf), served)
        header = await self._off_loop(functools.partial(read_header, limits=self.limits), data)
        cost = self._cost(served, header, options, len(data))
        with self._admitted(cost) as held:
            held.pending = self._cpu.submit(decode_image, data, self.limits)
            image = await asyncio.wrap_future(held.pending)
            held.pending = None
            held.lower(cost.held_bytes)
            result = await served.read(image, options, lag_s)
        self._observe(result)
        return self._store(key, result_document(result, options), served)

    async def _read_pdf(
        self, served: ServedSet, data: bytes, options: OcrOptions, pdf: PdfOptions
    ) -> dict[str, Any]:
        """Open (every limit checked, nothing rendered) -> admission by the cost of all its
        pages -> the pages through the batchers -> the PDF's document."""
        at_once = self.settings.pdf_pages_at_once
        steps = ServedPages(served, self._cpu, at_once, self._observe)
        source = await steps.cpu(PdfSource.open, data, pdf, self.pdf_limits)
        try:
            read = [p for p in source.pages if not (pdf.skip_text_pages and p.text_layer)]
            with self._admitted(self._pdf_cost(served, read, options, len(data))):
                return await read_pdf(steps, source, options, pdf.skip_text_pages)
        finally:
            self._cpu.submit(source.close)  # PDFium's lock may be held by a render still running

    def _pdf_cost(
        self, served: ServedSet, pages: list[PageInfo], options: OcrOptions, body: int
    ) -> Cost:
        costs = [self._cost(served, page.header(), options, 0) for page in pages]
        return document_cost(costs, body, self.settings.pdf_pages_at_once)

    def _observe(self, result: OcrResult) -> None:
        for stage, ms in result.timings_ms.items():
            self.metrics.stage_latency.labels(stage, result.model_set).observe(ms / 1000)

    def _store(self, key: str, doc: dict[str, Any], served: ServedSet) -> Answer:
        """The computed document as the answer, and into the cache (in the background)."""
        body = export.encode(doc)
        task = asyncio.create_task(self.cache.set(key, body))
        self._background.add(task)
        task.add_done_callback(self._background.discard)
        return Answer(body, doc, served.name, cached=False)
