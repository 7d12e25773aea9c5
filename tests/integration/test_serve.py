"""`ocr serve` as a real uvicorn process: JSON logs, and the SIGTERM drain under load —
/readyz turns 503 at once, every accepted request is answered, then the process exits."""

from __future__ import annotations

import json
import signal
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import httpx
import pytest

from tests.support.api import RECEIPT
from tests.support.server import ServeProcess

pytestmark = pytest.mark.integration


def test_sigterm_drains_accepted_requests_then_exits(tmp_path: Path) -> None:
    server = ServeProcess(
        tmp_path / "server.log", {"OCR_SHUTDOWN_DELAY_S": "1.5", "OCR_DRAIN_TIMEOUT_S": "60"}
    ).start()
    url, log = server.url, server.log
    data = RECEIPT.read_bytes()
    try:

        def ocr(i: int) -> int:
            files = {"file": (f"r{i}.png", data + b"\0" * i, "image/png")}  # distinct bytes
            return httpx.post(f"{url}/v1/ocr", files=files, timeout=120).status_code

        with ThreadPoolExecutor(8) as pool:
            futures = [pool.submit(ocr, i) for i in range(8)]
            time.sleep(0.5)  # the requests are accepted and queued
            server.signal(signal.SIGTERM)
            time.sleep(0.3)
            ready = httpx.get(f"{url}/readyz", timeout=5)
            assert ready.status_code == 503
            assert ready.json()["error"]["code"] == "NOT_READY"
            late = ocr(99)  # arrives during the shutdown delay: still served
            statuses = [f.result(timeout=120) for f in futures]
        assert statuses == [200] * 8
        assert late == 200
        returncode = server.wait(timeout=60)
    finally:
        server.stop()
    assert returncode in (0, -signal.SIGTERM), returncode
    records = [json.loads(line) for line in log.read_text().splitlines() if line.startswith("{")]
    assert any(r["msg"].startswith("draining") for r in records)
    access = [r for r in records if r["logger"] == "service.access"]
    assert len(access) >= 9 and all(len(r["request_id"]) == 32 for r in access)


def _sample(text: str, name: str) -> float:
    total = 0.0
    for line in text.splitlines():
        if line.startswith(name) and not line.startswith("#"):
            total += float(line.rsplit(" ", 1)[1])
    return total


def test_clients_that_give_up_have_their_queued_work_dropped(tmp_path: Path) -> None:
    server = ServeProcess(tmp_path / "server.log").start()
    url = server.url
    data = RECEIPT.read_bytes()
    try:

        def impatient(i: int) -> str:
            files = {"file": (f"r{i}.png", data + b"\0" * i, "image/png")}
            try:
                httpx.post(f"{url}/v1/ocr", files=files, timeout=0.4)
            except httpx.TimeoutException:
                return "gave up"
            return "answered"

        with ThreadPoolExecutor(12) as pool:
            outcomes = list(pool.map(impatient, range(12)))
        assert outcomes.count("gave up") >= 8
        time.sleep(3)  # the server notices the disconnects and its queues settle
        text = httpx.get(f"{url}/metrics", timeout=5).text
        assert _sample(text, "ocr_batch_dropped_items_total") > 0
        assert 'status="499"' in text
        assert _sample(text, "ocr_queue_depth") == 0
        assert httpx.get(f"{url}/livez", timeout=5).status_code == 200
    finally:
        server.stop()
