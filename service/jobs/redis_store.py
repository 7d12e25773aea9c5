"""The job store in Redis: every replica accepts jobs, answers for any job and reads pages.

Pages are entries of one Redis Stream read by one consumer group (``XREADGROUP``): each entry
goes to one replica and stays in that replica's pending list until it acknowledges it
(``XACK``). A replica that dies leaves its entries pending; after ``OCR_JOB_CLAIM_IDLE_S``
another takes them over (``XAUTOCLAIM``). Delivery is at least once, so recording a page is
idempotent: its outcome is written with ``HSETNX`` (the first result stays; a page read twice
never has two results) and the progress counters move only when that write happened, all in
one Lua script. Why Streams rather than RQ, arq or Celery: see docs/DESIGN.md.

Keys (prefix ``ocr:jobs:v1:``): ``job:{id}`` (hash: the record, job_fields), ``job:{id}:in``
(page -> tagged input, deleted as pages are read), ``job:{id}:out`` (page -> tagged outcome),
``job:{id}:err`` (page -> error), ``job:{id}:src`` (a one-file job's upload, for
format=pdf), ``gone:{id}`` (outlives the job: JOB_EXPIRED), ``idem:...``,
``active`` and ``active:{client}`` (sorted sets of unfinished jobs, scored by when they stop
counting), and the stream ``pages``. An unfinished job's keys never expire (a Redis with
``maxmemory-policy volatile-lru`` evicts cache entries, never a job in progress); a finished
or cancelled job's keys expire ``OCR_JOB_TTL_S`` later.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

import redis.asyncio as aioredis
from redis.exceptions import RedisError, ResponseError

from service.jobs.errors import IdempotencyKeyReused, JobExpired, JobNotFound
from service.jobs.model import (
    Job,
    Outcome,
    PageError,
    PageTask,
    decode_error,
    decode_tagged,
    encode_error,
    encode_tagged,
    job_fields,
    job_from_fields,
)
from service.jobs.store import FULL_RETRY_AFTER_S, JobStore, Limits, Submission
from service.runtime.errors import NotReady, Overloaded

log = logging.getLogger(__name__)

PREFIX = "ocr:jobs:v1:"
GROUP = "workers"
Arg = str | bytes | int | float  # what a Lua script takes
GONE_TTL_FACTOR = 7  # an expired job is told apart from an unknown one this many TTLs long

_SUBMIT = """
if ARGV[7] == '1' then
  local seen = redis.call('GET', KEYS[1])
  if seen then return {'seen', seen} end
end
local now, ttl = tonumber(ARGV[3]), tonumber(ARGV[6])
redis.call('ZREMRANGEBYSCORE', KEYS[2], '-inf', now)
redis.call('ZREMRANGEBYSCORE', KEYS[3], '-inf', now)
if redis.call('ZCARD', KEYS[2]) >= tonumber(ARGV[4]) then return {'full', 'total'} end
if redis.call('ZCARD', KEYS[3]) >= tonumber(ARGV[5]) then return {'full', 'client'} end
redis.call('ZADD', KEYS[2], now + ttl, ARGV[1])
redis.call('ZADD', KEYS[3], now + ttl, ARGV[1])
redis.call('HSET', KEYS[4], unpack(ARGV, 9))
if ARGV[7] == '1' then redis.call('SET', KEYS[1], ARGV[1] .. ' ' .. ARGV[2], 'EX', ttl) end
return {'ok', ARGV[1]}
"""

_FINISH = """
if redis.call('EXISTS', KEYS[1]) == 0 then return 0 end
if redis.call('HSETNX', KEYS[2], ARGV[1], ARGV[2]) == 0 then return 0 end
redis.call('HDEL', KEYS[4], ARGV[1])
if ARGV[3] ~= '' then
  redis.call('HSET', KEYS[3], ARGV[1], ARGV[3])
  redis.call('HINCRBY', KEYS[1], 'failed', 1)
end
local done = redis.call('HINCRBY', KEYS[1], 'done', 1)
local now, ttl = tonumber(ARGV[4]), tonumber(ARGV[5])
local status = redis.call('HGET', KEYS[1], 'status')
if done < tonumber(redis.call('HGET', KEYS[1], 'total')) or status == 'canceled' then
  return 1
end
local final = 'succeeded'
if tonumber(redis.call('HGET', KEYS[1], 'failed') or '0') >= done then final = 'failed' end
redis.call('HSET', KEYS[1], 'status', final, 'finished', ARGV[4], 'expires', tostring(now + ttl))
for i = 1, 4 do redis.call('EXPIRE', KEYS[i], ttl) end
redis.call('EXPIRE', KEYS[8], ttl)
redis.call('SET', KEYS[7], '1', 'EX', ttl * tonumber(ARGV[7]))
redis.call('ZREM', KEYS[5], ARGV[6])
redis.call('ZREM', KEYS[6], ARGV[6])
return 2
"""

_CANCEL = """
local status = redis.call('HGET', KEYS[1], 'status')
if status == 'queued' or status == 'running' then
  local now, ttl = tonumber(ARGV[1]), tonumber(ARGV[2])
  redis.call('HSET', KEYS[1], 'status', 'canceled', 'finished', ARGV[1],
             'expires', tostring(now + ttl))
  redis.call('DEL', KEYS[2])
  redis.call('ZREM', KEYS[3], ARGV[3])
  redis.call('ZREM', KEYS[4], ARGV[3])
  for i = 5, 6 do redis.call('EXPIRE', KEYS[i], ttl) end
  redis.call('EXPIRE', KEYS[8], ttl)
  redis.call('EXPIRE', KEYS[1], ttl)
  redis.call('SET', KEYS[7], '1', 'EX', ttl * tonumber(ARGV[4]))
end
return status
"""

_STARTED = """
if redis.call('HGET', KEYS[1], 'status') == 'queued' then
  redis.call('HSET', KEYS[1], 'status', 'running', 'started', ARGV[1])
end
return 1
"""


class StoreUnavailable(NotReady):
    """Redis did not answer: jobs cannot be submitted or read now (503 + Retry-After)."""


def _key(*parts: str) -> str:
    return PREFIX + ":".join(parts)


def _text(raw: dict[bytes, bytes]) -> dict[str, str]:
    return {k.decode(): v.decode() for k, v in raw.items()}


class RedisJobStore(JobStore):
    def __init__(
        self,
        url: str,
        limits: Limits,
        claim_idle_s: float,
        block_s: float = 1.0,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.limits = limits
        self.claim_idle_ms = int(claim_idle_s * 1000)
        self._clock = clock
        self._stream = _key("pages")
        self._client: aioredis.Redis = aioredis.from_url(
            url, socket_timeout=block_s + 10, socket_connect_timeout=5
        )
        self._submit = self._client.register_script(_SUBMIT)
        self._finish = self._client.register_script(_FINISH)
        self._cancel = self._client.register_script(_CANCEL)
        self._started = self._client.register_script(_STARTED)
        self._group_ready = False

    # -- the API's side ----------------------------------------------------------------------

    async def submit(self, sub: Submission) -> Job:
        job, ttl = sub.job, int(self.limits.ttl_s)
        spec = job.spec
        with _unavailable():
            keys = [
                _key("idem", spec.tenant, sub.idempotency_key),
                _key("active"),
                _key("active", spec.client),
                _key("job", job.id),
            ]
            flat = [x for kv in job_fields(job).items() for x in kv]
            args: list[Arg] = [job.id, sub.body_digest, self._clock(), self.limits.max_jobs]
            args += [self.limits.max_jobs_per_client, ttl, "1" if sub.idempotency_key else "0"]
            args += [GONE_TTL_FACTOR]
            verdict, detail = await self._submit(keys=keys, args=[*args, *flat])
            if verdict == b"seen":
                return await self._repeat(detail.decode(), sub.body_digest)
            if verdict == b"full":
                raise Overloaded(self._full_message(detail.decode()), FULL_RETRY_AFTER_S)
            await self._queue(job.id, sub.pages, sub.original)
        return job

    async def get(self, job_id: str) -> Job:
        with _unavailable():
            raw: dict[bytes, bytes] = await self._client.hgetall(_key("job", job_id))  # type: ignore[assignment]
            if raw:
                return job_from_fields(_text(raw))
            if await self._client.exists(_key("gone", job_id)):
                raise JobExpired(f"job {job_id} expired (results are kept {self.limits.ttl_s:g} s)")
        raise JobNotFound(f"no job {job_id}")

    async def errors(self, job_id: str) -> list[PageError]:
        await self.get(job_id)
        with _unavailable():
            raw: dict[bytes, bytes] = await self._client.hgetall(_key("job", job_id, "err"))  # type: ignore[assignment]
        return sorted((decode_error(v) for v in raw.values()), key=lambda e: e.page)

    async def outcomes(self, job_id: str, first: int, last: int) -> list[Outcome | None]:
        await self.get(job_id)
        pages = [str(p) for p in range(first, last + 1)]
        with _unavailable():
            raw: list[bytes | None] = (
                await self._client.hmget(_key("job", job_id, "out"), pages) if pages else []  # type: ignore[assignment]
            )
        return [None if v is None else decode_tagged(v) for v in raw]

    async def original(self, job_id: str) -> bytes | None:
        await self.get(job_id)
        with _unavailable():
            data: bytes | None = await self._client.get(_key("job", job_id, "src"))  # type: ignore[assignment]
        return data

    async def cancel(self, job_id: str) -> Job:
        job = await self.get(job_id)
        keys = [_key("job", job_id), _key("job", job_id, "in"), _key("active")]
        keys += [_key("active", job.spec.client)]
        keys += [_key("job", job_id, "out"), _key("job", job_id, "err"), _key("gone", job_id)]
        keys += [_key("job", job_id, "src")]
        args: list[Arg] = [self._clock(), int(self.limits.ttl_s), job_id, GONE_TTL_FACTOR]
        with _unavailable():
            await self._cancel(keys=keys, args=args)
        return await self.get(job_id)

    async def queued_pages(self) -> int:
        with _unavailable():
            return int(await self._client.xlen(self._stream))

    # -- the workers' side -------------------------------------------------------------------

    async def take(self, consumer: str, wait_s: float) -> PageTask | None:
        await self._ensure_group()
        entry = await self._orphan(consumer) or await self._next(consumer, wait_s)
        if entry is None:
            return None
        token, fields = entry
        job_id, page = fields[b"job"].decode(), int(fields[b"page"])
        data: bytes | None = await self._client.hget(  # type: ignore[assignment]
            _key("job", job_id, "in"), str(page)
        )
        task = PageTask(job_id, page, b"", token)
        if data is None:  # cancelled, expired, or read already: nothing to do
            await self.drop(task)
            return None
        return PageTask(job_id, page, decode_tagged(data), token)

    async def started(self, job_id: str) -> None:
        await self._started(keys=[_key("job", job_id)], args=[self._clock()])

    async def finish(self, task: PageTask, client: str, outcome: Outcome) -> Job | None:
        j = task.job_id
        keys = [_key("job", j), _key("job", j, "out"), _key("job", j, "err"), _key("job", j, "in")]
        keys += [_key("active"), _key("active", client), _key("gone", j), _key("job", j, "src")]
        error = encode_error(outcome) if isinstance(outcome, PageError) else b""
        args: list[Arg] = [task.page, encode_tagged(outcome), error, self._clock()]
        args += [int(self.limits.ttl_s), j, GONE_TTL_FACTOR]
        verdict = await self._finish(keys=keys, args=args)
        await self.drop(task)
        return await self.get(j) if verdict == 2 else None

    async def drop(self, task: PageTask) -> None:
        async with self._client.pipeline(transaction=True) as pipe:
            pipe.xack(self._stream, GROUP, task.token)
            pipe.xdel(self._stream, task.token)
            await pipe.execute()

    async def release(self, task: PageTask) -> None:
        async with self._client.pipeline(transaction=True) as pipe:
            pipe.xadd(self._stream, {"job": task.job_id, "page": str(task.page)})
            pipe.xack(self._stream, GROUP, task.token)
            pipe.xdel(self._stream, task.token)
            await pipe.execute()

    async def close(self) -> None:
        try:
            await self._client.aclose()
        except (RedisError, OSError) as exc:
            log.debug("closing the job store's redis client failed: %r", exc)

    # -- helpers -----------------------------------------------------------------------------

    async def _repeat(self, seen: str, digest: str) -> Job:
        job_id, _, first_digest = seen.partition(" ")
        if first_digest != digest:
            raise IdempotencyKeyReused("this Idempotency-Key was used with another request body")
        return await self.get(job_id)

    def _full_message(self, which: str) -> str:
        if which == "client":
            return f"{self.limits.max_jobs_per_client} of your jobs are unfinished (the limit)"
        return f"{self.limits.max_jobs} jobs are unfinished (the limit)"

    async def _queue(self, job_id: str, pages: Any, original: bytes | None) -> None:
        inputs = {str(n): encode_tagged(p) for n, p in enumerate(pages, start=1)}
        async with self._client.pipeline(transaction=True) as pipe:
            if original is not None:
                pipe.set(_key("job", job_id, "src"), original)
            pipe.hset(_key("job", job_id, "in"), mapping=inputs)  # type: ignore[arg-type]
            for page in inputs:
                pipe.xadd(self._stream, {"job": job_id, "page": page})
            await pipe.execute()

    async def _ensure_group(self) -> None:
        if self._group_ready:
            return
        try:
            await self._client.xgroup_create(self._stream, GROUP, id="0", mkstream=True)
        except ResponseError as exc:
            if "BUSYGROUP" not in str(exc):
                raise
        self._group_ready = True

    async def _orphan(self, consumer: str) -> tuple[str, dict[bytes, bytes]] | None:
        """A page another consumer took ``claim_idle_ms`` ago and never acknowledged."""
        reply: Any = await self._client.xautoclaim(
            self._stream, GROUP, consumer, self.claim_idle_ms, "0-0", count=1
        )
        claimed = [(i, f) for i, f in reply[1] if f]
        if not claimed:
            return None
        token, fields = claimed[0]
        log.warning("took over page %s of job %s", fields[b"page"], fields[b"job"].decode())
        return token.decode(), fields

    async def _next(self, consumer: str, wait_s: float) -> tuple[str, dict[bytes, bytes]] | None:
        reply: Any = await self._client.xreadgroup(
            GROUP, consumer, {self._stream: ">"}, count=1, block=int(wait_s * 1000)
        )
        if not reply:
            return None
        token, fields = reply[0][1][0]
        return token.decode(), fields


@contextmanager
def _unavailable() -> Iterator[None]:
    try:
        yield
    except (RedisError, OSError) as exc:
        reason = type(exc).__name__
        raise StoreUnavailable(f"the job store (redis) did not answer: {reason}") from exc
