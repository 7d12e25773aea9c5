"""Jobs with the Redis store against a real redis-server: the store's contract in process (fake
engines: idempotency, limits, cancel, TTL), then two real `ocr serve` replicas sharing one
Redis, one killed with SIGKILL mid-way through a 6-page PDF job: the other finishes every page,
each page recorded once; and a SIGTERM drain that gives the page being read back at once.
"""

from __future__ import annotations

import asyncio
import io
import signal
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import httpx
import pytest
import redis
from PIL import Image as PILImage

from service.api.schemas import JobOut, JobResultOut
from service.jobs.redis_store import GROUP, PREFIX
from tests.integration.render import render_lines
from tests.support.api import RECEIPT, assert_error, serving
from tests.support.fake_models import WORD, fake_loader
from tests.support.pdfs import image_pdf
from tests.support.redis_server import RedisServer
from tests.support.server import ServeProcess

pytestmark = [pytest.mark.integration, pytest.mark.anyio]

FAKE = fake_loader()
PNG = RECEIPT.read_bytes()
CORRUPT = b"\x89PNG\r\n\x1a\n" + b"\x00" * 64
WORDS = ["ALPHA 101", "BRAVO 202", "CHARLIE 303", "DELTA 404", "ECHO 505", "FOXTROT 606"]


def _files(*pages: bytes) -> list[tuple[str, tuple[str, bytes, str]]]:
    return [("files", (f"p{i}.png", p, "image/png")) for i, p in enumerate(pages)]


async def _finished(client: httpx.AsyncClient, job_id: str, timeout_s: float = 30) -> JobOut:
    async with asyncio.timeout(timeout_s):
        while True:
            job = JobOut.model_validate((await client.get(f"/v1/jobs/{job_id}")).json())
            if job.status not in ("queued", "running"):
                return job
            await asyncio.sleep(0.05)


async def test_the_redis_store_keeps_the_contract() -> None:
    with RedisServer() as rs:
        async with serving(FAKE, redis_url=rs.url, job_ttl_s=2) as (_, client):
            r = await client.post(
                "/v1/jobs", files=_files(PNG, CORRUPT), headers={"Idempotency-Key": "k1"}
            )
            assert r.status_code == 202, r.text
            job = await _finished(client, r.json()["id"])
            assert (job.status, job.progress.pages_done, job.progress.pages_failed) == (
                "succeeded",
                2,
                1,
            )
            assert [(e.page, e.code) for e in job.errors] == [(2, "INVALID_IMAGE")]
            result = JobResultOut.model_validate(
                (await client.get(f"/v1/jobs/{job.id}/result")).json()
            )
            assert result.pages[0].result and result.pages[0].result.lines[0].text == WORD
            again = await client.post(
                "/v1/jobs", files=_files(PNG, CORRUPT), headers={"Idempotency-Key": "k1"}
            )
            assert again.json()["id"] == job.id
            other = await client.post(
                "/v1/jobs", files=_files(PNG), headers={"Idempotency-Key": "k1"}
            )
            assert_error(other, 422, "IDEMPOTENCY_KEY_REUSED")
            await asyncio.sleep(2.2)
            assert_error(await client.get(f"/v1/jobs/{job.id}"), 404, "JOB_EXPIRED")
            assert_error(await client.get("/v1/jobs/" + "f" * 32), 404, "JOB_NOT_FOUND")


async def test_redis_limits_and_cancel() -> None:
    with RedisServer() as rs:
        settings: dict[str, Any] = {"redis_url": rs.url, "job_workers": 0}
        async with serving(FAKE, job_max_queued_per_client=2, **settings) as (_, client):
            ids = [
                (await client.post("/v1/jobs", files=_files(PNG))).json()["id"] for _ in range(2)
            ]
            full = await client.post("/v1/jobs", files=_files(PNG))
            assert_error(full, 429, "OVERLOADED")
            canceled = await client.delete(f"/v1/jobs/{ids[0]}")
            assert canceled.json()["status"] == "canceled"
            assert (await client.post("/v1/jobs", files=_files(PNG))).status_code == 202
            assert_error(await client.get(f"/v1/jobs/{ids[1]}/result"), 409, "JOB_NOT_FINISHED")


# -- two replicas, one killed ----------------------------------------------------------------


def _page(text: str, fmt: str = "PNG") -> bytes:
    buf = io.BytesIO()
    pixels = render_lines([text], size=40, width=520).pixels[:, :, ::-1]
    PILImage.fromarray(pixels).save(buf, fmt, **({"quality": 95} if fmt == "JPEG" else {}))
    return buf.getvalue()


def _replicas(url: str, tmp: Path, claim_idle_s: float = 3) -> list[ServeProcess]:
    env = {
        "OCR_REDIS_URL": url,
        "OCR_JOB_CLAIM_IDLE_S": str(claim_idle_s),
        "OCR_JOB_WORKERS": "1",
        "OCR_CPU_WORKERS": "1",
        "OCR_SHUTDOWN_DELAY_S": "0",
    }
    procs = [ServeProcess(tmp / f"replica{i}.log", env=env) for i in range(2)]
    with ThreadPoolExecutor(2) as pool:
        list(pool.map(ServeProcess.start, procs))
    return procs


def _pending_of(r: redis.Redis, pid: int) -> int:
    consumers = r.xinfo_consumers(PREFIX + "pages", GROUP)
    return sum(c["pending"] for c in consumers if c["name"].decode().endswith(f":{pid}"))


def test_a_replica_killed_mid_job_loses_no_page(tmp_path: Path) -> None:
    pdf = image_pdf([_page(w, "JPEG") for w in WORDS])  # 6 pages, one line each
    with RedisServer() as rs:
        a, b = _replicas(rs.url, tmp_path)
        try:
            r = redis.Redis.from_url(rs.url)
            upload = {"file": ("scan.pdf", pdf, "application/pdf")}
            sub = httpx.post(f"{a.url}/v1/jobs", files=upload, timeout=30)
            assert sub.status_code == 202, sub.text
            job_id = sub.json()["id"]
            assert a.proc is not None
            deadline = time.monotonic() + 60
            while _pending_of(r, a.proc.pid) == 0:  # a is reading a page: kill it then
                assert time.monotonic() < deadline, a.tail()
                time.sleep(0.02)
            both = [httpx.get(f"{p.url}/v1/jobs/{job_id}").json() for p in (a, b)]
            assert both[0]["id"] == both[1]["id"] == job_id
            a.proc.send_signal(signal.SIGKILL)
            a.proc.wait(10)
            done = _poll(b, job_id, timeout_s=120)
            assert done["status"] == "succeeded", done
            assert done["progress"] == {"pages_total": 6, "pages_done": 6, "pages_failed": 0}
            result = JobResultOut.model_validate(
                httpx.get(f"{b.url}/v1/jobs/{job_id}/result").json()
            )
            texts = [
                " ".join(ln.text for ln in p.result.lines) if p.result else "" for p in result.pages
            ]
            assert texts == WORDS
            assert r.hlen(f"{PREFIX}job:{job_id}:out") == 6  # one outcome per page
            assert r.xpending(PREFIX + "pages", GROUP)["pending"] == 0
            assert "took over page" in b.tail(20000)
        finally:
            a.stop()
            b.stop()


def test_sigterm_gives_the_pages_being_read_back_at_once(tmp_path: Path) -> None:
    """Drain: the page a replica was reading goes back to the queue when it stops, so the
    other finishes the job long before the 60 s claim timeout could have taken it over."""
    pages = [_page(w) for w in WORDS[:4]]
    with RedisServer() as rs:
        a, b = _replicas(rs.url, tmp_path, claim_idle_s=60)
        try:
            r = redis.Redis.from_url(rs.url)
            job_id = httpx.post(f"{a.url}/v1/jobs", files=_files(*pages), timeout=30).json()["id"]
            assert a.proc is not None
            deadline = time.monotonic() + 60
            while _pending_of(r, a.proc.pid) == 0:
                assert time.monotonic() < deadline, a.tail()
                time.sleep(0.02)
            a.proc.send_signal(signal.SIGTERM)
            assert a.proc.wait(30) in (0, -signal.SIGTERM), a.tail()  # uvicorn re-raises it
            done = _poll(b, job_id, timeout_s=45)
            assert done["status"] == "succeeded", done
            assert done["progress"]["pages_done"] == 4
            assert "took over page" not in b.tail(20000)
        finally:
            a.stop()
            b.stop()


def _poll(server: ServeProcess, job_id: str, timeout_s: float) -> dict[str, Any]:
    deadline = time.monotonic() + timeout_s
    while True:
        body: dict[str, Any] = httpx.get(f"{server.url}/v1/jobs/{job_id}").json()
        if body["status"] not in ("queued", "running"):
            return body
        assert time.monotonic() < deadline, f"{body}\n{server.tail()}"
        time.sleep(0.2)
