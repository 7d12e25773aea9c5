"""Resident memory of the reading flow, phase by phase (issue 18): after the imports, after
loading the models, and after each page (current RSS and the peak so far, VmHWM, in MB).

    OCR_PROFILE=lean .venv/bin/python benchmarks/memory_probe.py PAGE...

Settings come from the environment as for ``ocr predict``: set one lever at a time
(``OCR_CPU_MEM_ARENA=false``, ``OCR_DET_STRIP_PIXELS=...``, ``MALLOC_ARENA_MAX=2``...) and
compare the peaks. Linux only (reads /proc/self/status).
"""

from __future__ import annotations

import sys
import time
from pathlib import Path


def rss_mb() -> tuple[int, int]:
    """(VmRSS, VmHWM) of this process, MB."""
    fields = dict(line.split(":", 1) for line in Path("/proc/self/status").read_text().splitlines())
    return int(fields["VmRSS"].split()[0]) // 1024, int(fields["VmHWM"].split()[0]) // 1024


def main(pages: list[str]) -> None:
    start = time.perf_counter()
    from service.cli.common import dataset_predictor, open_pipeline
    from service.settings import get_settings

    print(f"imports rss/peak {rss_mb()} at {time.perf_counter() - start:.2f} s", flush=True)
    s = get_settings()
    pipeline = open_pipeline(s, None)
    print(f"loaded  rss/peak {rss_mb()} at {time.perf_counter() - start:.2f} s", flush=True)
    read = dataset_predictor(pipeline, "page", s.ocr_options(), s)
    for page in pages:
        t = time.perf_counter()
        lines = read(Path(page).read_bytes())["lines"]
        took = time.perf_counter() - t
        print(f"page {Path(page).name}: {len(lines)} lines, rss/peak {rss_mb()}, {took:.2f} s")


if __name__ == "__main__":
    main(sys.argv[1:])
