"""A 10-page PDF vs the same 10 pages as separate image requests, against a real ``ocr serve``
(issue 12): do the pages of one PDF share batches, and what does one request cost against ten?

The pages are the first ``--pages`` SROIE receipts at their physical size (``pdf_dpi.py``: an
80 mm roll), in one PDF held in memory. The images are those pages as the server renders them
(PDFium at ``--dpi``), PNG-encoded, so every mode reads the same pixels. Modes:

- ``pdf``: one ``POST /v1/ocr`` of the PDF (``dpi`` given);
- ``images-concurrent``: the ten PNGs as ten requests at once;
- ``images-sequential``: the ten PNGs one after another.

One server (cache off, a request timeout long enough for a shared machine) serves every run;
the modes alternate (the order rotates each repetition) after one warm-up request (one page).
Per run: wall seconds, pages/s, lines read, and the mean det / cls / rec batch size from
``/metrics``.

    PYTHONPATH=. .venv/bin/python benchmarks/pdf_throughput.py --threads 2 --reps 3 \
        [--json var/bench/pdf/throughput.json]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import statistics
import subprocess
import sys
import time
from collections.abc import Awaitable, Callable, Sequence
from pathlib import Path
from typing import Any

import cv2
import httpx

from benchmarks.http_load import metrics_delta, scrape
from benchmarks.pdf_dpi import scan, scans_pdf
from models.eval.bench import set_thread_env
from service.cli.common import open_dataset
from service.documents.options import PdfLimits, PdfOptions
from service.documents.pdf import PdfSource

MODES = ("pdf", "images-concurrent", "images-sequential")
PDF = {"content-type": "application/pdf"}
PNG = {"content-type": "image/png"}


def make_inputs(count: int, dpi: int) -> tuple[bytes, list[bytes]]:
    """The PDF of ``count`` receipts and its pages rendered at ``dpi`` as PNGs."""
    ds = open_dataset("sroie_train_dev", limit=count)
    pdf = scans_pdf([scan(ds, sample) for sample in ds.samples])
    source = PdfSource.open(pdf, PdfOptions(dpi=dpi), PdfLimits())
    try:
        pngs = [_png(source, page) for page in source.pages]
    finally:
        source.close()
    return pdf, pngs


def _png(source: PdfSource, page: Any) -> bytes:
    ok, body = cv2.imencode(".png", source.render(page).pixels)
    assert ok
    return body.tobytes()


def start_server(port: int, threads: int) -> subprocess.Popen[bytes]:
    env = {
        **os.environ,
        "OCR_PORT": str(port),
        "OCR_INTRA_OP_THREADS": str(threads),
        "OCR_CACHE_MEMORY_BYTES": "0",
        "OCR_REQUEST_TIMEOUT_S": "300",
    }
    ocr = Path(sys.executable).with_name("ocr")
    return subprocess.Popen([str(ocr), "serve", "--port", str(port)], env=env)


async def wait_ready(
    client: httpx.AsyncClient, base: str, server: subprocess.Popen[bytes], limit_s: float = 180
) -> None:
    deadline = time.monotonic() + limit_s
    while time.monotonic() < deadline and server.poll() is None:
        try:
            if (await client.get(base + "/readyz")).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        await asyncio.sleep(0.5)
    raise RuntimeError("the server exited or did not get ready (see its log above)")


Post = Callable[[], Awaitable[int]]


def modes(
    client: httpx.AsyncClient, url: str, pdf: bytes, pngs: list[bytes], dpi: int
) -> dict[str, Post]:
    """Each mode as a coroutine that sends its requests and returns the lines read."""

    async def post(body: bytes, headers: dict[str, str], params: dict[str, str]) -> list[Any]:
        r = await client.post(url, content=body, headers=headers, params=params)
        r.raise_for_status()
        doc = r.json()
        return [ln for page in doc.get("pages", [doc]) for ln in page["lines"]]

    async def one_pdf() -> int:
        return len(await post(pdf, PDF, {"dpi": str(dpi)}))

    async def concurrent() -> int:
        results = await asyncio.gather(*(post(p, PNG, {}) for p in pngs))
        return sum(len(r) for r in results)

    async def sequential() -> int:
        return sum([len(await post(p, PNG, {})) for p in pngs])

    return dict(zip(MODES, (one_pdf, concurrent, sequential), strict=True))


async def measure(
    client: httpx.AsyncClient, base: str, name: str, run: Post, pages: int
) -> dict[str, Any]:
    before = await scrape(client, base + "/metrics")
    start = time.perf_counter()
    lines = await run()
    wall = time.perf_counter() - start
    after = await scrape(client, base + "/metrics")
    batches = metrics_delta(before, after)["batch_size"] if before and after else {}
    means = {stage: b["mean"] for stage, b in batches.items()}
    row = {
        "mode": name,
        "wall_s": wall,
        "pages_per_s": pages / wall,
        "lines": lines,
        "batch": means,
    }
    print(json.dumps(row), flush=True)
    return row


async def session(
    args: argparse.Namespace, server: subprocess.Popen[bytes], pdf: bytes, pngs: list[bytes]
) -> list[dict[str, Any]]:
    base = f"http://127.0.0.1:{args.port}"
    async with httpx.AsyncClient(timeout=600) as client:
        await wait_ready(client, base, server)
        runs = modes(client, base + "/v1/ocr", pdf, pngs, args.dpi)
        await modes(client, base + "/v1/ocr", pdf, pngs[:1], args.dpi)["images-sequential"]()
        rows = []
        for rep in range(args.reps):
            order = MODES[rep % 3 :] + MODES[: rep % 3]
            for name in order:
                rows.append(
                    {"rep": rep, **await measure(client, base, name, runs[name], len(pngs))}
                )
        return rows


def table(rows: Sequence[dict[str, Any]]) -> str:
    out = [
        "| mode | runs | wall s (each run) | median wall s | pages/s | lines "
        "| mean batch det / cls / rec |",
        "|---|---:|---|---:|---:|---:|---|",
    ]
    for mode in MODES:
        mine = [r for r in rows if r["mode"] == mode]
        walls = [r["wall_s"] for r in mine]
        batch = " / ".join(
            f"{statistics.mean(r['batch'].get(s, 0.0) for r in mine):.2f}"
            for s in ("det", "cls", "rec")
        )
        each = ", ".join(f"{w:.1f}" for w in walls)
        median = statistics.median(walls)
        pages = mine[0]["pages_per_s"] * mine[0]["wall_s"]
        out.append(
            f"| {mode} | {len(mine)} | {each} | {median:.1f} | {pages / median:.2f} | "
            f"{mine[0]['lines']} | {batch} |"
        )
    return "\n".join(out)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--pages", type=int, default=10)
    ap.add_argument("--dpi", type=int, default=200)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--reps", type=int, default=3)
    ap.add_argument("--port", type=int, default=18712)
    ap.add_argument("--json", type=Path)
    args = ap.parse_args(argv)
    set_thread_env(args.threads)
    pdf, pngs = make_inputs(args.pages, args.dpi)
    print(f"PDF {len(pdf)} bytes, {len(pngs)} PNGs {sum(map(len, pngs))} bytes", flush=True)
    server = start_server(args.port, args.threads)
    try:
        rows = asyncio.run(session(args, server, pdf, pngs))
    finally:
        server.terminate()
        server.wait(timeout=60)
    print(table(rows))
    if args.json:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps(rows, indent=2))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
