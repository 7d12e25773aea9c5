"""The page mix side by side (issue 18): ours (default and lean profiles) and the PP-OCR peers,
median / p95 seconds per page, peak RSS, and ratios to the fastest peer, all from one run.

    .venv/bin/python benchmarks/page_mix.py --limit 10 --rounds 2 --out var/bench/mix-NAME

Each (system, dataset) is one fresh process (``ocr bench`` for ours, ``peer_runner.py`` in the
peer's venv for peers), so peak RSS is that process's own. Systems alternate within a round and
rounds repeat, so a busy machine slows every system alike; the figures pool every round's pages.
Peers whose venv is missing are skipped with a line. Accuracy: ``benchmarks/compare.py`` scores
the predictions files this leaves behind; ``ocr eval`` is the project's own scorer.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from models.eval.bench import percentile  # noqa: E402

DATASETS = ("sroie_train_dev", "funsd_train", "msra_td500_train")


@dataclass(frozen=True)
class System:
    name: str
    python: Path
    env: dict[str, str] = field(default_factory=dict)
    peer: str | None = None  # peer_runner's --system; None = ours (`ocr bench`)

    def command(self, dataset: str, limit: int, threads: int, out: Path) -> list[str]:
        common = ["--dataset", dataset, "--limit", str(limit), "--threads", str(threads)]
        if self.peer is None:
            ocr = [str(self.python.parent / "ocr"), "bench", "--no-progress"]
            return [*ocr, *common, "--out-dir", str(out)]
        runner = str(REPO / "benchmarks" / "peer_runner.py")
        return [str(self.python), runner, "--system", self.peer, *common, "--out-dir", str(out)]


def systems() -> list[System]:
    ours = REPO / ".venv" / "bin" / "python"
    rapid = REPO / ".peers" / "rapidocr" / "bin" / "python"
    paddle = REPO / ".peers" / "paddleocr" / "bin" / "python"
    return [
        System("ours-default", ours, {"OCR_PROFILE": "default"}),
        System("ours-lean", ours, {"OCR_PROFILE": "lean"}),
        System("ours-auto", ours, {"OCR_PROFILE": "default", "OCR_ENGINE": "auto"}),
        System("rapidocr-ort", rapid, peer="rapidocr"),
        System("rapidocr-openvino", rapid, peer="rapidocr-openvino"),
        System("paddleocr", paddle, peer="paddleocr"),
    ]


def run_one(system: System, dataset: str, args: argparse.Namespace, out: Path) -> dict[str, Any]:
    """One fresh process over one dataset; its summary (per-page latencies, peak RSS)."""
    env = os.environ | {"PYTHONPATH": str(REPO)} | system.env
    cmd = system.command(dataset, args.limit, args.threads, out)
    done = subprocess.run(cmd, env=env, capture_output=True, text=True, check=False)
    summaries = list(out.glob(f"*-{dataset}-t{args.threads}.summary.json"))
    if done.returncode != 0 or not summaries:
        raise SystemExit(f"{system.name} on {dataset} failed:\n{done.stderr[-2000:]}")
    return json.loads(summaries[0].read_text())


def table(results: dict[str, list[dict[str, Any]]]) -> list[str]:
    """Markdown: median / p95 s per page over every page of every round, worst peak RSS, and
    each ratio to the fastest peer (by median) of this very run."""
    rows = {name: _figures(runs) for name, runs in results.items()}
    peers = {n: r for n, r in rows.items() if not n.startswith("ours")}
    best = min(peers, key=lambda n: peers[n][0]) if peers else None
    head = f"| system | pages | median s | p95 s | peak RSS MB | median / {best} | p95 / {best} |"
    lines = [head, "|---|---:|---:|---:|---:|---:|---:|"]
    for name, (med, p95, rss, n) in rows.items():
        ratio = (
            (f"{med / peers[best][0]:.2f}×", f"{p95 / peers[best][1]:.2f}×") if best else ("", "")
        )
        lines.append(
            f"| {name} | {n} | {med:.2f} | {p95:.2f} | {rss:.0f} | {ratio[0]} | {ratio[1]} |"
        )
    return lines


def _figures(runs: list[dict[str, Any]]) -> tuple[float, float, float, int]:
    pages = [ms / 1000 for r in runs for ms in r["latency_ms"]["each"]]
    rss = max(r["peak_rss_mb"] for r in runs)
    return statistics.median(pages), percentile(pages, 95.0), rss, len(pages)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--limit", type=int, default=10, help="first N pages of each dataset")
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--datasets", nargs="+", default=list(DATASETS))
    parser.add_argument("--systems", help="comma list of system names (default: all present)")
    parser.add_argument("--out", type=Path, default=REPO / "var" / "bench" / "page-mix")
    args = parser.parse_args()
    chosen = [s for s in systems() if not args.systems or s.name in args.systems.split(",")]
    present = [s for s in chosen if s.python.is_file()]
    for s in chosen:
        if s not in present:
            print(f"skipped {s.name}: no {s.python} (bash benchmarks/setup_peers.sh)", flush=True)
    results: dict[str, list[dict[str, Any]]] = {s.name: [] for s in present}
    for r in range(args.rounds):
        for d in args.datasets:
            for s in present:
                summary = run_one(s, d, args, args.out / f"r{r}" / s.name)
                results[s.name].append(summary)
                print(
                    f"round {r} {s.name} {d}: {summary['latency_ms']['median']:.0f} ms "
                    f"median, {summary['peak_rss_mb']:.0f} MB",
                    flush=True,
                )
    print("\n".join(table(results)))
    (args.out / "page_mix.json").write_text(json.dumps(results, indent=1))


if __name__ == "__main__":
    main()
