"""Jobs: what the API calls. Submission checks every limit before anything is queued (pages
per job, the callback's allow-list, unfinished jobs in total and per client: inside the
store's insert); status, paged results and cancel read the store, so any replica answers for
any job when the store is Redis.
"""

from __future__ import annotations

import asyncio
import logging
import math
import time
import uuid
from collections.abc import Coroutine
from dataclasses import dataclass, field
from typing import Any

from service.documents.options import PdfLimits, PdfOptions
from service.jobs.callback import Callbacks
from service.jobs.errors import JobNotFinished
from service.jobs.memory import MemoryJobStore
from service.jobs.model import Job, JobSpec, JobStatus, Outcome, PageError
from service.jobs.redis_store import RedisJobStore
from service.jobs.source import DocumentPages, Upload, job_pages
from service.jobs.store import JobStore, Limits, Submission
from service.jobs.worker import JobWorker
from service.runtime.runtime import Runtime
from service.settings import Settings

log = logging.getLogger(__name__)

SECONDS_PER_PAGE = 1.0  # a first guess for Retry-After; a page of dense text takes ~1-2 s here
GAUGE_EVERY_S = 5.0  # how often ocr_job_pages_queued is refreshed from the store


@dataclass(frozen=True)
class Submitted:
    """One submission as the API received it."""

    uploads: list[Upload]
    spec: JobSpec
    pdf: PdfOptions = field(default_factory=PdfOptions)
    idempotency_key: str = ""
    body_digest: str = ""


def make_store(s: Settings) -> JobStore:
    limits = Limits(s.job_max_queued, s.job_max_queued_per_client, s.job_ttl_s)
    if s.redis_url:
        return RedisJobStore(s.redis_url, limits, s.job_claim_idle_s)
    return MemoryJobStore(limits)


class Jobs:
    def __init__(
        self,
        settings: Settings,
        runtime: Runtime,
        store: JobStore,
    ) -> None:
        self.settings = settings
        self.store = store
        self.pdf_limits = PdfLimits(settings.job_max_pages, runtime.limits)
        self.callbacks = Callbacks(settings.job_callback_allow)
        self.metrics = runtime.metrics
        self.worker = JobWorker(
            store, runtime, settings.job_workers, self._finished, runtime.metrics
        )
        self._background: set[asyncio.Task[None]] = set()

    async def start(self) -> None:
        self.worker.start()
        self._spawn(self._gauge())

    async def stop(self) -> None:
        """Pages being read go back to the queue; then the store closes."""
        await self.worker.stop()
        for task in list(self._background):
            task.cancel()
        await asyncio.gather(*self._background, return_exceptions=True)
        await self.store.close()

    async def submit(self, req: Submitted) -> Job:
        self.callbacks.check(req.spec.callback)
        loop = asyncio.get_running_loop()
        source, max_pages = DocumentPages(req.pdf, self.pdf_limits), self.settings.job_max_pages
        pages = await loop.run_in_executor(None, job_pages, req.uploads, source, max_pages)
        job = Job(uuid.uuid4().hex, JobStatus.QUEUED, len(pages), req.spec, time.time())
        original = _only_file(req.uploads)
        sub = Submission(job, pages, original, req.idempotency_key, req.body_digest)
        return await self.store.submit(sub)

    async def original(self, job_id: str) -> bytes | None:
        """The job's one uploaded file (what a searchable PDF is made from), if it had one."""
        return await self.store.original(job_id)

    async def get(self, job_id: str) -> Job:
        return await self.store.get(job_id)

    async def status(self, job_id: str) -> tuple[Job, list[PageError]]:
        job = await self.store.get(job_id)
        return job, await self.store.errors(job_id)

    async def result(self, job_id: str, first: int, last: int) -> tuple[Job, list[Outcome | None]]:
        """Pages ``first``..``last`` (clipped to the job) of a finished job."""
        job = await self.store.get(job_id)
        if not job.status.finished:
            raise JobNotFinished(f"job {job_id} is {job.status.value}", self.poll_after(job))
        last = min(last, job.pages_total)
        return job, await self.store.outcomes(job_id, first, last)

    async def cancel(self, job_id: str) -> Job:
        return await self.store.cancel(job_id)

    def poll_after(self, job: Job) -> int:
        """Retry-After: the pages left at a guessed rate, 1..30 s."""
        left = job.pages_total - job.pages_done
        workers = max(1, self.settings.job_workers)
        return int(min(30, max(1, math.ceil(left * SECONDS_PER_PAGE / workers))))

    def _finished(self, job: Job) -> None:
        log.info("job %s %s: %d pages", job.id, job.status.value, job.pages_total)
        if job.spec.callback:
            self._spawn(self.callbacks.post(job.spec.callback, summary(job)))

    async def _gauge(self) -> None:
        while True:
            try:
                self.metrics.job_pages_queued.set(await self.store.queued_pages())
            except Exception as exc:  # the store is down: keep the last value
                log.debug("job gauge: %r", exc)
            await asyncio.sleep(GAUGE_EVERY_S)

    def _spawn(self, coro: Coroutine[Any, Any, None]) -> None:
        task = asyncio.ensure_future(coro)
        self._background.add(task)
        task.add_done_callback(self._background.discard)


def _only_file(uploads: list[Upload]) -> bytes | None:
    return uploads[0] if len(uploads) == 1 and isinstance(uploads[0], bytes) else None


def summary(job: Job) -> dict[str, object]:
    """What a completion callback carries: enough to fetch the result (no messages, no text)."""
    return {
        "id": job.id,
        "status": job.status.value,
        "pages_total": job.pages_total,
        "pages_failed": job.pages_failed,
        "result_url": f"/v1/jobs/{job.id}/result",
    }
