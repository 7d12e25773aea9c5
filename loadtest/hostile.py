"""Hostile clients against a fresh `ocr serve` (issue 16), bounded: every case stops by itself.

One server per run, started here on a free loopback port (default settings, 2 intra-op threads,
cache off) and stopped after. Its RSS is sampled at 10 Hz; "warm" is after three receipts, "peak"
is VmHWM (the kernel's high-water mark), "after" is --settle seconds after the load stopped.

    .venv/bin/python loadtest/hostile.py CASE [--code DIR] [--env K=V ...] [--settle 60]

CASE (what issue 16's table lists; the numbers are the issue's rows):

- ``scans`` (1): two progressive JPEGs of 6000x6000 with --scans empty scans at once, then a
  receipt 2 s later; ``drain`` (9): the same, and SIGTERM 3 s in: how long until the exit
- ``bombs`` (2): --clients (64) PNGs of 8000x5000 at once (130 KB each, 40 Mpx decoded);
  ``batch-bombs``: one /v1/ocr/batch call with 16 of them
- ``det-limit`` (3): three dense 3000x4000 pages in a row with det_limit_side_len=4096
- ``overload`` (5): --clients (100) closed-loop clients for --duration (30) s sending SROIE
  receipts (unique bytes each); a 429 waits its Retry-After (or what is left of the run)
- ``fairness`` (6): a dense 3000x4000 page with 110 long lines, a tiny image 4 s later

--code DIR runs another checkout's code (``git archive COMMIT | tar -x -C DIR``): before/after.
Send this only to servers you run: it is load on purpose.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import signal
import sys
import tempfile
import threading
import time
from collections import Counter
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import httpx
import psutil

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from loadtest.corpus import bust  # noqa: E402
from models.eval.bench import percentile  # noqa: E402
from tests.support.hostile_images import blank_png, dense_page, many_scans_jpeg, tiny_word  # noqa: E402
from tests.support.server import ServeProcess  # noqa: E402

RECEIPTS = REPO.parent / "shared" / "datasets" / "sroie_train_dev" / "images"
SAMPLE = REPO / "samples" / "receipt.png"
Result = dict[str, Any]


class Rss:
    """Samples a process's RSS (MB) in a thread."""

    def __init__(self, pid: int) -> None:
        self.proc = psutil.Process(pid)
        self.samples: list[tuple[float, float]] = []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()

    def now(self) -> float:
        try:
            return float(self.proc.memory_info().rss) / 2**20
        except psutil.Error:
            return 0.0

    def peak(self) -> float:
        try:
            status = Path(f"/proc/{self.proc.pid}/status").read_text()
        except OSError:
            return max((mb for _, mb in self.samples), default=0.0)
        return int(next(x for x in status.splitlines() if x.startswith("VmHWM")).split()[1]) / 1024

    def _run(self) -> None:
        while not self._stop.wait(0.1):
            self.samples.append((time.monotonic(), self.now()))

    def stop(self) -> None:
        self._stop.set()


async def post(http: httpx.AsyncClient, name: str, data: bytes, **kw: Any) -> Result:
    start = time.monotonic()
    path = kw.pop("path", "/v1/ocr")
    files = kw.pop("files", None) or {"file": ("x", data, "application/octet-stream")}
    try:
        r = await http.post(path, files=files, **kw)
        status, retry = r.status_code, r.headers.get("retry-after")
        code = _codes(r.json()) if status >= 400 or path.endswith("batch") else None
    except httpx.HTTPError as exc:
        status, retry, code = 0, None, type(exc).__name__
    return {
        "name": name,
        "status": status,
        "code": code,
        "retry_after": retry,
        "start": start,
        "s": round(time.monotonic() - start, 3),
    }


def _codes(body: dict[str, Any]) -> str | None:
    """The error code, or for a batch each item's outcome counted (``{"ok": 1, ...}``)."""
    if "results" in body:
        items = Counter((it["error"] or {}).get("code", "ok") for it in body["results"])
        return json.dumps(dict(items))
    return body.get("error", {}).get("code")


async def later(delay_s: float, work: Awaitable[Result]) -> Result:
    await asyncio.sleep(delay_s)
    return await work


def receipt() -> bytes:
    return SAMPLE.read_bytes()


async def case_scans(http: httpx.AsyncClient, a: argparse.Namespace, srv: ServeProcess) -> Any:
    jpeg = many_scans_jpeg(6000, a.scans)
    work = [post(http, "scans", bust(jpeg)) for _ in range(2)]
    work.append(later(2, post(http, "receipt", receipt())))
    if a.case == "drain":
        return await drain(work, srv)
    return await asyncio.gather(*work)


async def drain(work: list[Awaitable[Result]], srv: ServeProcess) -> Any:
    tasks = [asyncio.ensure_future(w) for w in work]
    await asyncio.sleep(3)
    sent = time.monotonic()
    srv.signal(signal.SIGTERM)
    while srv.alive:
        await asyncio.sleep(0.05)
    exited = time.monotonic() - sent
    done = await asyncio.gather(*tasks)
    return {"exit_after_sigterm_s": round(exited, 2), "requests": done}


async def case_bombs(http: httpx.AsyncClient, a: argparse.Namespace, _: ServeProcess) -> Any:
    png = blank_png(8000, 5000)
    if a.case == "batch-bombs":
        files = [("files", (f"{i}.png", bust(png), "image/png")) for i in range(16)]
        r = await post(http, "batch16", b"", path="/v1/ocr/batch", files=files)
        return [r]
    return await asyncio.gather(*(post(http, "bomb", bust(png)) for _ in range(a.clients)))


async def case_det_limit(http: httpx.AsyncClient, a: argparse.Namespace, _: ServeProcess) -> Any:
    page = dense_page()
    params = {"det_limit_side_len": "4096"}
    return [await post(http, "det4096", bust(page), params=params) for _ in range(3)]


async def case_fairness(http: httpx.AsyncClient, a: argparse.Namespace, _: ServeProcess) -> Any:
    dense = post(http, "dense", bust(dense_page()))
    return await asyncio.gather(dense, later(4, post(http, "tiny", bust(tiny_word()))))


async def case_overload(http: httpx.AsyncClient, a: argparse.Namespace, _: ServeProcess) -> Any:
    images = [p.read_bytes() for p in sorted(RECEIPTS.glob("*.jpg"))[:20]] or [receipt()]
    end = time.monotonic() + a.duration
    results: list[Result] = []

    async def client(i: int) -> None:
        n = i
        while time.monotonic() < end:
            r = await post(http, "receipt", bust(images[n % len(images)]))
            results.append(r)
            n += a.clients
            if r["status"] in (429, 503):
                wait = float(r["retry_after"] or 1)
                await asyncio.sleep(max(0.0, min(wait, end - time.monotonic())))

    await asyncio.gather(*(client(i) for i in range(a.clients)))
    return results


CASES: dict[str, Callable[..., Awaitable[Any]]] = {
    "scans": case_scans,
    "drain": case_scans,
    "bombs": case_bombs,
    "batch-bombs": case_bombs,
    "det-limit": case_det_limit,
    "overload": case_overload,
    "fairness": case_fairness,
}


def summary(results: list[Result], wall_s: float) -> Result:
    """Counts by status and code; latency of the answered (non-429/503) requests."""
    admitted = [r for r in results if r["status"] not in (429, 503)]
    ok = [r["s"] for r in results if r["status"] == 200]
    refused = [r for r in results if r["status"] in (429, 503)]
    lat = [r["s"] for r in admitted]
    return {
        "requests": len(results),
        "statuses": dict(Counter(f"{r['status']} {r['code'] or ''}".strip() for r in results)),
        "admitted": len(admitted),
        "admitted_504": sum(r["status"] == 504 for r in admitted),
        "refused_without_retry_after": sum(not r["retry_after"] for r in refused),
        "ok_per_s": round(len(ok) / wall_s, 2) if wall_s else None,
        "admitted_p50_s": round(percentile(lat, 50), 2) if lat else None,
        "admitted_p95_s": round(percentile(lat, 95), 2) if lat else None,
        "admitted_max_s": max(lat, default=None),
    }


async def run_case(a: argparse.Namespace, srv: ServeProcess) -> Result:
    limits = httpx.Limits(max_connections=256, max_keepalive_connections=256)
    async with httpx.AsyncClient(base_url=srv.url, timeout=180, limits=limits) as http:
        for _ in range(3):
            await post(http, "warm", receipt())
        assert srv.proc is not None
        rss = Rss(srv.proc.pid)
        warm = rss.now()
        start = time.monotonic()
        out = await CASES[a.case](http, a, srv)
        wall = time.monotonic() - start
    results = out["requests"] if isinstance(out, dict) else out
    report: Result = {"case": a.case, "wall_s": round(wall, 1), **summary(results, wall)}
    if isinstance(out, dict):
        report["exit_after_sigterm_s"] = out["exit_after_sigterm_s"]
    if a.case in ("scans", "drain", "fairness", "det-limit", "batch-bombs"):
        report["each"] = [(r["name"], r["status"], r["code"], r["s"]) for r in results]
    await asyncio.sleep(a.settle if srv.alive else 0)
    report |= {"rss_warm_mb": round(warm), "rss_peak_mb": round(rss.peak())}
    report["rss_after_mb"] = round(rss.now()) if srv.alive else None
    rss.stop()
    return report


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    p.add_argument("case", choices=sorted(CASES))
    p.add_argument("--code", type=Path, help="another checkout's source tree to serve")
    p.add_argument("--env", nargs="*", default=[], help="KEY=VALUE settings for the server")
    p.add_argument("--settle", type=float, default=60.0, help="seconds before 'after' RSS")
    p.add_argument("--clients", type=int, default=None)
    p.add_argument("--duration", type=float, default=30.0)
    p.add_argument("--scans", type=int, default=1500)
    p.add_argument("--json", type=Path)
    a = p.parse_args()
    a.clients = a.clients or (100 if a.case == "overload" else 64)
    env = {"OCR_INTRA_OP_THREADS": "2", "OCR_LOG_LEVEL": "warning"}
    env |= dict(kv.split("=", 1) for kv in a.env)
    cwd = a.code.resolve() if a.code else None
    if cwd:
        env["PYTHONPATH"] = str(cwd)
    log = Path(tempfile.mkdtemp(prefix="hostile-")) / "server.log"
    with ServeProcess(log, env, clean_env=True, cwd=cwd) as srv:
        report = asyncio.run(run_case(a, srv))
    report["code"] = str(a.code or "this checkout")
    report["server_log"] = str(log)
    print(json.dumps(report, indent=1))
    if a.json:
        a.json.write_text(json.dumps(report, indent=1))


if __name__ == "__main__":
    main()
