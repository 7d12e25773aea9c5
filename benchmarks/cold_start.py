"""Cold start (issue 18): process start -> first result of `ocr predict IMAGE`, and process
start -> `/readyz` 200 of `ocr serve`, for one or more source trees, alternating run by run.

    .venv/bin/python benchmarks/cold_start.py --runs 5 [--tree before=/path/to/old/tree] ...

Each tree runs as `PYTHONPATH=TREE .venv/bin/ocr ...` (the working tree is `this`), so a
before/after pair shares the machine's load. Wall seconds and the child's CPU seconds (user +
system: less sensitive to a busy machine than wall time) are printed per run, then medians.
"""

from __future__ import annotations

import argparse
import os
import resource
import socket
import statistics
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
OCR = REPO / ".venv" / "bin" / "ocr"


def _cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def predict(tree: Path, image: Path, env: dict[str, str]) -> tuple[float, float]:
    """(wall s, CPU s) of one `ocr predict IMAGE` to its exit (the text printed)."""
    cpu, start = _cpu(), time.perf_counter()
    cmd = [str(OCR), "predict", "--threads", "2", str(image)]
    subprocess.run(cmd, env=env | {"PYTHONPATH": str(tree)}, check=True, capture_output=True)
    return time.perf_counter() - start, _cpu() - cpu


def serve(tree: Path, env: dict[str, str], timeout_s: float = 120.0) -> tuple[float, float]:
    """(wall s to the first /readyz 200, CPU s of the server until stopped right after)."""
    port = _free_port()
    env = env | {"PYTHONPATH": str(tree), "OCR_PORT": str(port), "OCR_INTRA_OP_THREADS": "2"}
    cpu, start = _cpu(), time.perf_counter()
    proc = subprocess.Popen(
        [str(OCR), "serve"], env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
    )
    try:
        while time.perf_counter() - start < timeout_s:
            if _ready(port):
                took = time.perf_counter() - start
                break
            if proc.poll() is not None:
                raise SystemExit(f"ocr serve exited with {proc.returncode}")
            time.sleep(0.05)
        else:
            raise SystemExit("ocr serve not ready in time")
    finally:
        proc.terminate()
        proc.wait(30)
    return took, _cpu() - cpu


def _ready(port: int) -> bool:
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/readyz", timeout=1) as r:
            return bool(r.status == 200)
    except OSError:
        return False


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--image", type=Path, default=REPO / "samples" / "receipt.png")
    parser.add_argument("--tree", action="append", default=[], help="NAME=DIR (repeatable)")
    parser.add_argument("--no-serve", action="store_true")
    args = parser.parse_args()
    trees = dict(t.split("=", 1) for t in args.tree) or {"this": str(REPO)}
    env = dict(os.environ)
    results: dict[tuple[str, str], list[tuple[float, float]]] = {}
    for run in range(args.runs):
        for name, tree in trees.items():
            kinds = {"predict": lambda t=Path(tree): predict(t, args.image, env)}
            if not args.no_serve:
                kinds["readyz"] = lambda t=Path(tree): serve(t, env)
            for kind, measure in kinds.items():
                wall, cpu = measure()
                results.setdefault((name, kind), []).append((wall, cpu))
                print(f"run {run} {name} {kind}: {wall:.2f} s wall, {cpu:.2f} s CPU", flush=True)
    print(f"\nload average {os.getloadavg()[0]:.1f}; medians over {args.runs} runs")
    print("| tree | measure | wall s (median) | CPU s (median) | wall s (runs) |")
    print("|---|---|---:|---:|---|")
    for (name, kind), runs in results.items():
        walls = ", ".join(f"{w:.2f}" for w, _ in runs)
        wall, cpu = statistics.median(w for w, _ in runs), statistics.median(c for _, c in runs)
        print(f"| {name} | {kind} | {wall:.2f} | {cpu:.2f} | {walls} |")
    sys.stdout.flush()


if __name__ == "__main__":
    main()
