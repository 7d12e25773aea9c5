"""Requests that cost far more than they weigh, against a real `ocr serve` (issue 16): a JPEG
with thousands of scans, decompression-style PNGs, options over the server's caps, a burst of
more work than fits the request timeout, a dense page beside a tiny one, and SIGTERM while a
decode runs. Nothing gets a 5xx (504 included), memory stays in the budget and goes back."""

from __future__ import annotations

import signal
import threading
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from pathlib import Path

import httpx
import psutil
import pytest

from loadtest.corpus import bust
from tests.hostile.conftest import ENV, Client, server_log
from tests.support.api import RECEIPT
from tests.support.hostile_images import blank_png, dense_page, many_scans_jpeg, tiny_word
from tests.support.server import ServeProcess

pytestmark = pytest.mark.hostile

BUDGET_MB = 320  # the default OCR_MEMORY_BUDGET_BYTES
MARGIN_MB = 250  # engine arenas growing, threads, what the estimate leaves out


def code(r: httpx.Response) -> tuple[int, str]:
    return r.status_code, r.json()["error"]["code"]


def upload(data: bytes, name: str = "x.png") -> dict[str, object]:
    return {"files": {"file": (name, data, "application/octet-stream")}}


@contextmanager
def peak_rss_mb(pid: int) -> Iterator[list[float]]:
    """Samples the process's RSS every 20 ms; yields a list that ends up holding the peak."""
    proc, peak, stop = psutil.Process(pid), [0.0], threading.Event()

    def sample() -> None:
        while not stop.wait(0.02):
            peak[0] = max(peak[0], proc.memory_info().rss / 2**20)

    thread = threading.Thread(target=sample, daemon=True)
    thread.start()
    try:
        yield peak
    finally:
        stop.set()
        thread.join()


def rss_mb(server: ServeProcess) -> float:
    assert server.proc is not None
    return float(psutil.Process(server.proc.pid).memory_info().rss) / 2**20


def test_a_jpeg_with_thousands_of_scans_is_refused_before_decoding(
    client: Client, server: ServeProcess
) -> None:
    scans = many_scans_jpeg(6000, 20_000)  # 1.2 MB; ~9 minutes to decode here
    with ThreadPoolExecutor(3) as pool:
        bombs = [
            pool.submit(client.post, "/v1/ocr", **upload(bust(scans), "s.jpg")) for _ in (1, 2)
        ]
        start = time.monotonic()
        normal = client.post("/v1/ocr", **upload(RECEIPT.read_bytes()))
        answered = [f.result() for f in bombs]
    assert normal.status_code == 200 and time.monotonic() - start < 10
    for r in answered:
        assert code(r) == (422, "INVALID_IMAGE") and "scans" in r.json()["error"]["message"]
        assert r.elapsed.total_seconds() < 2


def test_options_over_the_servers_caps_are_refused(client: Client) -> None:
    page = upload(blank_png(3000, 4000))
    r = client.post("/v1/ocr", params={"det_limit_side_len": 4096}, **page)
    assert code(r) == (422, "INVALID_REQUEST") and "det_limit_side_len" in r.text
    r = client.post("/v1/ocr", params={"decoder": "beam", "beam_width": 50}, **page)
    assert code(r) == (422, "INVALID_REQUEST") and "beam_width" in r.text


def test_decompression_bombs_stay_in_the_budget_and_memory_goes_back(
    client: Client, server: ServeProcess
) -> None:
    assert server.proc is not None
    png = blank_png(8000, 5000)  # 130 KB, 40 Mpx: ~280 MB to decode
    before = rss_mb(server)
    with peak_rss_mb(server.proc.pid) as peak, ThreadPoolExecutor(16) as pool:
        answers = list(pool.map(lambda _: client.post("/v1/ocr", **upload(bust(png))), range(16)))
    statuses = sorted(r.status_code for r in answers)
    assert set(statuses) <= {200, 429} and 200 in statuses, statuses
    assert all(r.headers.get("retry-after") for r in answers if r.status_code == 429)
    assert peak[0] <= before + BUDGET_MB + MARGIN_MB, f"{before:.0f} -> {peak[0]:.0f} MB"
    deadline = time.monotonic() + 6  # idle for 2 s: arenas and the heap go back
    while rss_mb(server) > before * 1.2 and time.monotonic() < deadline:
        time.sleep(0.25)
    assert rss_mb(server) <= before * 1.2, f"{before:.0f} MB warm, {rss_mb(server):.0f} after"


def test_a_burst_is_refused_rather_than_timed_out(client: Client) -> None:
    """More receipts at once than fit in 3/4 of the request timeout (OCR_REQUEST_TIMEOUT_S=8
    here): every admitted one is answered in time, the others get 429 + Retry-After."""
    data = RECEIPT.read_bytes()
    with ThreadPoolExecutor(24) as pool:
        answers = list(pool.map(lambda _: client.post("/v1/ocr", **upload(bust(data))), range(24)))
    statuses = [r.status_code for r in answers]
    assert set(statuses) <= {200, 429} and 200 in statuses and 429 in statuses, statuses
    assert all(r.headers.get("retry-after") for r in answers if r.status_code == 429)
    assert max(r.elapsed.total_seconds() for r in answers if r.status_code == 200) < 8


def test_a_dense_page_does_not_stall_a_tiny_image(client: Client) -> None:
    dense = dense_page(lines=24, size=(1200, 1200))  # ~4 s alone, 3 of them recognition
    with ThreadPoolExecutor(1) as pool:
        page = pool.submit(client.post, "/v1/ocr", **upload(dense))
        time.sleep(1.2)  # the page is in recognition
        tiny = client.post("/v1/ocr", **upload(tiny_word()))
        big = page.result()
    assert big.status_code == 200 and tiny.status_code == 200
    took, page_s = tiny.elapsed.total_seconds(), big.elapsed.total_seconds()
    assert took < 1.5 and took < (page_s - 1.2) / 2, f"tiny {took:.2f} s, page {page_s:.2f} s"
    assert "Receipt" in tiny.json()["text"]


def test_sigterm_exits_by_the_drain_deadline_while_a_decode_runs(tmp_path: Path) -> None:
    env = {**ENV, "OCR_MAX_JPEG_SCANS": "100000", "OCR_DRAIN_TIMEOUT_S": "1"}
    slow = many_scans_jpeg(3000, 4000)  # ~25 s to decode, allowed here
    with (
        ServeProcess(tmp_path / "server.log", env, clean_env=True) as srv,
        ThreadPoolExecutor(1) as pool,
    ):
        pool.submit(Client(srv.url).http.post, "/v1/ocr", **upload(slow, "s.jpg"))
        time.sleep(1.0)  # decoding
        start = time.monotonic()
        srv.signal(signal.SIGTERM)
        code_ = srv.wait(timeout=15)
        took = time.monotonic() - start
    assert took <= 1 + 2 + 1.5, f"exit {took:.1f} s after SIGTERM"  # drain + grace + margin
    assert code_ == 1 and "drain deadline passed" in server_log(srv)
