"""The values a job is made of, and how they are written to a store (flat strings and tagged
bytes, so that the in-process and the Redis store keep exactly the same things)."""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field, replace
from enum import StrEnum
from typing import Any

from service.ocr.errors import OcrError


class JobStatus(StrEnum):
    QUEUED = "queued"
    RUNNING = "running"
    SUCCEEDED = "succeeded"  # every page read; some may have failed on their own (errors)
    FAILED = "failed"  # every page failed
    CANCELED = "canceled"

    @property
    def finished(self) -> bool:
        return self in (JobStatus.SUCCEEDED, JobStatus.FAILED, JobStatus.CANCELED)


@dataclass(frozen=True)
class PageError:
    page: int  # 1-based, as people count pages
    code: str
    message: str


@dataclass(frozen=True)
class JobSpec:
    """What a job reads its pages with: the request's own option overrides (flat names), so
    that any replica applies them to its configured defaults."""

    model_set: str | None = None
    overrides: dict[str, Any] = field(default_factory=dict)
    tenant: str = ""  # the API key's id: the result cache partition
    client: str = ""  # who the per-client limit counts (API key id, else address)
    callback: str = ""  # an allow-listed URL posted to when the job finishes
    pdf_pages: str = ""  # the PDF pages chosen (pages=); "" = all: page n of the job is page n


@dataclass(frozen=True)
class Job:
    id: str
    status: JobStatus
    pages_total: int
    spec: JobSpec
    created_at: float
    pages_done: int = 0  # read or failed
    pages_failed: int = 0
    started_at: float | None = None
    finished_at: float | None = None
    expires_at: float | None = None

    def with_status(self, status: JobStatus, now: float, ttl_s: float) -> Job:
        return replace(self, status=status, finished_at=now, expires_at=now + ttl_s)


@dataclass(frozen=True)
class PageTask:
    """One page handed to a worker. ``token``: the store's handle to acknowledge or release it
    (Redis: the stream entry id)."""

    job_id: str
    page: int
    data: bytes | PageError  # the page image, or why it could not be made at submission
    token: str = ""


Outcome = bytes | PageError  # a page's exported JSON document, or its error

_NONE = ""


def job_fields(job: Job) -> dict[str, str]:
    """A job as a flat string map (a Redis hash)."""

    def opt(v: float | None) -> str:
        return _NONE if v is None else repr(v)

    return {
        "id": job.id,
        "status": job.status.value,
        "total": str(job.pages_total),
        "done": str(job.pages_done),
        "failed": str(job.pages_failed),
        "spec": json.dumps(asdict(job.spec), sort_keys=True),
        "created": repr(job.created_at),
        "started": opt(job.started_at),
        "finished": opt(job.finished_at),
        "expires": opt(job.expires_at),
    }


def job_from_fields(f: dict[str, str]) -> Job:
    def opt(key: str) -> float | None:
        v = f.get(key, _NONE)
        return None if v == _NONE else float(v)

    return Job(
        id=f["id"],
        status=JobStatus(f["status"]),
        pages_total=int(f["total"]),
        spec=JobSpec(**json.loads(f["spec"])),
        created_at=float(f["created"]),
        pages_done=int(f.get("done", "0")),
        pages_failed=int(f.get("failed", "0")),
        started_at=opt("started"),
        finished_at=opt("finished"),
        expires_at=opt("expires"),
    )


def page_error(page: int, exc: OcrError) -> PageError:
    return PageError(page, exc.code, exc.message)


def encode_error(err: PageError) -> bytes:
    return json.dumps(asdict(err), ensure_ascii=False).encode()


def decode_error(data: bytes) -> PageError:
    return PageError(**json.loads(data))


# tagged bytes: a page's input (image or error) and its outcome (document or error)
_DATA, _ERROR = b"D", b"E"


def encode_tagged(value: bytes | PageError) -> bytes:
    if isinstance(value, PageError):
        return _ERROR + encode_error(value)
    return _DATA + value


def decode_tagged(raw: bytes) -> bytes | PageError:
    if raw[:1] == _ERROR:
        return decode_error(raw[1:])
    return raw[1:]
