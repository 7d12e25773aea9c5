"""Locust job workload (issue 13): clients that submit multi-page jobs to /v1/jobs, poll their
status as told (Retry-After), and fetch every result page. Alone or beside the interactive
users of locustfile.py:

    .venv/bin/locust -f loadtest/locustfile.py,loadtest/jobs.py --headless -u 9 -r 3 -t 5m \
        --host http://127.0.0.1:8000 OcrUser JobUser        # 1 JobUser, 8 OcrUser

Statistics: ``POST /v1/jobs``, ``GET /v1/jobs/{id}`` (polls), ``GET /v1/jobs/{id}/result``,
and ``job (N pages)``: submission to the last result page, the time a client waits for a
whole document. A job that ends ``failed``/``canceled``, or with page errors, is a failure.
Pages: ``OCR_LOADTEST_JOB_PAGES`` (default 20) copies of the bundled receipt.
"""

from __future__ import annotations

import os
import time
from pathlib import Path
from typing import Any

from locust import FastHttpUser, task

PAGE = (Path(__file__).resolve().parents[1] / "samples" / "receipt.png").read_bytes()
PAGES = int(os.environ.get("OCR_LOADTEST_JOB_PAGES", "20"))
MAX_WAIT_S = float(os.environ.get("OCR_LOADTEST_JOB_MAX_WAIT_S", "1800"))


class JobUser(FastHttpUser):
    """One client with long documents: one job at a time, start to finish."""

    fixed_count = 1  # one job client, spawned first; the other users are interactive
    network_timeout = 120.0
    _job_id: str | None = None  # the job in flight, cancelled when the run ends

    def wait_time(self) -> float:
        return 1.0

    def on_stop(self) -> None:
        if self._job_id is not None:  # leave no work behind on the server
            self.client.delete(f"/v1/jobs/{self._job_id}", name="/v1/jobs/{id}")

    @task
    def job(self) -> None:
        start = time.perf_counter()
        job_id = self._job_id = self._submit()
        if job_id is None:
            return
        status = self._wait(job_id)
        self._job_id = None
        ok = status is not None and self._fetch(job_id)
        self.environment.events.request.fire(
            request_type="JOB",
            name=f"job ({PAGES} pages)",
            response_time=(time.perf_counter() - start) * 1000,
            response_length=0,
            exception=None if ok else RuntimeError(f"job ended {status}"),
            context={},
        )

    def _submit(self) -> str | None:
        files = [("files", (f"p{i}.png", PAGE, "image/png")) for i in range(PAGES)]
        body, ctype = _multipart(files)
        with self.client.post(
            "/v1/jobs", data=body, headers={"Content-Type": ctype}, catch_response=True
        ) as resp:
            if resp.status_code != 202:
                resp.failure(f"{resp.status_code}")
                time.sleep(_retry_after(resp.headers.get("retry-after")))
                return None
            return str(resp.json()["id"])

    def _wait(self, job_id: str) -> str | None:
        deadline = time.monotonic() + MAX_WAIT_S
        while time.monotonic() < deadline:
            resp = self.client.get(f"/v1/jobs/{job_id}", name="/v1/jobs/{id}")
            body: dict[str, Any] = resp.json()
            if body["status"] in ("succeeded", "failed", "canceled"):
                clean = body["status"] == "succeeded" and not body["errors"]
                return str(body["status"]) if clean else None
            time.sleep(_retry_after(resp.headers.get("retry-after")))
        return None

    def _fetch(self, job_id: str) -> bool:
        url: str | None = f"/v1/jobs/{job_id}/result"
        while url is not None:
            resp = self.client.get(url, name="/v1/jobs/{id}/result")
            if resp.status_code != 200:
                return False
            following = resp.json()["next_page_from"]
            url = None if following is None else f"/v1/jobs/{job_id}/result?page_from={following}"
        return True


def _retry_after(value: str | None) -> float:
    try:
        return min(5.0, max(0.5, float(value))) if value else 1.0
    except ValueError:
        return 1.0


def _multipart(files: list[tuple[str, tuple[str, bytes, str]]]) -> tuple[bytes, str]:
    boundary = os.urandom(12).hex()
    parts = []
    for field, (filename, data, ctype) in files:
        head = (
            f'--{boundary}\r\nContent-Disposition: form-data; name="{field}"; '
            f'filename="{filename}"\r\nContent-Type: {ctype}\r\n\r\n'
        )
        parts.append(head.encode() + data + b"\r\n")
    return b"".join(
        parts
    ) + f"--{boundary}--\r\n".encode(), f"multipart/form-data; boundary={boundary}"
