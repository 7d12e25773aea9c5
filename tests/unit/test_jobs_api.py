"""The jobs API on fake engines and the embedded store: submit -> 202, status, paged results
in every format, per-page errors, idempotency, limits at submission, cancel, TTL, callbacks'
allow-list, and background work queued behind interactive requests in the batchers."""

from __future__ import annotations

import asyncio
from typing import Any

import httpx
import pytest

from service.api.schemas import JobOut, JobResultOut
from service.batching.batcher import DynamicBatcher
from service.batching.policy import BatchPolicy
from service.jobs.callback import Callbacks
from tests.support.api import RECEIPT, assert_error, serving
from tests.support.fake_models import WORD, fake_loader
from tests.support.pdfs import receipt_pdf

pytestmark = pytest.mark.anyio

FAKE = fake_loader()
PNG = RECEIPT.read_bytes()
CORRUPT = b"\x89PNG\r\n\x1a\n" + b"\x00" * 64  # a PNG signature, then nothing readable


def _files(*pages: bytes) -> list[tuple[str, tuple[str, bytes, str]]]:
    return [("files", (f"p{i}.png", p, "image/png")) for i, p in enumerate(pages)]


async def _finished(client: httpx.AsyncClient, job_id: str, timeout_s: float = 20) -> JobOut:
    async with asyncio.timeout(timeout_s):
        while True:
            r = await client.get(f"/v1/jobs/{job_id}")
            assert r.status_code == 200, r.text
            job = JobOut.model_validate(r.json())
            if job.status not in ("queued", "running"):
                return job
            await asyncio.sleep(0.05)


async def test_a_job_reads_every_page_and_a_corrupt_one_fails_alone() -> None:
    async with serving(FAKE) as (_, client):
        r = await client.post("/v1/jobs", files=_files(PNG, CORRUPT, PNG))
        assert r.status_code == 202, r.text
        job = JobOut.model_validate(r.json())
        assert r.headers["location"] == f"/v1/jobs/{job.id}"
        assert int(r.headers["retry-after"]) >= 1
        assert job.status == "queued" and job.progress.pages_total == 3
        done = await _finished(client, job.id)
        assert done.status == "succeeded"
        assert done.progress.pages_done == 3 and done.progress.pages_failed == 1
        assert [(e.page, e.code) for e in done.errors] == [(2, "INVALID_IMAGE")]
        assert done.result_url == f"/v1/jobs/{job.id}/result"
        assert done.started_at and done.finished_at and done.expires_at
        result = JobResultOut.model_validate((await client.get(done.result_url)).json())
        assert [p.page for p in result.pages] == [1, 2, 3]
        assert result.pages[0].result and {ln.text for ln in result.pages[0].result.lines} == {WORD}
        assert result.pages[1].error and result.pages[1].error.code == "INVALID_IMAGE"
        assert result.next_page_from is None
        text = await client.get(done.result_url, params={"format": "text"})
        assert text.text.split("\f")[1] == "" and WORD in text.text.split("\f")[0]


async def test_results_are_paged() -> None:
    async with serving(FAKE, job_result_pages=2) as (_, client):
        r = await client.post("/v1/jobs", files=_files(PNG, PNG, PNG))
        job = await _finished(client, r.json()["id"])
        first = await client.get(f"/v1/jobs/{job.id}/result")
        assert [p["page"] for p in first.json()["pages"]] == [1, 2]
        assert first.json()["next_page_from"] == 3
        assert "page_from=3" in first.headers["link"]
        rest = await client.get(f"/v1/jobs/{job.id}/result", params={"page_from": 3})
        assert [p["page"] for p in rest.json()["pages"]] == [3]
        assert rest.json()["next_page_from"] is None


async def test_idempotency_key_returns_the_same_job_and_refuses_another_body() -> None:
    async with serving(FAKE, job_workers=0) as (_, client):
        key = {"Idempotency-Key": "order-42"}
        a = await client.post("/v1/jobs", files=_files(PNG), headers=key)
        b = await client.post("/v1/jobs", files=_files(PNG), headers=key)
        assert a.status_code == b.status_code == 202
        assert a.json()["id"] == b.json()["id"]
        other = await client.post("/v1/jobs", files=_files(PNG, PNG), headers=key)
        assert_error(other, 422, "IDEMPOTENCY_KEY_REUSED")
        fresh = await client.post("/v1/jobs", files=_files(PNG))
        assert fresh.json()["id"] != a.json()["id"]


async def test_limits_are_checked_at_submission() -> None:
    limits: dict[str, Any] = {"job_workers": 0, "job_max_pages": 2}
    async with serving(FAKE, job_max_queued_per_client=2, **limits) as (_, client):
        assert_error(
            await client.post("/v1/jobs", files=_files(PNG, PNG, PNG)), 413, "TOO_MANY_PAGES"
        )
        for _ in range(2):
            assert (await client.post("/v1/jobs", files=_files(PNG))).status_code == 202
        full = await client.post("/v1/jobs", files=_files(PNG))
        assert_error(full, 429, "OVERLOADED")
        assert int(full.headers["retry-after"]) >= 1
    async with serving(FAKE, job_max_queued=1, **limits) as (_, client):
        assert (await client.post("/v1/jobs", files=_files(PNG))).status_code == 202
        assert_error(await client.post("/v1/jobs", files=_files(PNG)), 429, "OVERLOADED")


async def test_cancel_and_unfinished_results() -> None:
    async with serving(FAKE, job_workers=0) as (_, client):
        job_id = (await client.post("/v1/jobs", files=_files(PNG))).json()["id"]
        early = await client.get(f"/v1/jobs/{job_id}/result")
        assert_error(early, 409, "JOB_NOT_FINISHED")
        assert "retry-after" in early.headers
        r = await client.delete(f"/v1/jobs/{job_id}")
        assert r.status_code == 200 and r.json()["status"] == "canceled"
        assert (await client.get(f"/v1/jobs/{job_id}")).json()["status"] == "canceled"


async def test_unknown_and_expired_jobs_are_404() -> None:
    async with serving(FAKE, job_ttl_s=1) as (_, client):
        assert_error(await client.get("/v1/jobs/" + "0" * 32), 404, "JOB_NOT_FOUND")
        assert_error(await client.get("/v1/jobs/not-an-id"), 404, "JOB_NOT_FOUND")
        job = await _finished(
            client, (await client.post("/v1/jobs", files=_files(PNG))).json()["id"]
        )
        await asyncio.sleep(1.2)
        assert_error(await client.get(f"/v1/jobs/{job.id}"), 404, "JOB_EXPIRED")


async def test_callbacks_only_to_allow_listed_urls() -> None:
    async with serving(FAKE) as (_, client):
        headers = {"Callback-URL": "http://127.0.0.1:9/hook"}
        refused = await client.post("/v1/jobs", files=_files(PNG), headers=headers)
        assert_error(refused, 422, "INVALID_REQUEST")
    allow = Callbacks("https://hooks.example.com/ocr, http://10.0.0.5:8080")
    assert allow.allowed("https://hooks.example.com/ocr/done")
    assert allow.allowed("http://10.0.0.5:8080/x")
    assert not allow.allowed("https://hooks.example.com/ocrx")
    assert not allow.allowed("http://10.0.0.5:8080.evil.net/x")
    assert not allow.allowed("file:///etc/passwd")
    assert not Callbacks("").allowed("https://hooks.example.com/ocr")


async def test_background_items_queue_behind_interactive_ones() -> None:
    order: list[str] = []

    def run(batch: list[str]) -> list[str]:
        order.extend(batch)
        return batch

    batcher: DynamicBatcher[str, str] = DynamicBatcher("rec", run, BatchPolicy(1, None, 0.0))
    batcher.start()
    job = batcher.submit(0, 1.0, "job", 100, lag_s=10.0)  # came first, but in the background
    interactive = batcher.submit(0, 1.0, "interactive", 100)
    await asyncio.gather(job, interactive)
    await batcher.stop()
    assert order == ["interactive", "job"]


async def test_a_pdf_job_reads_every_selected_page_in_every_format() -> None:
    pdf = receipt_pdf(3)
    async with serving(FAKE) as (_, client):
        files = {"file": ("scan.pdf", pdf, "application/pdf")}
        r = await client.post("/v1/jobs", files=files, data={"options": '{"pages": "2-3"}'})
        assert r.status_code == 202, r.text
        job = await _finished(client, r.json()["id"])
        assert (job.status, job.progress.pages_total, job.progress.pages_failed) == (
            "succeeded",
            2,
            0,
        )
        url = f"/v1/jobs/{job.id}/result"
        assert len((await client.get(url)).json()["pages"]) == 2
        text = (await client.get(url, params={"format": "text"})).text
        assert text.count("\f") == 1 and WORD in text
        hocr = await client.get(url, params={"format": "hocr"})
        assert hocr.status_code == 200 and hocr.text.count('class="ocr_page"') == 2
        alto = await client.get(url, params={"format": "alto"})
        assert alto.status_code == 200 and alto.text.count("<Page ") == 2
        refused = await client.get(url, params={"format": "pdf"})  # pages 2-3 only
        assert_error(refused, 422, "INVALID_REQUEST")
        whole = await client.post("/v1/jobs", files=files)
        done = await _finished(client, whole.json()["id"])
        searchable = await client.get(f"/v1/jobs/{done.id}/result", params={"format": "pdf"})
        assert searchable.status_code == 200, searchable.text
        assert searchable.content.startswith(b"%PDF-")


async def test_a_corrupt_pdf_fails_as_one_page_and_too_many_pages_refuse_the_job() -> None:
    async with serving(FAKE, job_max_pages=3) as (_, client):
        bad = ("bad.pdf", b"%PDF-1.7\n garbage", "application/pdf")
        r = await client.post("/v1/jobs", files=[("files", bad), *_files(PNG)])
        job = await _finished(client, r.json()["id"])
        assert [(e.page, e.code) for e in job.errors] == [(1, "INVALID_PDF")]
        assert job.status == "succeeded" and job.progress.pages_done == 2
        big = await client.post(
            "/v1/jobs", files={"file": ("b.pdf", receipt_pdf(4), "application/pdf")}
        )
        assert_error(big, 413, "TOO_MANY_PAGES")
