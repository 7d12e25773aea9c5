"""Result cache: keys, the in-process LRU, and ResultCache's fail-open breaker (fake backends)."""

from __future__ import annotations

import hashlib
import logging

import pytest

from service.cache import (
    CacheUnavailable,
    MemoryCache,
    NullCache,
    RedisCache,
    ResultCache,
    cache_key,
    image_digest,
    make_cache,
)
from service.metrics import Metrics

pytestmark = pytest.mark.anyio

DIGEST = hashlib.sha256(b"img").hexdigest()
FP = "0123456789abcdef" + "ff" * 24


class FakeClock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


class FlakyBackend:
    """In-memory backend that raises CacheUnavailable while ``down``; counts calls."""

    name = "redis"

    def __init__(self) -> None:
        self.down = False
        self.calls = 0
        self.data: dict[str, bytes] = {}

    async def get(self, key: str) -> bytes | None:
        self._call()
        return self.data.get(key)

    async def set(self, key: str, value: bytes, ttl_s: int) -> None:
        self._call()
        self.data[key] = value

    async def close(self) -> None:
        return None

    def _call(self) -> None:
        self.calls += 1
        if self.down:
            raise CacheUnavailable("connection refused")


def sample(metrics: Metrics, name: str, **labels: str) -> float:
    return metrics.registry.get_sample_value(name, labels) or 0.0


# --- keys -------------------------------------------------------------------------------------


def test_image_digest_is_sha256_hex() -> None:
    assert image_digest(b"img") == DIGEST
    assert image_digest(b"") == hashlib.sha256(b"").hexdigest()


def test_cache_key_layout() -> None:
    assert cache_key(DIGEST, FP) == f"ocr:v1:0123456789abcdef:{DIGEST}"


def test_cache_key_separates_configs_and_images() -> None:
    other_fp = "fedcba9876543210" + FP[16:]
    keys = {cache_key(DIGEST, FP), cache_key(DIGEST, other_fp), cache_key(image_digest(b"x"), FP)}
    assert len(keys) == 3


@pytest.mark.parametrize(
    ("digest", "fingerprint"),
    [
        ("abc", FP),  # not a sha256
        (hashlib.md5(b"img").hexdigest(), FP),  # md5 is refused
        (DIGEST.upper(), FP),  # one spelling only
        (DIGEST, "0123"),  # fingerprint too short
    ],
)
def test_cache_key_rejects_bad_input(digest: str, fingerprint: str) -> None:
    with pytest.raises(ValueError):
        cache_key(digest, fingerprint)


# --- MemoryCache ------------------------------------------------------------------------------


def entry(key: str, value: bytes) -> int:
    return len(key) + len(value)


@pytest.mark.parametrize(
    ("max_bytes", "ops", "present", "absent"),
    [
        # three 10-byte entries fit in 30 bytes
        (30, ["set a", "set b", "set c"], "abc", ""),
        # a fourth evicts the least recently set
        (30, ["set a", "set b", "set c", "set d"], "bcd", "a"),
        # reading "a" makes "b" the least recently used
        (30, ["set a", "set b", "set c", "get a", "set d"], "acd", "b"),
        # overwriting "a" refreshes it too
        (30, ["set a", "set b", "set c", "set a", "set d"], "acd", "b"),
        # a miss does not change the order
        (30, ["set a", "set b", "set c", "get z", "set d"], "bcd", "a"),
        # one byte short of three entries: only two fit
        (29, ["set a", "set b", "set c"], "bc", "a"),
    ],
)
async def test_memory_lru_order(max_bytes: int, ops: list[str], present: str, absent: str) -> None:
    cache = MemoryCache(max_bytes)
    for op in ops:
        verb, key = op.split()
        if verb == "set":
            await cache.set(key, b"v" * 9, ttl_s=60)  # 1 + 9 = 10 bytes
        else:
            await cache.get(key)
    for key in present:
        assert await cache.get(key) == b"v" * 9, key
    for key in absent:
        assert await cache.get(key) is None, key
    assert cache.bytes_used == 10 * len(present) <= max_bytes


async def test_memory_byte_accounting_on_overwrite() -> None:
    cache = MemoryCache(1000)
    await cache.set("key", b"x" * 100, ttl_s=60)
    assert cache.bytes_used == entry("key", b"x" * 100)
    await cache.set("key", b"y" * 10, ttl_s=60)
    assert cache.bytes_used == entry("key", b"y" * 10)
    assert len(cache) == 1
    assert await cache.get("key") == b"y" * 10


async def test_memory_evicts_as_many_as_needed() -> None:
    cache = MemoryCache(100)
    for k in "abcde":
        await cache.set(k, b"v" * 19, ttl_s=60)  # 20 bytes each: 100 in all
    await cache.set("big", b"v" * 57, ttl_s=60)  # 60 bytes: a, b, c must go
    assert [await cache.get(k) is not None for k in "abcde"] == [False] * 3 + [True] * 2
    assert cache.bytes_used == 40 + 60


@pytest.mark.parametrize("size", [101 - len("big"), 1000])
async def test_memory_oversize_value_is_not_stored(size: int) -> None:
    cache = MemoryCache(100)
    await cache.set("a", b"small", ttl_s=60)
    await cache.set("big", b"old", ttl_s=60)
    await cache.set("big", b"v" * size, ttl_s=60)
    assert await cache.get("big") is None  # and the stale old value is gone too
    assert await cache.get("a") == b"small"
    assert cache.bytes_used == entry("a", b"small")


async def test_memory_exact_fit_is_stored() -> None:
    cache = MemoryCache(100)
    await cache.set("big", b"v" * 97, ttl_s=60)
    assert cache.bytes_used == 100
    assert await cache.get("big") is not None


@pytest.mark.parametrize(
    ("elapsed", "hit"), [(0.0, True), (9.999, True), (10.0, False), (3600.0, False)]
)
async def test_memory_ttl(elapsed: float, hit: bool) -> None:
    clock = FakeClock()
    cache = MemoryCache(1000, clock=clock)
    await cache.set("k", b"value", ttl_s=10)
    clock.now += elapsed
    assert (await cache.get("k") == b"value") is hit
    assert cache.bytes_used == (entry("k", b"value") if hit else 0)  # expired entries are removed


async def test_memory_overwrite_renews_ttl() -> None:
    clock = FakeClock()
    cache = MemoryCache(1000, clock=clock)
    await cache.set("k", b"1", ttl_s=10)
    clock.now += 8
    await cache.set("k", b"2", ttl_s=10)
    clock.now += 8
    assert await cache.get("k") == b"2"


async def test_memory_zero_size_stores_nothing_and_rejects_bad_args() -> None:
    cache = MemoryCache(0)
    await cache.set("k", b"", ttl_s=10)
    assert await cache.get("k") is None
    with pytest.raises(ValueError):
        MemoryCache(-1)
    with pytest.raises(ValueError):
        await cache.set("k", b"v", ttl_s=0)


async def test_null_cache_always_misses() -> None:
    cache = NullCache()
    await cache.set("k", b"v", ttl_s=10)
    assert await cache.get("k") is None
    await cache.close()


# --- ResultCache ------------------------------------------------------------------------------


async def test_result_cache_counts_hits_and_misses() -> None:
    metrics = Metrics(gpu=False)
    cache = ResultCache(FlakyBackend(), metrics, ttl_s=60)
    assert await cache.get("k") is None
    await cache.set("k", b"v")
    assert await cache.get("k") == b"v"
    assert sample(metrics, "ocr_cache_requests_total", backend="redis", result="miss") == 1
    assert sample(metrics, "ocr_cache_requests_total", backend="redis", result="hit") == 1
    assert cache.healthy


async def test_result_cache_fails_open_and_counts_errors() -> None:
    metrics = Metrics(gpu=False)
    backend = FlakyBackend()
    backend.down = True
    cache = ResultCache(backend, metrics, ttl_s=60, retry_after_s=0)
    assert await cache.get("k") is None
    await cache.set("k", b"v")  # no exception
    assert not cache.healthy
    assert sample(metrics, "ocr_cache_requests_total", backend="redis", result="error") == 1
    assert sample(metrics, "ocr_cache_errors_total", backend="redis", op="get") == 1
    assert sample(metrics, "ocr_cache_errors_total", backend="redis", op="set") == 1


async def test_result_cache_works_without_metrics() -> None:
    backend = FlakyBackend()
    cache = ResultCache(backend, None, ttl_s=60)
    await cache.set("k", b"v")
    assert await cache.get("k") == b"v"
    backend.down = True
    assert await cache.get("k") is None


async def test_breaker_skips_backend_then_retries() -> None:
    clock = FakeClock()
    metrics = Metrics(gpu=False)
    backend = FlakyBackend()
    cache = ResultCache(backend, metrics, ttl_s=60, retry_after_s=1.0, clock=clock)
    backend.down = True
    assert await cache.get("k") is None
    assert backend.calls == 1
    # open: neither get nor set reaches the backend
    clock.now += 0.5
    assert await cache.get("k") is None
    await cache.set("k", b"v")
    assert backend.calls == 1
    assert not cache.healthy
    # after retry_after_s one probe; it fails, so the breaker opens again
    clock.now += 0.5
    assert await cache.get("k") is None
    assert backend.calls == 2
    assert await cache.get("k") is None
    assert backend.calls == 2
    # the backend is back: the next probe closes the breaker
    backend.down = False
    clock.now += 1.0
    await cache.set("k", b"v")
    assert cache.healthy
    assert await cache.get("k") == b"v"
    assert backend.calls == 4
    errors = sample(metrics, "ocr_cache_requests_total", backend="redis", result="error")
    assert errors == 4  # every lookup not answered because of the outage
    assert sample(metrics, "ocr_cache_errors_total", backend="redis", op="get") == 2


async def test_breaker_lets_only_one_probe_through() -> None:
    clock = FakeClock()
    backend = FlakyBackend()
    cache = ResultCache(backend, None, ttl_s=60, retry_after_s=1.0, clock=clock)
    backend.down = True
    await cache.get("k")
    clock.now += 1.0
    backend.down = False
    # the first call after the window probes; calls before its outcome keep skipping
    assert cache._admit()
    assert not cache._admit()
    assert not cache.healthy


async def test_warning_logged_once_per_interval(caplog: pytest.LogCaptureFixture) -> None:
    clock = FakeClock()
    backend = FlakyBackend()
    backend.down = True
    cache = ResultCache(backend, None, ttl_s=60, log_interval_s=30, retry_after_s=0, clock=clock)
    caplog.set_level(logging.INFO, logger="service.cache")
    for _ in range(5):
        await cache.get("k")
        clock.now += 1
    warnings = [r for r in caplog.records if r.levelno == logging.WARNING]
    assert len(warnings) == 1
    assert "0 failures suppressed" in warnings[0].getMessage()
    clock.now += 30
    await cache.get("k")
    warnings = [r for r in caplog.records if r.levelno == logging.WARNING]
    assert len(warnings) == 2
    assert "4 failures suppressed" in warnings[1].getMessage()
    backend.down = False
    await cache.get("k")
    infos = [r.getMessage() for r in caplog.records if r.levelno == logging.INFO]
    assert any("recovered after 6 failures" in m for m in infos), infos


async def test_unannounced_outage_logs_no_recovery(caplog: pytest.LogCaptureFixture) -> None:
    clock = FakeClock()
    backend = FlakyBackend()
    cache = ResultCache(backend, None, ttl_s=60, log_interval_s=30, retry_after_s=0, clock=clock)
    caplog.set_level(logging.INFO, logger="service.cache")
    for _ in range(2):  # two short outages within one log interval
        backend.down = True
        await cache.get("k")
        backend.down = False
        await cache.get("k")
        clock.now += 1
    levels = [r.levelno for r in caplog.records]
    assert levels == [logging.WARNING, logging.INFO]  # the second outage is only counted


async def test_memory_bytes_gauge() -> None:
    metrics = Metrics(gpu=False)
    cache = ResultCache(MemoryCache(1000), metrics, ttl_s=60)
    assert sample(metrics, "ocr_cache_bytes", backend="memory") == 0
    await cache.set("k", b"v" * 9)
    assert sample(metrics, "ocr_cache_bytes", backend="memory") == 10
    await cache.close()
    assert sample(metrics, "ocr_cache_bytes", backend="memory") == 0


def test_result_cache_requires_positive_ttl() -> None:
    for ttl in (0, -1):
        with pytest.raises(ValueError):
            ResultCache(NullCache(), None, ttl_s=ttl)


@pytest.mark.parametrize(
    ("redis_url", "memory_max_bytes", "backend_type"),
    [
        ("redis://127.0.0.1:1/0", 1000, RedisCache),
        (None, 1000, MemoryCache),
        ("", 1000, MemoryCache),
        (None, 0, NullCache),
    ],
)
async def test_make_cache_picks_backend(
    redis_url: str | None, memory_max_bytes: int, backend_type: type
) -> None:
    cache = make_cache(redis_url, memory_max_bytes, ttl_s=60, timeout_s=0.1, metrics=None)
    assert isinstance(cache.backend, backend_type)
    await cache.close()


def test_make_cache_rejects_negative_memory_size() -> None:
    with pytest.raises(ValueError):
        make_cache(None, -1, ttl_s=60, timeout_s=0.1, metrics=None)
