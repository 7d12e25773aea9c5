"""JobWorker: reads job pages on this replica, ``OCR_JOB_WORKERS`` at a time.

Each page goes through ``Runtime.ocr`` like an upload (cache, single flight, admission by cost,
the same batchers) with ``background=True``: its engine work queues behind interactive
requests. When the server is saturated, admission refuses the page (Overloaded) and the worker
waits and tries again: the page stays this worker's, nothing fails. A page that times out
(its items were passed by interactive ones) is tried ``ATTEMPTS`` times before it fails.

Takes new pages only while the runtime is ready: a draining replica (SIGTERM) stops taking
them, and ``stop()`` gives the pages being read back to the queue for another replica.
"""

from __future__ import annotations

import asyncio
import logging
import os
import socket
from collections.abc import Callable

from service.jobs.errors import JobExpired, JobNotFound
from service.jobs.model import Job, Outcome, PageError, PageTask, page_error
from service.jobs.store import JobStore
from service.metrics import Metrics
from service.ocr.errors import OcrError
from service.runtime.errors import Retryable, Timeout
from service.runtime.runtime import Runtime

log = logging.getLogger(__name__)

TAKE_WAIT_S = 1.0  # longest wait for a page before looking at the runtime's state again
IDLE_S = 0.5  # pause while the runtime is not ready, or after a store failure
ATTEMPTS = 3  # a page that times out this often fails with TIMEOUT
MAX_BACKOFF_S = 10.0  # longest pause between tries while the store does not answer


def consumer_name() -> str:
    """This process among the replicas: host (the pod's name) and pid."""
    return f"{socket.gethostname()}:{os.getpid()}"


class JobWorker:
    def __init__(
        self,
        store: JobStore,
        runtime: Runtime,
        concurrency: int,
        on_finished: Callable[[Job], None],
        metrics: Metrics,
    ) -> None:
        self.store = store
        self.runtime = runtime
        self.concurrency = concurrency
        self.consumer = consumer_name()
        self._on_finished = on_finished
        self._metrics = metrics
        self._tasks: list[asyncio.Task[None]] = []

    def start(self) -> None:
        loop = asyncio.get_running_loop()
        self._tasks = [loop.create_task(self._loop()) for _ in range(self.concurrency)]

    async def stop(self) -> None:
        """Stop taking pages; those being read go back to the queue."""
        for task in self._tasks:
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        self._tasks = []

    async def _loop(self) -> None:
        failures = 0
        while True:
            if not self.runtime.ready:
                await asyncio.sleep(IDLE_S)
                continue
            try:
                task = await self.store.take(self.consumer, TAKE_WAIT_S)
                if task is not None:
                    await self._process(task)
            except asyncio.CancelledError:
                raise
            except Exception as exc:  # a store failure: the page stays pending, taken over later
                failures += 1
                log.warning("job worker: store error (%s: %s); retrying", type(exc).__name__, exc)
                await asyncio.sleep(min(MAX_BACKOFF_S, IDLE_S * 2**failures))
            else:
                failures = 0

    async def _process(self, task: PageTask) -> None:
        """One page; cancelled (stop()), it goes back to the queue whatever step it was at
        (recording is idempotent: a page released after its outcome was written is only
        acknowledged when it comes round again)."""
        try:
            await self._handle(task)
        except asyncio.CancelledError:
            await asyncio.shield(self.store.release(task))
            self._metrics.job_pages.labels("released").inc()
            raise

    async def _handle(self, task: PageTask) -> None:
        try:
            job = await self.store.get(task.job_id)
        except (JobNotFound, JobExpired):
            job = None
        if job is None or job.status.finished:  # cancelled or gone: nothing to read
            await self.store.drop(task)
            return
        await self.store.started(job.id)
        outcome = await self._read(job, task)
        self._metrics.job_pages.labels("error" if isinstance(outcome, PageError) else "ok").inc()
        finished = await self.store.finish(task, job.spec.client, outcome)
        if finished is not None:
            self._on_finished(finished)

    async def _read(self, job: Job, task: PageTask) -> Outcome:
        if isinstance(task.data, PageError):  # could not be made at submission
            return task.data
        timeouts = 0
        while True:
            try:
                return await self._ocr(job, task.data)
            except Timeout as exc:
                timeouts += 1
                if timeouts == ATTEMPTS:
                    return page_error(task.page, exc)
            except Retryable as exc:  # saturated: wait for our turn, the page stays ours
                await asyncio.sleep(exc.retry_after_s)
            except OcrError as exc:
                return page_error(task.page, exc)
            except Exception:
                log.exception("job %s page %d failed", job.id, task.page)
                return PageError(task.page, "INTERNAL", "internal error; see the server log")

    async def _ocr(self, job: Job, data: bytes) -> bytes:
        spec = job.spec
        options = self.runtime.options.updated(spec.overrides)
        answer = await self.runtime.ocr(data, spec.model_set, options, spec.tenant, background=True)
        return answer.body
