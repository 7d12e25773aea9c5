"""Where jobs live: one interface, two implementations (memory.py, redis_store.py).

A store keeps each job's record, its pages' inputs until they are read, each page's outcome
(first one wins: a page read twice after a takeover keeps one result), and the queue of pages
to read. Limits on unfinished jobs are checked inside ``submit`` together with the insert, so
that two submissions cannot both take the last place.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Sequence
from dataclasses import dataclass

from service.jobs.model import Job, Outcome, PageError, PageTask

FULL_RETRY_AFTER_S = 10  # Retry-After when the job limits are reached (jobs take a while)


@dataclass(frozen=True)
class Limits:
    max_jobs: int  # unfinished jobs in total
    max_jobs_per_client: int
    ttl_s: float  # a job is kept this long after it finished


@dataclass(frozen=True)
class Submission:
    job: Job
    pages: Sequence[bytes | PageError]  # page 1 first
    original: bytes | None = None  # the one uploaded file, kept for format=pdf
    idempotency_key: str = ""  # "" = none; scoped by the job's tenant
    body_digest: str = ""  # what the key must come with again


class JobStore(ABC):
    @abstractmethod
    async def submit(self, sub: Submission) -> Job:
        """Store and queue a job; an idempotent repeat returns the first job instead. Raises
        Overloaded (limits) or IdempotencyKeyReused."""

    @abstractmethod
    async def get(self, job_id: str) -> Job:
        """The job, or JobNotFound / JobExpired."""

    @abstractmethod
    async def errors(self, job_id: str) -> list[PageError]:
        """The pages that failed, in page order."""

    @abstractmethod
    async def outcomes(self, job_id: str, first: int, last: int) -> list[Outcome | None]:
        """Pages ``first``..``last`` (1-based, inclusive); None where not read (yet)."""

    @abstractmethod
    async def original(self, job_id: str) -> bytes | None:
        """The job's one uploaded file (kept as long as the job), or None."""

    @abstractmethod
    async def cancel(self, job_id: str) -> Job:
        """Cancel an unfinished job (its unread pages are dropped); a finished one is as is."""

    @abstractmethod
    async def take(self, consumer: str, wait_s: float) -> PageTask | None:
        """The next page to read (an orphaned one first), or None after ``wait_s``."""

    @abstractmethod
    async def started(self, job_id: str) -> None:
        """A page of the job is being read: queued -> running."""

    @abstractmethod
    async def finish(self, task: PageTask, client: str, outcome: Outcome) -> Job | None:
        """Record a page's outcome and acknowledge it; the job when this page finished it."""

    @abstractmethod
    async def drop(self, task: PageTask) -> None:
        """Acknowledge a page without an outcome (its job was cancelled or is gone)."""

    @abstractmethod
    async def release(self, task: PageTask) -> None:
        """Put a page taken but not read back in the queue (a draining replica)."""

    @abstractmethod
    async def queued_pages(self) -> int:
        """Pages queued or being read, in this store (all replicas for Redis)."""

    @abstractmethod
    async def close(self) -> None: ...
