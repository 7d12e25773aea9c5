"""Does a long job starve interactive requests? (issue 13)

Against a running server: N closed-loop clients send single images (text-line crops:
interactive calls) to /v1/ocr (benchmarks/http_load.py) for ``--duration`` seconds,
alternately without and with a ``--pages``-page job running (submitted to /v1/jobs just
before the loaded phase, cancelled after it so the next phase starts clean). Reports
interactive p50/p95/p99 and throughput per phase, and the job pages read during each loaded
phase. Alternating phases, repeated (``--rounds``): this shared machine's speed drifts
between minutes.

    OCR_CACHE_MEMORY_BYTES=0 OCR_INTRA_OP_THREADS=2 ocr serve --port 18080 &
    .venv/bin/python benchmarks/job_interference.py --server http://127.0.0.1:18080 \
        --dataset sroie_train_line_crops --limit 64 --clients 8 --duration 45 --pages 100 \
        --rounds 2 --pid $SERVER_PID
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import httpx

REPO = Path(__file__).resolve().parents[1]
PAGE = REPO / "samples" / "receipt.png"


def load_phase(args: argparse.Namespace, label: str) -> dict[str, Any]:
    out = Path(args.out) / f"{label}.json"
    cmd = [sys.executable, str(REPO / "benchmarks" / "http_load.py")]
    cmd += ["--url", f"{args.server}/v1/ocr", "--dataset", args.dataset]
    cmd += ["--limit", str(args.limit), "--clients", str(args.clients)]
    cmd += ["--duration", str(args.duration), "--warmup", str(args.clients)]
    cmd += ["--label", label, "--json", str(out)]
    if args.pid:
        cmd += ["--pid", str(args.pid)]
    subprocess.run(cmd, check=False, stdout=subprocess.DEVNULL)  # exit 1 on any 429: kept
    result: dict[str, Any] = json.loads(out.read_text())
    return result


def submit_job(server: str, pages: int) -> str:
    files = [("files", (f"p{i}.png", PAGE.read_bytes(), "image/png")) for i in range(pages)]
    r = httpx.post(f"{server}/v1/jobs", files=files, timeout=120)
    r.raise_for_status()
    return str(r.json()["id"])


def pages_done(server: str, job_id: str) -> int:
    return int(httpx.get(f"{server}/v1/jobs/{job_id}").json()["progress"]["pages_done"])


def phase(args: argparse.Namespace, label: str, with_job: bool) -> dict[str, Any]:
    job_id = submit_job(args.server, args.pages) if with_job else ""
    start = time.monotonic()
    result = load_phase(args, label)
    row = {
        "phase": label,
        "job": with_job,
        "ok": result["ok"],
        "errors": result["errors"],
        "status": result["status"],
        "throughput_rps": round(result["throughput_rps"], 3),
        **{k: result["latency_ms"][k] for k in ("p50", "p95", "p99")},
        "server_cpu_ms_per_ok": result.get("cpu", {}).get("server_cpu_ms_per_ok"),
        "foreign_cpu_pct": result.get("cpu", {}).get("foreign_cpu_pct"),
    }
    if with_job:
        row["job_pages_done"] = pages_done(args.server, job_id)
        row["job_pages_per_s"] = round(row["job_pages_done"] / (time.monotonic() - start), 3)
        httpx.delete(f"{args.server}/v1/jobs/{job_id}")
        time.sleep(3)  # the page being read finishes before the next phase
    print(json.dumps(row), flush=True)
    return row


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--server", default="http://127.0.0.1:18080")
    ap.add_argument("--dataset", default="sroie_train_line_crops")
    ap.add_argument("--limit", type=int, default=64)
    ap.add_argument("--clients", type=int, default=8)
    ap.add_argument("--duration", type=float, default=45)
    ap.add_argument("--pages", type=int, default=100)
    ap.add_argument("--rounds", type=int, default=2)
    ap.add_argument("--out", default="/tmp/job_interference")
    ap.add_argument("--pid", type=int, default=0, help="server PID: its CPU and the machine's")
    args = ap.parse_args()
    Path(args.out).mkdir(parents=True, exist_ok=True)
    rows = []
    for n in range(args.rounds):
        rows.append(phase(args, f"alone-{n}", with_job=False))
        rows.append(phase(args, f"with-job-{n}", with_job=True))
    Path(args.out, "summary.json").write_text(json.dumps(rows, indent=2) + "\n")


if __name__ == "__main__":
    main()
