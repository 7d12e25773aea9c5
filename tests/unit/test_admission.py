"""Admission by cost (issue 16): the pure counters (memory budget, backlog, cost estimate) as
tables, then the API on fake engines: 429 + Retry-After for what does not fit now, 413 for what
never fits, 422 for options over the server's caps; a cache hit is never refused."""

from __future__ import annotations

import asyncio
import io
from concurrent.futures import Future

import pytest
from PIL import Image as PILImage

from service.ocr.decode import Header
from service.ocr.detect import TextDetector
from service.ocr.errors import ImageTooLarge
from service.ocr.types import DetOptions
from service.runtime.admission import (
    DET_BYTES_PER_PIXEL,
    Backlog,
    MemoryBudget,
    det_pixels,
    estimate,
)
from service.runtime.errors import Overloaded
from tests.support.api import RECEIPT, assert_error, metric, serving
from tests.support.fake_models import fake_loader
from tests.unit.test_batcher import until

MB = 2**20


def header(width: int, height: int, per_pixel: int = 7) -> Header:
    return Header("PNG", width, height, per_pixel)


def test_the_estimate_counts_decoding_then_what_is_held() -> None:
    cost = estimate(header(1000, 2000), det_px=640 * 1280, body_bytes=5000)
    det = 640 * 1280 * DET_BYTES_PER_PIXEL
    assert cost.decode_bytes == 2_000_000 * 7 + det + 5000
    assert cost.held_bytes == 2_000_000 * 4 + det
    assert cost.units == pytest.approx(640 * 1280 / 1e6 + 0.05)


@pytest.mark.parametrize(
    ("size", "side", "kind", "expected"),
    [
        ((3000, 4000), 1280, "max", 960 * 1280),
        ((3000, 4000), 4096, "max", 3648 * 2784),  # the detector's own cap: 3200 x 3200 px
        ((100, 50), 1280, "max", 96 * 64),  # small images are never enlarged (32-aligned)
        ((1000, 4000), 736, "min", 4000 * 992),  # never beyond the detector's 4000 px side
    ],
)
def test_detector_pixels_follow_the_options(
    size: tuple[int, int], side: int, kind: str, expected: int
) -> None:
    detector = TextDetector(engine=None)  # type: ignore[arg-type]
    opts = DetOptions(limit_side_len=side, limit_type=kind)  # type: ignore[arg-type]
    assert det_pixels(detector, header(*size), opts) == expected


def test_the_budget_refuses_what_does_not_fit_now_and_what_never_fits() -> None:
    budget = MemoryBudget(100 * MB)
    budget.check(100 * MB, retry_after_s=3)
    with pytest.raises(ImageTooLarge, match="at most 100 MB"):
        budget.check(100 * MB + 1, retry_after_s=3)


@pytest.mark.anyio
async def test_a_hold_is_lowered_after_decoding_and_released_at_the_end() -> None:
    budget = MemoryBudget(100 * MB)
    with budget.hold(60 * MB) as held:
        with pytest.raises(Overloaded) as refused:
            budget.check(50 * MB, retry_after_s=3)
        assert refused.value.retry_after_s == 3
        held.lower(20 * MB)
        budget.check(50 * MB, retry_after_s=3)
        assert budget.used == 20 * MB
    assert budget.used == 0


@pytest.mark.anyio
async def test_a_decode_that_outlives_its_request_keeps_its_bytes_until_it_ends() -> None:
    budget = MemoryBudget(100 * MB)
    job: Future[None] = Future()
    with budget.hold(60 * MB) as held:
        held.pending = job
    assert budget.used == 60 * MB, "the decoder still runs: its memory is still in use"
    job.set_result(None)
    await asyncio.sleep(0)
    assert budget.used == 0


def test_the_backlog_expects_work_in_flight_over_the_measured_rate() -> None:
    backlog = Backlog(prior_rate=1.0, prior_s=2.0, horizon_s=1e9)
    assert backlog.expected_s(1.5) == pytest.approx(1.5)
    backlog.start(2.0, now=0.0)
    backlog.start(2.0, now=0.0)
    assert backlog.expected_s(1.0) == pytest.approx(5.0)
    assert backlog.rate == 1.0, "nothing finished yet: the rate is what it was"
    backlog.finish(2.0, now=1.0, done=True)  # 2 units in 1 busy second on top of the prior
    assert backlog.rate == pytest.approx((2.0 + 2.0) / (2.0 + 1.0))
    backlog.finish(2.0, now=5.0, done=False)  # cancelled: teaches nothing
    assert backlog.units == 0
    assert backlog.rate == pytest.approx(4.0 / 3.0)


def test_idle_time_is_not_busy_time() -> None:
    backlog = Backlog(prior_rate=1.0, prior_s=1.0, horizon_s=1e9)
    backlog.start(1.0, now=0.0)
    backlog.finish(1.0, now=1.0, done=True)
    backlog.start(1.0, now=100.0)  # idle for 99 s
    backlog.finish(1.0, now=101.0, done=True)
    assert backlog.rate == pytest.approx(3.0 / 3.0)


# --- the API on fake engines -----------------------------------------------------------------

FAKE = fake_loader()
SLOW = fake_loader(delay_s=0.3)
RECEIPT_BYTES = RECEIPT.read_bytes()


def png(width: int, height: int) -> bytes:
    buf = io.BytesIO()
    PILImage.new("RGB", (width, height), "white").save(buf, "PNG")
    return buf.getvalue()


def upload(data: bytes) -> dict[str, object]:
    return {"files": {"file": ("x.png", data, "image/png")}}


@pytest.mark.anyio
async def test_an_image_over_the_whole_budget_is_413() -> None:
    async with serving(FAKE, memory_budget_bytes=32 * MB) as (_, client):
        err = assert_error(
            await client.post("/v1/ocr", **upload(png(3000, 2000))), 413, "IMAGE_TOO_LARGE"
        )
        assert "32 MB" in err["message"]


@pytest.mark.anyio
async def test_images_over_the_budget_together_get_429_with_retry_after() -> None:
    settings = {"memory_budget_bytes": 96 * MB, "cache_memory_bytes": 0}  # one 6 Mpx page: 70
    async with serving(SLOW, **settings) as (rt, client):
        first = asyncio.create_task(client.post("/v1/ocr", **upload(png(3000, 2000))))
        await until(lambda: rt.budget.used > 0)
        second = await client.post("/v1/ocr", **upload(png(3000, 2001)))
        err = assert_error(second, 429, "OVERLOADED")
        assert "memory budget" in err["message"] and int(second.headers["retry-after"]) >= 1
        assert (await first).status_code == 200
        assert rt.budget.used == 0
        assert (await client.post("/v1/ocr", **upload(png(3000, 2001)))).status_code == 200


@pytest.mark.anyio
async def test_options_over_the_servers_caps_are_422() -> None:
    async with serving(FAKE, max_det_pixels=1280 * 1280, max_beam_width=8) as (_, client):
        page = upload(png(3000, 4000))
        big = await client.post("/v1/ocr", params={"det_limit_side_len": 2048}, **page)
        assert "det_limit_side_len" in assert_error(big, 422, "INVALID_REQUEST")["message"]
        beam = await client.post("/v1/ocr", params={"decoder": "beam", "beam_width": 9}, **page)
        assert "beam_width" in assert_error(beam, 422, "INVALID_REQUEST")["message"]
        ok = await client.post("/v1/ocr", params={"decoder": "beam", "beam_width": 8}, **page)
        assert ok.status_code == 200


@pytest.mark.anyio
async def test_work_that_would_finish_too_late_is_refused_not_timed_out() -> None:
    settings = {"cache_memory_bytes": 0, "admit_within_s": 0.5}
    async with serving(SLOW, **settings) as (rt, client):
        rt.backlog.rate = 1.0  # units per second, as if measured
        first = asyncio.create_task(client.post("/v1/ocr", **upload(RECEIPT_BYTES)))
        await until(lambda: rt.backlog.units > 0)
        rt.backlog.units = 10.0  # ten seconds of work in flight
        late = await client.post("/v1/ocr", **upload(RECEIPT_BYTES + b"\0"))
        err = assert_error(late, 429, "OVERLOADED")
        assert "finish within 0.5 s" in err["message"]
        assert int(late.headers["retry-after"]) >= 9
        rt.backlog.units = 0.1
        assert (await first).status_code == 200
        assert metric(rt, "ocr_errors_total", code="OVERLOADED") == 1


@pytest.mark.anyio
async def test_a_cache_hit_is_never_refused_for_cost() -> None:
    async with serving(FAKE, memory_budget_bytes=64 * MB) as (rt, client):
        assert (await client.post("/v1/ocr", **upload(RECEIPT_BYTES))).status_code == 200
        rt.budget.used = rt.budget.limit  # full
        hit = await client.post("/v1/ocr", **upload(RECEIPT_BYTES))
        assert hit.status_code == 200 and hit.json()["cached"] is True
        rt.budget.used = 0
