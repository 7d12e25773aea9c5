"""Result cache: Redis, or an in-process LRU when no Redis is configured.

The cache is an optimisation, never a dependency: ``ResultCache`` fails open (a broken backend
means a miss and an uncached request, not an error), and a circuit breaker keeps a dead Redis from
adding its timeout to every request. Values are opaque bytes (the serialised result); keys come
from ``cache_key(image_digest(data), pipeline_fingerprint)``.
"""

from __future__ import annotations

import asyncio
import hashlib
import logging
import time
from collections import OrderedDict
from collections.abc import Awaitable, Callable
from typing import Protocol, TypeVar

import redis.asyncio as aioredis
from redis.asyncio.retry import Retry
from redis.backoff import NoBackoff
from redis.exceptions import RedisError

from service.metrics import Metrics

log = logging.getLogger(__name__)

KEY_PREFIX = "ocr:v1:"  # bump the version when the cached value's format changes
FINGERPRINT_CHARS = 16
_SHA256_HEX = frozenset("0123456789abcdef")

Clock = Callable[[], float]
T = TypeVar("T")


class CacheUnavailable(Exception):
    """The cache backend could not answer (connection, timeout, server error)."""


def image_digest(data: bytes) -> str:
    """SHA-256 hex digest of the raw image bytes: the image part of the cache key.

    SHA-256, not MD5: the key must be collision resistant. MD5 collisions can be crafted in
    seconds, so a client could upload an image whose MD5 equals another customer's image and be
    answered with that customer's cached text.
    """
    return hashlib.sha256(data).hexdigest()


def cache_key(image_digest: str, fingerprint: str) -> str:
    """``ocr:v1:<first 16 hex of the pipeline fingerprint>:<image sha256 hex>``."""
    if len(image_digest) != 64 or not _SHA256_HEX.issuperset(image_digest):
        raise ValueError(f"image_digest must be a lower-case sha256 hex digest: {image_digest!r}")
    if len(fingerprint) < FINGERPRINT_CHARS:
        raise ValueError(f"fingerprint needs at least {FINGERPRINT_CHARS} characters")
    return f"{KEY_PREFIX}{fingerprint[:FINGERPRINT_CHARS]}:{image_digest}"


class CacheBackend(Protocol):
    """Where cached bytes live. Implementations raise ``CacheUnavailable``, nothing else, when
    they cannot answer."""

    name: str

    async def get(self, key: str) -> bytes | None: ...

    async def set(self, key: str, value: bytes, ttl_s: int) -> None: ...

    async def close(self) -> None: ...


class NullCache:
    """Caching off: every lookup misses, nothing is stored."""

    name = "none"

    async def get(self, key: str) -> bytes | None:
        return None

    async def set(self, key: str, value: bytes, ttl_s: int) -> None:
        return None

    async def close(self) -> None:
        return None


class MemoryCache:
    """In-process LRU bounded by total bytes (``len(key) + len(value)`` per entry; keys are
    ASCII), with a TTL per entry. Not thread-safe: use it from the event loop only."""

    name = "memory"

    def __init__(self, max_bytes: int, clock: Clock = time.monotonic) -> None:
        if max_bytes < 0:
            raise ValueError(f"max_bytes must be >= 0, got {max_bytes}")
        self.max_bytes = max_bytes
        self._clock = clock
        self._entries: OrderedDict[str, tuple[bytes, float]] = OrderedDict()  # oldest first
        self._bytes = 0

    @property
    def bytes_used(self) -> int:
        return self._bytes

    def __len__(self) -> int:
        return len(self._entries)

    async def get(self, key: str) -> bytes | None:
        entry = self._entries.get(key)
        if entry is None:
            return None
        value, expires_at = entry
        if self._clock() >= expires_at:
            self._remove(key)
            return None
        self._entries.move_to_end(key)
        return value

    async def set(self, key: str, value: bytes, ttl_s: int) -> None:
        if ttl_s <= 0:
            raise ValueError(f"ttl_s must be > 0, got {ttl_s}")
        self._remove(key)  # an oversized new value must not leave the old one behind
        size = len(key) + len(value)
        if size > self.max_bytes:
            return
        self._entries[key] = (value, self._clock() + ttl_s)
        self._bytes += size
        while self._bytes > self.max_bytes:
            old_key, (old_value, _) = self._entries.popitem(last=False)
            self._bytes -= len(old_key) + len(old_value)

    async def close(self) -> None:
        self._entries.clear()
        self._bytes = 0

    def _remove(self, key: str) -> None:
        entry = self._entries.pop(key, None)
        if entry is not None:
            self._bytes -= len(key) + len(entry[0])


class RedisCache:
    """Redis backend. Every operation is bounded by ``timeout_s`` (connect included) and any
    failure surfaces as ``CacheUnavailable``.

    One immediate retry on connection errors: after a Redis restart the pooled sockets are dead,
    and redis-py does not notice until a command fails on one; the retry reconnects at once
    instead of failing that request (measured: without it the first command after a restart
    fails with "Connection closed by server").
    """

    name = "redis"

    def __init__(
        self,
        url: str,
        timeout_s: float = 0.1,
        key_prefix: str = "",
        health_check_interval_s: float = 30.0,
    ) -> None:
        if timeout_s <= 0:
            raise ValueError(f"timeout_s must be > 0, got {timeout_s}")
        self.timeout_s = timeout_s
        self.key_prefix = key_prefix
        self._client: aioredis.Redis = aioredis.from_url(
            url,
            socket_timeout=timeout_s,
            socket_connect_timeout=timeout_s,
            health_check_interval=health_check_interval_s,
            retry=Retry(NoBackoff(), 1),
        )

    async def get(self, key: str) -> bytes | None:
        value = await self._bounded("GET", lambda: self._client.get(self.key_prefix + key))
        if value is None or isinstance(value, bytes):
            return value
        raise CacheUnavailable(f"redis GET returned {type(value).__name__}, expected bytes")

    async def set(self, key: str, value: bytes, ttl_s: int) -> None:
        if ttl_s <= 0:
            raise ValueError(f"ttl_s must be > 0, got {ttl_s}")
        await self._bounded("SET", lambda: self._client.set(self.key_prefix + key, value, ex=ttl_s))

    async def close(self) -> None:
        try:
            await self._client.aclose()
        except (RedisError, OSError) as exc:
            log.debug("closing the redis client failed: %r", exc)

    async def _bounded(self, op: str, call: Callable[[], Awaitable[T]]) -> T:
        try:
            async with asyncio.timeout(self.timeout_s):
                return await call()
        except (RedisError, OSError) as exc:  # TimeoutError is an OSError
            raise CacheUnavailable(f"redis {op} failed: {type(exc).__name__}: {exc}") from exc


class ResultCache:
    """What the service uses: fail-open get/set with metrics, a circuit breaker and rate-limited
    logging around one backend.

    After a backend failure the backend is skipped for ``retry_after_s`` (lookups count as
    ``result="error"``, stores are dropped); then one call probes it while the others keep
    skipping. ``cache_errors`` counts real backend failures only.
    """

    def __init__(
        self,
        backend: CacheBackend,
        metrics: Metrics | None,
        ttl_s: int,
        log_interval_s: float = 30.0,
        retry_after_s: float = 1.0,
        clock: Clock = time.monotonic,
    ) -> None:
        if ttl_s <= 0:
            raise ValueError(f"ttl_s must be > 0, got {ttl_s}")
        if log_interval_s < 0 or retry_after_s < 0:
            raise ValueError("log_interval_s and retry_after_s must be >= 0")
        self.backend = backend
        self.ttl_s = ttl_s
        self._metrics = metrics
        self._log_interval_s = log_interval_s
        self._retry_after_s = retry_after_s
        self._clock = clock
        self._open_until: float | None = None  # None: breaker closed (backend healthy)
        self._outage_started = 0.0
        self._outage_failures = 0
        self._outage_announced = False
        self._last_warning: float | None = None
        self._suppressed = 0
        self._update_bytes()

    @property
    def healthy(self) -> bool:
        return self._open_until is None

    async def get(self, key: str) -> bytes | None:
        if not self._admit():
            self._count("error")
            return None
        try:
            value = await self.backend.get(key)
        except CacheUnavailable as exc:
            self._failed("get", exc)
            self._count("error")
            return None
        self._succeeded()
        self._count("miss" if value is None else "hit")
        self._update_bytes()
        return value

    async def set(self, key: str, value: bytes) -> None:
        if not self._admit():
            return
        try:
            await self.backend.set(key, value, self.ttl_s)
        except CacheUnavailable as exc:
            self._failed("set", exc)
            return
        self._succeeded()
        self._update_bytes()

    async def close(self) -> None:
        await self.backend.close()
        self._update_bytes()

    def _admit(self) -> bool:
        if self._open_until is None:
            return True
        now = self._clock()
        if now < self._open_until:
            return False
        self._open_until = now + self._retry_after_s  # half-open: this call probes, others skip
        return True

    def _failed(self, op: str, exc: CacheUnavailable) -> None:
        now = self._clock()
        if self._metrics is not None:
            self._metrics.cache_errors.labels(backend=self.backend.name, op=op).inc()
        if self._open_until is None:
            self._outage_started, self._outage_failures = now, 0
            self._outage_announced = False
        self._open_until = now + self._retry_after_s
        self._outage_failures += 1
        last = self._last_warning
        if last is not None and now - last < self._log_interval_s:
            self._suppressed += 1
            return
        log.warning(
            "result cache %s unavailable (%s: %s); serving uncached, retrying after %.1fs "
            "(%d failures suppressed since the last warning)",
            self.backend.name,
            op,
            exc,
            self._retry_after_s,
            self._suppressed,
        )
        self._last_warning, self._suppressed = now, 0
        self._outage_announced = True

    def _succeeded(self) -> None:
        if self._open_until is None:
            return
        self._open_until = None
        if self._outage_announced:  # every logged outage gets its recovery line
            log.info(
                "result cache %s recovered after %d failures in %.1fs",
                self.backend.name,
                self._outage_failures,
                self._clock() - self._outage_started,
            )

    def _count(self, result: str) -> None:
        if self._metrics is not None:
            self._metrics.cache_requests.labels(backend=self.backend.name, result=result).inc()

    def _update_bytes(self) -> None:
        if self._metrics is not None and isinstance(self.backend, MemoryCache):
            self._metrics.cache_bytes.labels(backend=self.backend.name).set(self.backend.bytes_used)


def make_cache(
    redis_url: str | None,
    memory_max_bytes: int,
    ttl_s: int,
    timeout_s: float,
    metrics: Metrics | None,
    *,
    retry_after_s: float = 1.0,
    key_prefix: str = "",
) -> ResultCache:
    """Redis when a URL is given; else an in-process LRU of ``memory_max_bytes``; else (0 bytes)
    no caching. The URL is never logged: it may hold a password."""
    backend: CacheBackend
    if redis_url:
        backend = RedisCache(redis_url, timeout_s=timeout_s, key_prefix=key_prefix)
    elif memory_max_bytes != 0:  # a negative size is a ValueError from MemoryCache
        backend = MemoryCache(memory_max_bytes)
    else:
        backend = NullCache()
    log.info("result cache backend: %s (ttl %ds)", backend.name, ttl_s)
    return ResultCache(backend, metrics, ttl_s, retry_after_s=retry_after_s)
