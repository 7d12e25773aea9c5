"""The result cache against a real redis-server: roundtrip, TTL, crash (fail open) and recovery.

Needs the ``redis-server`` binary (no model files); a missing binary fails these tests.
"""

from __future__ import annotations

import asyncio
import os
import time
from collections.abc import AsyncIterator

import pytest

from service.cache import CacheUnavailable, RedisCache, ResultCache, cache_key, image_digest
from service.metrics import Metrics
from tests.support.redis_server import RedisServer, redis_server  # noqa: F401

pytestmark = pytest.mark.anyio

FP = "a1b2c3d4e5f60718" * 4
RETRY_AFTER_S = 0.3


@pytest.fixture
def metrics() -> Metrics:
    return Metrics(gpu=False)


@pytest.fixture
async def cache(redis_server: RedisServer, metrics: Metrics) -> AsyncIterator[ResultCache]:  # noqa: F811
    backend = RedisCache(redis_server.url, timeout_s=0.1, key_prefix="test:")
    result_cache = ResultCache(backend, metrics, ttl_s=60, retry_after_s=RETRY_AFTER_S)
    yield result_cache
    await result_cache.close()


def key(data: bytes) -> str:
    return cache_key(image_digest(data), FP)


def requests(metrics: Metrics, result: str) -> float:
    labels = {"backend": "redis", "result": result}
    return metrics.registry.get_sample_value("ocr_cache_requests_total", labels) or 0.0


async def test_roundtrip_and_miss(cache: ResultCache, metrics: Metrics) -> None:
    assert await cache.get(key(b"one")) is None
    await cache.set(key(b"one"), b'{"lines": []}')
    assert await cache.get(key(b"one")) == b'{"lines": []}'
    assert await cache.get(key(b"two")) is None
    assert (requests(metrics, "hit"), requests(metrics, "miss")) == (1, 2)
    assert cache.healthy


async def test_values_are_bytes_exact(cache: ResultCache) -> None:
    values = [bytes(range(256)), b"", b"\x00" * 10, os.urandom(200_000), "京P·L3N67".encode()]
    for i, value in enumerate(values):
        await cache.set(key(bytes([i])), value)
    for i, value in enumerate(values):
        assert await cache.get(key(bytes([i]))) == value


async def test_key_prefix_and_ttl_are_set_in_redis(redis_server: RedisServer) -> None:  # noqa: F811
    import redis.asyncio as aioredis

    cache = RedisCache(redis_server.url, key_prefix="test:")
    await cache.set("k", b"v", ttl_s=60)
    raw = aioredis.from_url(redis_server.url)
    try:
        assert await raw.get("test:k") == b"v"
        assert 0 < await raw.ttl("test:k") <= 60
    finally:
        await raw.aclose()
        await cache.close()


async def test_ttl_expiry(redis_server: RedisServer, metrics: Metrics) -> None:  # noqa: F811
    cache = ResultCache(RedisCache(redis_server.url), metrics, ttl_s=1)
    try:
        await cache.set(key(b"x"), b"value")
        assert await cache.get(key(b"x")) == b"value"
        await asyncio.sleep(1.2)
        assert await cache.get(key(b"x")) is None
    finally:
        await cache.close()


async def test_backend_raises_cache_unavailable_when_down(redis_server: RedisServer) -> None:  # noqa: F811
    backend = RedisCache(redis_server.url, timeout_s=0.1)
    redis_server.stop()
    try:
        with pytest.raises(CacheUnavailable):
            await backend.get("k")
        with pytest.raises(CacheUnavailable):
            await backend.set("k", b"v", ttl_s=10)
    finally:
        await backend.close()


async def test_fails_open_on_crash_then_recovers(
    redis_server: RedisServer,  # noqa: F811
    cache: ResultCache,
    metrics: Metrics,
) -> None:
    await cache.set(key(b"a"), b"A")
    assert await cache.get(key(b"a")) == b"A"

    redis_server.stop()  # SIGKILL mid-test; the client still holds a pooled connection
    for _ in range(20):
        started = time.perf_counter()
        assert await cache.get(key(b"a")) is None
        await cache.set(key(b"a"), b"A")
        assert time.perf_counter() - started < 0.5
    assert not cache.healthy
    assert requests(metrics, "error") == 20
    errors = metrics.registry.get_sample_value(
        "ocr_cache_errors_total", {"backend": "redis", "op": "get"}
    )
    assert errors == 1  # the breaker kept the other 19 lookups away from the dead server

    redis_server.start()  # same port, empty dataset
    await asyncio.sleep(RETRY_AFTER_S + 0.05)
    await cache.set(key(b"a"), b"A2")  # the probe: reconnects and closes the breaker
    assert cache.healthy
    assert await cache.get(key(b"a")) == b"A2"


async def test_stale_connection_after_restart_is_not_an_error(
    redis_server: RedisServer,  # noqa: F811
    cache: ResultCache,
    metrics: Metrics,
) -> None:
    """A restart between two requests (no failed command in between) leaves a dead pooled
    socket; the one immediate retry reconnects instead of failing the request."""
    await cache.set(key(b"a"), b"A")
    redis_server.stop()
    redis_server.start()
    assert await cache.get(key(b"a")) is None  # a miss (empty server), not an error
    assert cache.healthy
    assert requests(metrics, "error") == 0


async def test_hung_server_costs_at_most_the_timeout(
    redis_server: RedisServer,  # noqa: F811
    cache: ResultCache,
    metrics: Metrics,
) -> None:
    await cache.set(key(b"a"), b"A")
    redis_server.pause()  # accepts connections, answers nothing
    try:
        started = time.perf_counter()
        assert await cache.get(key(b"a")) is None
        first = time.perf_counter() - started
        started = time.perf_counter()
        assert await cache.get(key(b"a")) is None
        second = time.perf_counter() - started
    finally:
        redis_server.resume()
    assert 0.05 < first < 0.3  # bounded by timeout_s=0.1
    assert second < 0.01  # the breaker is open: no second timeout
    assert requests(metrics, "error") == 2
    await asyncio.sleep(RETRY_AFTER_S + 0.05)
    assert await cache.get(key(b"a")) == b"A"
    assert cache.healthy
