"""The embedded job store: everything in this process (``make run`` needs nothing else).

Jobs are lost when the process ends; with several replicas, use Redis (redis_store.py). Used
from the event loop only. Memory is bounded by the limits: unfinished jobs (OCR_JOB_MAX_QUEUED)
times their body (OCR_JOB_MAX_BYTES), plus finished results until their TTL.
"""

from __future__ import annotations

import asyncio
import time
from collections import OrderedDict, deque
from collections.abc import Callable
from dataclasses import replace

from service.jobs.errors import IdempotencyKeyReused, JobExpired, JobNotFound
from service.jobs.model import Job, JobStatus, Outcome, PageError, PageTask
from service.jobs.store import FULL_RETRY_AFTER_S, JobStore, Limits, Submission
from service.runtime.errors import Overloaded

REMEMBER_GONE = 100_000  # expired job ids remembered (JOB_EXPIRED rather than JOB_NOT_FOUND)


class MemoryJobStore(JobStore):
    def __init__(self, limits: Limits, clock: Callable[[], float] = time.time) -> None:
        self.limits = limits
        self._clock = clock
        self._jobs: dict[str, Job] = {}
        self._inputs: dict[str, dict[int, bytes | PageError]] = {}
        self._outcomes: dict[str, dict[int, Outcome]] = {}
        self._originals: dict[str, bytes] = {}
        self._idempotent: dict[str, tuple[str, str]] = {}  # key -> (job id, body digest)
        self._gone: OrderedDict[str, None] = OrderedDict()
        self._queue: deque[tuple[str, int]] = deque()
        self._queued = asyncio.Event()

    async def submit(self, sub: Submission) -> Job:
        self._expire()
        key = f"{sub.job.spec.tenant}:{sub.idempotency_key}"
        if sub.idempotency_key and key in self._idempotent:
            job_id, digest = self._idempotent[key]
            if digest != sub.body_digest:
                raise IdempotencyKeyReused(_REUSED)
            return await self.get(job_id)
        self._check_limits(sub.job.spec.client)
        job = sub.job
        self._jobs[job.id] = job
        self._inputs[job.id] = dict(enumerate(sub.pages, start=1))
        self._outcomes[job.id] = {}
        if sub.original is not None:
            self._originals[job.id] = sub.original
        if sub.idempotency_key:
            self._idempotent[key] = (job.id, sub.body_digest)
        self._queue.extend((job.id, page) for page in range(1, len(sub.pages) + 1))
        self._queued.set()
        return job

    async def get(self, job_id: str) -> Job:
        self._expire()
        job = self._jobs.get(job_id)
        if job is not None:
            return job
        if job_id in self._gone:
            raise JobExpired(f"job {job_id} expired (results are kept {self.limits.ttl_s:g} s)")
        raise JobNotFound(f"no job {job_id}")

    async def errors(self, job_id: str) -> list[PageError]:
        await self.get(job_id)
        found = self._outcomes[job_id]
        return [found[p] for p in sorted(found) if isinstance(found[p], PageError)]  # type: ignore[misc]

    async def outcomes(self, job_id: str, first: int, last: int) -> list[Outcome | None]:
        await self.get(job_id)
        found = self._outcomes[job_id]
        return [found.get(page) for page in range(first, last + 1)]

    async def original(self, job_id: str) -> bytes | None:
        await self.get(job_id)
        return self._originals.get(job_id)

    async def cancel(self, job_id: str) -> Job:
        job = await self.get(job_id)
        if job.status.finished:
            return job
        self._inputs[job_id].clear()
        return self._put(job.with_status(JobStatus.CANCELED, self._clock(), self.limits.ttl_s))

    async def take(self, consumer: str, wait_s: float) -> PageTask | None:
        if not self._queue:
            self._queued.clear()
            try:
                await asyncio.wait_for(self._queued.wait(), wait_s)
            except TimeoutError:
                return None
        while self._queue:
            job_id, page = self._queue.popleft()
            data = self._inputs.get(job_id, {}).get(page)
            if data is not None:
                return PageTask(job_id, page, data)
        return None

    async def started(self, job_id: str) -> None:
        job = self._jobs.get(job_id)
        if job is not None and job.status is JobStatus.QUEUED:
            self._put(replace(job, status=JobStatus.RUNNING, started_at=self._clock()))

    async def finish(self, task: PageTask, client: str, outcome: Outcome) -> Job | None:
        job = self._jobs.get(task.job_id)
        found = self._outcomes.get(task.job_id)
        if job is None or found is None or task.page in found:
            return None  # gone, or already read (the first outcome stays)
        found[task.page] = outcome
        self._inputs[job.id].pop(task.page, None)
        failed = job.pages_failed + isinstance(outcome, PageError)
        job = self._put(replace(job, pages_done=job.pages_done + 1, pages_failed=failed))
        if job.pages_done < job.pages_total or job.status.finished:
            return None
        final = JobStatus.FAILED if failed == job.pages_total else JobStatus.SUCCEEDED
        return self._put(job.with_status(final, self._clock(), self.limits.ttl_s))

    async def drop(self, task: PageTask) -> None:
        self._inputs.get(task.job_id, {}).pop(task.page, None)

    async def release(self, task: PageTask) -> None:
        self._queue.appendleft((task.job_id, task.page))
        self._queued.set()

    async def queued_pages(self) -> int:
        return sum(len(pages) for pages in self._inputs.values())

    async def close(self) -> None:
        self._queue.clear()

    def _put(self, job: Job) -> Job:
        self._jobs[job.id] = job
        return job

    def _check_limits(self, client: str) -> None:
        unfinished = [j for j in self._jobs.values() if not j.status.finished]
        mine = sum(j.spec.client == client for j in unfinished)
        if len(unfinished) >= self.limits.max_jobs:
            raise Overloaded(
                f"{len(unfinished)} jobs unfinished (limit {self.limits.max_jobs})",
                retry_after_s=FULL_RETRY_AFTER_S,
            )
        if mine >= self.limits.max_jobs_per_client:
            raise Overloaded(
                f"{mine} of your jobs unfinished (limit {self.limits.max_jobs_per_client})",
                retry_after_s=FULL_RETRY_AFTER_S,
            )

    def _expire(self) -> None:
        now = self._clock()
        for job_id in [j.id for j in self._jobs.values() if j.expires_at and j.expires_at < now]:
            del self._jobs[job_id], self._inputs[job_id], self._outcomes[job_id]
            self._originals.pop(job_id, None)
            self._gone[job_id] = None
            if len(self._gone) > REMEMBER_GONE:
                self._gone.popitem(last=False)
        self._idempotent = {k: v for k, v in self._idempotent.items() if v[0] in self._jobs}


_REUSED = "this Idempotency-Key was used with another request body"
