"""A real `ocr serve` for the hostile suite (real models, API keys on, 1 s connection timeouts,
plain-text logs), a client that fails on any 5xx, and a liveness probe that runs for the
whole suite: every /livez must answer 200 within 1 s, whatever the other tests send."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from service.api.keys import key_digest
from tests.support.server import ServeProcess

KEY = "hostile-suite-key-0f3a9c51"
TIMEOUT_S = 1.0  # header, body-chunk and keep-alive timeouts of the server under test
ENV = {
    "OCR_API_KEYS": key_digest(KEY),
    "OCR_HEADER_TIMEOUT_S": str(TIMEOUT_S),
    "OCR_BODY_TIMEOUT_S": str(TIMEOUT_S),
    "OCR_KEEPALIVE_TIMEOUT_S": str(int(TIMEOUT_S)),
    "OCR_LOG_JSON": "false",
    "OCR_MAX_BATCH_IMAGES": "4",
    "OCR_REQUEST_TIMEOUT_S": "8",  # admits what finishes within 6 s (test_cost.py)
}
LIVEZ_WITHIN_S = 1.0


class Liveness:
    """Polls /livez in a thread; ``failures`` lists every answer that was not 200 in time."""

    def __init__(self, url: str, every_s: float = 0.1) -> None:
        self.url = f"{url}/livez"
        self.every_s = every_s
        self.failures: list[str] = []
        self.probes = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        with httpx.Client(timeout=LIVEZ_WITHIN_S) as http:
            while not self._stop.wait(self.every_s):
                start = time.monotonic()
                try:
                    status = http.get(self.url).status_code
                except httpx.HTTPError as exc:
                    status = type(exc).__name__  # type: ignore[assignment]
                took = time.monotonic() - start
                self.probes += 1
                if status != 200 or took > LIVEZ_WITHIN_S:
                    self.failures.append(f"{status} after {took:.2f} s")

    def __enter__(self) -> Liveness:
        self._thread.start()
        return self

    def __exit__(self, *_: Any) -> None:
        self._stop.set()
        self._thread.join(timeout=5)


@pytest.fixture(scope="package")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServeProcess]:
    log = tmp_path_factory.mktemp("hostile") / "server.log"
    with ServeProcess(log, ENV, clean_env=True) as srv, Liveness(srv.url) as probe:
        yield srv
    assert probe.probes > 10 and not probe.failures, f"/livez failed: {probe.failures}"


class Client:
    """httpx with the suite's key; every answer must be below 500."""

    def __init__(self, url: str, key: str | None = KEY) -> None:
        headers = {"x-api-key": key} if key else {}
        self.http = httpx.Client(base_url=url, timeout=60, headers=headers)

    def request(self, method: str, path: str, **kwargs: Any) -> httpx.Response:
        r = self.http.request(method, path, **kwargs)
        assert r.status_code < 500, f"{method} {path}: {r.status_code} {r.text[:300]}"
        return r

    def post(self, path: str, **kwargs: Any) -> httpx.Response:
        return self.request("POST", path, **kwargs)

    def get(self, path: str, **kwargs: Any) -> httpx.Response:
        return self.request("GET", path, **kwargs)


@pytest.fixture
def client(server: ServeProcess) -> Iterator[Client]:
    c = Client(server.url)
    yield c
    c.http.close()


def server_log(server: ServeProcess) -> str:
    return Path(server.log).read_text(errors="replace")
