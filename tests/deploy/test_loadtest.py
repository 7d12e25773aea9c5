"""The locust load test (loadtest/) against a real `ocr serve` (uvicorn) and a real Redis.

A short headless smoke with generous SLOs must pass (exit 0), make requests and hit the Redis
cache; a run with an impossible SLO must fail (the gate gates); cache-busting must miss the
cache every time while decoding to the very same pixels. Uses the bundled corpus only, so it
needs nothing from ../shared/datasets.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import httpx
import numpy as np
import pytest

from loadtest.corpus import bundled_corpus, bust
from service.ocr.decode import decode_image
from tests.support.redis_server import RedisServer
from tests.support.server import ServeProcess

pytestmark = pytest.mark.integration

ROOT = Path(__file__).resolve().parents[2]
LOCUSTFILE = ROOT / "loadtest" / "locustfile.py"
BIN = Path(sys.executable).parent
OCR = BIN / "ocr"
LOCUST = BIN / "locust"


def test_cache_bust_changes_the_bytes_not_the_pixels() -> None:
    for sample in bundled_corpus().samples:
        a, b = bust(sample.data), bust(sample.data)
        assert len({sample.data, a, b}) == 3, sample.name
        same = decode_image(sample.data).pixels
        assert np.array_equal(decode_image(a).pixels, same), sample.name


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    if not LOCUST.exists():
        pytest.fail(f"{LOCUST} missing: install the dev extra (pip install -e '.[dev]')")
    log = tmp_path_factory.mktemp("loadtest") / "server.log"
    with RedisServer() as redis, ServeProcess(log, {"OCR_REDIS_URL": redis.url}) as srv:
        yield srv.url
        assert srv.alive, f"server died under load:\n{srv.tail()}"


def locust(
    url: str,
    tmp_path: Path,
    *args: str,
    files: str = str(LOCUSTFILE),
    env: dict[str, str] | None = None,
) -> tuple[int, str, dict[str, int]]:
    """Run the locustfile headless; (exit code, output, aggregated request/failure counts)."""
    out = tmp_path / "stats.json"  # locust appends ".json" to --json-file
    cmd = [str(LOCUST), "-f", files, "--headless", "--only-summary", "--host", url]
    cmd += ["--corpus", "bundled", "--seed", "1", "--json-file", str(out.with_suffix("")), *args]
    environ = {**os.environ, **(env or {})}
    run = subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True, timeout=120, env=environ)
    text = run.stdout + run.stderr
    stats = json.loads(out.read_text()) if out.exists() else []
    totals = {
        "requests": sum(s["num_requests"] for s in stats),
        "failures": sum(s["num_failures"] for s in stats),
    }
    return run.returncode, text, totals


def cache_lookups(url: str) -> dict[str, float]:
    text = httpx.get(f"{url}/metrics", timeout=5).text
    pattern = r'^ocr_cache_requests_total\{backend="redis",result="(\w+)"\} (\S+)'
    found = re.findall(pattern, text, re.M)
    return {result: float(v) for result, v in found}


def server_errors(url: str) -> list[str]:
    text = httpx.get(f"{url}/metrics", timeout=5).text
    return re.findall(r'^ocr_http_requests_total\{[^}]*status="5\d\d"[^}]*\} \S+', text, re.M)


def test_smoke_passes_its_slo_and_hits_the_redis_cache(server: str, tmp_path: Path) -> None:
    rc, text, totals = locust(
        server, tmp_path, "-u", "4", "-r", "4", "-t", "20s",
        "--slo-max-fail-ratio", "0.02", "--slo-p95-ms", "20000",
    )  # fmt: skip
    assert rc == 0, text[-4000:]
    assert "SLO PASS" in text, text[-4000:]
    assert totals["requests"] >= 10, (totals, text[-4000:])
    assert totals["failures"] == 0, text[-4000:]
    assert cache_lookups(server).get("hit", 0) > 0, "repeated images never hit the Redis cache"
    assert server_errors(server) == []


def test_gate_fails_an_impossible_slo_and_cache_bust_misses(server: str, tmp_path: Path) -> None:
    before = cache_lookups(server)
    rc, text, totals = locust(
        server, tmp_path, "-u", "2", "-r", "2", "-t", "6s", "--cache-bust", "--slo-p95-ms", "1"
    )
    assert rc == 1, text[-4000:]
    assert re.search(r"SLO FAIL: .*p95 \d+ ms > 1 ms", text), text[-4000:]
    assert totals["requests"] > 0 and totals["failures"] == 0, (totals, text[-4000:])
    after = cache_lookups(server)
    assert after.get("hit", 0) == before.get("hit", 0), "a cache-busted request hit the cache"
    assert after.get("miss", 0) - before.get("miss", 0) >= totals["requests"]
    assert server_errors(server) == []


def test_the_job_scenario_runs_jobs_to_the_end_beside_interactive_users(
    server: str, tmp_path: Path
) -> None:
    files = f"{LOCUSTFILE},{ROOT / 'loadtest' / 'jobs.py'}"
    rc, text, _ = locust(
        server, tmp_path, "-u", "2", "-r", "2", "-t", "25s", "OcrUser", "JobUser",
        "--slo-max-fail-ratio", "0.02", "--slo-p95-ms", "30000",
        files=files, env={"OCR_LOADTEST_JOB_PAGES": "2"},
    )  # fmt: skip
    assert rc == 0, text[-4000:]
    stats = {s["name"]: s for s in json.loads((tmp_path / "stats.json").read_text())}
    assert stats["job (2 pages)"]["num_requests"] >= 1, text[-4000:]
    assert stats["job (2 pages)"]["num_failures"] == 0, text[-4000:]
    assert stats["/v1/jobs"]["num_failures"] == 0
