"""One reading path: `ocr predict --json`, `ocr eval`'s page predictor and `POST /v1/ocr` on a
real `ocr serve` process answer the same pages with the same lines, alone and under load.

If the server's flow and the CLI's ever diverge again (a stage, an orientation rule, a rounding),
this fails: every number the project publishes is measured on the CLI side.
"""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import cv2
import httpx
import numpy as np
import pytest

from service.cli.common import dataset_predictor
from service.runtime.loader import load_pipeline
from service.settings import Settings
from tests.integration.render import render_lines
from tests.support.server import ServeProcess

pytestmark = pytest.mark.integration

REPO = Path(__file__).resolve().parents[2]
OCR = str(Path(sys.executable).parent / "ocr")
LONG = " ".join(["Invoice 2026-11-23 total 1,234.56 EUR paid by card"] * 5)


def _pages(root: Path) -> list[Path]:
    """The receipt, the receipt upside down, one very long line, a blank page."""
    receipt = cv2.imread(str(REPO / "samples" / "receipt.png"))
    pages = {
        "receipt.png": receipt,
        "upside_down.png": cv2.rotate(receipt, cv2.ROTATE_180),
        "long_line.png": render_lines([LONG], size=28, width=4200).pixels,
        "blank.png": np.full((600, 800, 3), 255, np.uint8),
    }
    for name, pixels in pages.items():
        cv2.imwrite(str(root / name), pixels)
    return [root / name for name in pages]


@pytest.fixture(scope="module")
def pages(tmp_path_factory: pytest.TempPathFactory) -> list[Path]:
    return _pages(tmp_path_factory.mktemp("pages"))


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServeProcess]:
    log = tmp_path_factory.mktemp("serve") / "serve.log"
    with ServeProcess(log, env={"OCR_INTRA_OP_THREADS": "1"}) as proc:
        yield proc


def _cli(pages: list[Path]) -> dict[str, dict[str, Any]]:
    cmd = [OCR, "predict", "--json", "--threads", "1", *map(str, pages)]
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=600, cwd=REPO)
    assert proc.returncode == 0, proc.stderr
    docs = [json.loads(line) for line in proc.stdout.splitlines()]
    return {Path(d["file"]).name: d for d in docs}


def _http(url: str, page: Path) -> dict[str, Any]:
    files = {"file": (page.name, page.read_bytes(), "image/png")}
    resp = httpx.post(f"{url}/v1/ocr", files=files, timeout=300)
    assert resp.status_code == 200, resp.text
    doc: dict[str, Any] = resp.json()
    return doc


def _lines(doc: dict[str, Any]) -> list[tuple[str, float, list[list[float]], int]]:
    return [(ln["text"], ln["score"], ln["polygon"], ln["angle"]) for ln in doc["lines"]]


def _same_lines(a: dict[str, Any], b: dict[str, Any]) -> None:
    la, lb = _lines(a), _lines(b)
    assert [x[0] for x in la] == [x[0] for x in lb]
    assert [x[2] for x in la] == [x[2] for x in lb] and [x[3] for x in la] == [x[3] for x in lb]
    assert np.allclose([x[1] for x in la], [x[1] for x in lb], atol=1e-5, rtol=0)


def test_cli_eval_and_server_read_every_page_alike(pages: list[Path], server: ServeProcess) -> None:
    cli = _cli(pages)
    s = Settings(intra_op_threads=1)
    predict = dataset_predictor(load_pipeline(s), "page", s.ocr_options(), s)
    for page in pages:
        http = _http(server.url, page)
        _same_lines(cli[page.name], http)
        assert cli[page.name]["text"] == http["text"]
        evaluated = predict(page.read_bytes())["lines"]
        assert [ln["text"] for ln in evaluated] == [ln["text"] for ln in http["lines"]]
        for ev, ht in zip(evaluated, http["lines"], strict=True):
            assert abs(ev["score"] - ht["score"]) <= 5e-6 + 1e-6  # HTTP rounds to 1e-5
            assert [[round(x, 1), round(y, 1)] for x, y in ev["points"]] == ht["polygon"]
    assert any(ln["angle"] == 180 for ln in cli["upside_down.png"]["lines"])
    assert cli["blank.png"]["lines"] == [] and cli["long_line.png"]["lines"]


def test_concurrent_requests_answer_as_each_alone(pages: list[Path], server: ServeProcess) -> None:
    alone = {p.name: _http(server.url, p) for p in pages}
    crowd = [p for p in pages for _ in range(4)]
    with ThreadPoolExecutor(len(crowd)) as pool:
        answers = list(pool.map(lambda p: _http(server.url, p), crowd))
    for page, doc in zip(crowd, answers, strict=True):
        _same_lines(alone[page.name], doc)
