"""The service against a real Redis (started on a free loopback port): shared cache hits, and
fail-open when Redis dies mid-test — requests keep being served, uncached, and the failures are
counted; after Redis comes back the service caches again."""

from __future__ import annotations

import asyncio

import pytest

from tests.support.api import RECEIPT, metric, serving
from tests.support.redis_server import RedisServer

pytestmark = [pytest.mark.integration, pytest.mark.anyio]


async def test_redis_cache_hit_fail_open_and_recovery() -> None:
    send = {"files": {"file": ("r.png", RECEIPT.read_bytes(), "image/png")}}
    with RedisServer() as redis:
        async with serving(redis_url=redis.url, cache_timeout_ms=200) as (rt, client):
            first = (await client.post("/v1/ocr", **send)).json()
            second = (await client.post("/v1/ocr", **send)).json()
            assert (first["cached"], second["cached"]) == (False, True)
            assert second["lines"] == first["lines"]
            assert metric(rt, "ocr_cache_requests_total", backend="redis", result="hit") == 1

            redis.stop()  # SIGKILL: Redis is gone
            down = [await client.post("/v1/ocr", **send) for _ in range(3)]
            assert [r.status_code for r in down] == [200, 200, 200]
            assert not any(r.json()["cached"] for r in down)
            assert down[0].json()["lines"] == first["lines"]
            assert metric(rt, "ocr_cache_errors_total", backend="redis", op="get") >= 1
            assert not rt.cache.healthy

            redis.start()  # same port, empty
            await asyncio.sleep(1.2)  # the breaker lets Redis be tried again after 1 s
            again = [(await client.post("/v1/ocr", **send)).json()["cached"] for _ in range(2)]
            assert again == [False, True]
            assert rt.cache.healthy
