"""Tabulate an http_bench.sh output dir: markdown tables + the issue-3 target checks.

    .venv/bin/python benchmarks/http_compare.py var/bench/http/run-YYYYmmdd-HHMM \
        [--markdown FILE] [--json FILE] [--strict] [--noisy-foreign 10]

Reads the http_load.py JSON files written by benchmarks/http_bench.sh:
``<system>-t<T>-c<C>.json`` (system: ours-batch, ours-nobatch, naive), ``cache-hit-t<T>-c<C>
.json`` and ``soak-t<T>-c<C>.json``. Targets (one PASS / MISS / N/A line each):

- ours (batching on, the defaults) >= 2x the naive wrapper's throughput at 8 clients, with
  p95 latency no worse than the naive wrapper's (per thread count);
- cache-hit p99 <= 5 ms (the cache-hit run at the most clients);
- RSS growth <= 10 % over the soak (after warm-up -> after the last request).

A run where other jobs used more than ``--noisy-foreign`` % of the machine's CPU is marked
NOISY (``!`` in the tables, ``[noisy]`` on target lines): its latencies are inflated.
"""

from __future__ import annotations

import argparse
import json
import re
import sys
from pathlib import Path
from typing import Any

SYSTEMS = ("ours-batch", "ours-nobatch", "naive")
NAMES = {
    "ours-batch": "ours, batching on",
    "ours-nobatch": "ours, batching off",
    "naive": "naive RapidOCR wrapper",
}
RUN = re.compile(
    r"^(?P<kind>ours-batch|ours-nobatch|naive|cache-hit|soak)-t(?P<t>\d+)-c(?P<c>\d+)$"
)

TARGET_RATIO = 2.0
TARGET_CACHE_P99_MS = 5.0
TARGET_RSS_GROWTH_PCT = 10.0


def load(out: Path) -> dict[tuple[str, int, int], dict[str, Any]]:
    runs = {}
    for path in sorted(out.glob("*.json")):
        m = RUN.match(path.stem)
        if m:
            runs[(m["kind"], int(m["t"]), int(m["c"]))] = json.loads(path.read_text())
    return runs


def fmt(x: Any, nd: int = 1) -> str:
    if x is None:
        return "—"
    if isinstance(x, float):
        return f"{x:.{nd}f}"
    return str(x)


def lat(r: dict[str, Any], q: str) -> float | None:
    return r.get("latency_ms", {}).get(q)


def noisy(r: dict[str, Any], limit: float) -> bool:
    pct = r.get("cpu", {}).get("foreign_cpu_pct")
    return pct is not None and pct > limit


def batch_means(r: dict[str, Any]) -> str:
    b = r.get("server_metrics", {}).get("batch_size", {})
    if not b:
        return "—"
    return " / ".join(fmt(b.get(s, {}).get("mean"), 2) for s in ("det", "cls", "rec"))


def coalesced(r: dict[str, Any]) -> str:
    """Answers the server shared with an identical request in flight (single flight)."""
    if "server_metrics" not in r:
        return "—"
    counters = r["server_metrics"].get("counters", {})
    return fmt(int(counters.get("ocr_singleflight_shared_total{}", 0)))


def throughput_tables(runs: dict, limit: float) -> list[str]:
    md: list[str] = []
    threads = sorted({t for (k, t, _) in runs if k in SYSTEMS})
    for t in threads:
        md += [
            f"#### Throughput and latency, {t} intra-op thread(s)",
            "",
            "| clients | system | img/s | p50 ms | p95 ms | p99 ms | errors | server CPU ms/img "
            "| RSS end MB | mean batch det / cls / rec | coalesced | foreign CPU % |",
            "|---:|---|---:|---:|---:|---:|---:|---:|---:|---|---:|---:|",
        ]
        clients = sorted({c for (k, tt, c) in runs if k in SYSTEMS and tt == t})
        for c in clients:
            for s in SYSTEMS:
                r = runs.get((s, t, c))
                if r is None:
                    continue
                mark = " !" if noisy(r, limit) else ""
                cpu = r.get("cpu", {})
                md.append(
                    f"| {c} | {NAMES[s]}{mark} | {fmt(r['throughput_rps'], 2)} | "
                    f"{fmt(lat(r, 'p50'), 0)} | {fmt(lat(r, 'p95'), 0)} | "
                    f"{fmt(lat(r, 'p99'), 0)} | {r['errors']} | "
                    f"{fmt(cpu.get('server_cpu_ms_per_ok'), 0)} | "
                    f"{fmt(r.get('rss', {}).get('end_mb'), 0)} | {batch_means(r)} | "
                    f"{coalesced(r)} | "
                    f"{fmt(cpu.get('foreign_cpu_pct'))} |"
                )
        md += ["", f"Ours vs the naive wrapper, {t} thread(s) (throughput ×, p95 ×):", ""]
        md += [
            "| clients | batching on: img/s × | p95 × | batching off: img/s × | p95 × |",
            "|---:|---:|---:|---:|---:|",
        ]
        for c in clients:
            n = runs.get(("naive", t, c))
            cells = []
            for s in ("ours-batch", "ours-nobatch"):
                r = runs.get((s, t, c))
                if r is None or n is None or not n["throughput_rps"]:
                    cells += ["—", "—"]
                    continue
                cells.append(f"{r['throughput_rps'] / n['throughput_rps']:.2f}×")
                p, q = lat(r, "p95"), lat(n, "p95")
                cells.append(f"{p / q:.2f}×" if p and q else "—")
            md.append(f"| {c} | " + " | ".join(cells) + " |")
        md.append("")
    return md


def cache_table(runs: dict, limit: float) -> list[str]:
    keys = sorted(k for k in runs if k[0] == "cache-hit")
    if not keys:
        return []
    md = [
        "#### Cache hits (ours, one image sent over and over, cache on)",
        "",
        "| threads | clients | requests | hits | img/s | p50 ms | p95 ms | p99 ms | max ms "
        "| server p99 ≤ (histogram) | server CPU ms/req | foreign CPU % |",
        "|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for k in keys:
        r = runs[k]
        srv = r.get("server_metrics", {}).get("server_latency_200", {})
        cpu = r.get("cpu", {})
        md.append(
            f"| {k[1]} | {k[2]}{' !' if noisy(r, limit) else ''} | {r['requests']} | "
            f"{r.get('cached', {}).get('true', 0)} | {fmt(r['throughput_rps'], 0)} | "
            f"{fmt(lat(r, 'p50'), 2)} | {fmt(lat(r, 'p95'), 2)} | {fmt(lat(r, 'p99'), 2)} | "
            f"{fmt(lat(r, 'max'), 1)} | {fmt(srv.get('p99_le_ms'))} ms | "
            f"{fmt(cpu.get('server_cpu_ms_per_ok'), 2)} | {fmt(cpu.get('foreign_cpu_pct'))} |"
        )
    return [*md, ""]


def soak_table(runs: dict, limit: float) -> list[str]:
    keys = sorted(k for k in runs if k[0] == "soak")
    if not keys:
        return []
    md = [
        "#### Soak (ours, batching on, cache off)",
        "",
        "| threads | clients | images | requests | errors | img/s | p50 ms | p95 ms | p99 ms "
        "| RSS start MB | after warm-up | end | peak (sampled) | growth | foreign CPU % |",
        "|---:|---:|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for k in keys:
        r = runs[k]
        x = r.get("rss", {})
        img = r["images"]
        md.append(
            f"| {k[1]} | {k[2]}{' !' if noisy(r, limit) else ''} | {img['source']} ×{img['n']} | "
            f"{r['requests']} | {r['errors']} | {fmt(r['throughput_rps'], 1)} | "
            f"{fmt(lat(r, 'p50'), 0)} | {fmt(lat(r, 'p95'), 0)} | {fmt(lat(r, 'p99'), 0)} | "
            f"{fmt(x.get('start_mb'), 0)} | {fmt(x.get('after_warmup_mb'), 0)} | "
            f"{fmt(x.get('end_mb'), 0)} | {fmt(x.get('peak_sampled_mb'), 0)} | "
            f"{fmt(x.get('growth_pct'))} % | {fmt(r.get('cpu', {}).get('foreign_cpu_pct'))} |"
        )
    return [*md, ""]


def targets(runs: dict, limit: float) -> list[dict[str, Any]]:
    out: list[dict[str, Any]] = []
    threads = sorted({t for (k, t, _) in runs if k in SYSTEMS})
    for t in threads:
        ours, naive = runs.get(("ours-batch", t, 8)), runs.get(("naive", t, 8))
        name = f"throughput >= {TARGET_RATIO:g}x naive at 8 clients with p95 no worse (t{t})"
        if ours is None or naive is None or not naive["throughput_rps"]:
            out.append({"target": name, "status": "N/A"})
            continue
        ratio = ours["throughput_rps"] / naive["throughput_rps"]
        p95o, p95n = lat(ours, "p95"), lat(naive, "p95")
        ok = ratio >= TARGET_RATIO and p95o is not None and p95n is not None and p95o <= p95n
        out.append(
            {
                "target": name,
                "status": "PASS" if ok and not ours["errors"] else "MISS",
                "noisy": noisy(ours, limit) or noisy(naive, limit),
                "detail": f"{ours['throughput_rps']:.2f} vs {naive['throughput_rps']:.2f} img/s "
                f"= {ratio:.2f}x; p95 {fmt(p95o, 0)} vs {fmt(p95n, 0)} ms; "
                f"errors {ours['errors']}",
            }
        )
    cache = sorted(k for k in runs if k[0] == "cache-hit")
    name = f"cache-hit p99 <= {TARGET_CACHE_P99_MS:g} ms"
    if cache:
        k = max(cache, key=lambda k: (k[2], k[1]))
        r = runs[k]
        p99 = lat(r, "p99")
        hits = r.get("cached", {}).get("true", 0)
        ok = p99 is not None and p99 <= TARGET_CACHE_P99_MS and hits == r["ok"] and r["ok"]
        out.append(
            {
                "target": f"{name} ({k[2]} clients)",
                "status": "PASS" if ok else "MISS",
                "noisy": noisy(r, limit),
                "detail": f"p99 {fmt(p99, 2)} ms (p50 {fmt(lat(r, 'p50'), 2)}), "
                f"{hits}/{r['requests']} hits, {r['throughput_rps']:.0f} req/s",
            }
        )
    else:
        out.append({"target": name, "status": "N/A"})
    soak = sorted(k for k in runs if k[0] == "soak")
    name = f"RSS growth <= {TARGET_RSS_GROWTH_PCT:g} % over the soak"
    if soak:
        r = runs[soak[-1]]
        g = r.get("rss", {}).get("growth_pct")
        ok = g is not None and g <= TARGET_RSS_GROWTH_PCT and not r["errors"]
        x = r.get("rss", {})
        out.append(
            {
                "target": name,
                "status": "PASS" if ok else "MISS",
                "noisy": noisy(r, limit),
                "detail": f"{x.get('after_warmup_mb')} MB after {r['warmup']} requests -> "
                f"{x.get('end_mb')} MB after {r['requests']} more ({fmt(g)} %); "
                f"errors {r['errors']}",
            }
        )
    else:
        out.append({"target": name, "status": "N/A"})
    return out


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("out", type=Path, help="http_bench.sh output dir")
    ap.add_argument("--markdown", type=Path, default=None)
    ap.add_argument("--json", dest="json_out", type=Path, default=None)
    ap.add_argument("--strict", action="store_true", help="exit 1 on any MISS")
    ap.add_argument("--noisy-foreign", type=float, default=10.0, help="foreign CPU %% limit")
    args = ap.parse_args(argv)
    runs = load(args.out)
    if not runs:
        raise SystemExit(f"no http_load JSON files in {args.out}")
    lim = args.noisy_foreign
    md = throughput_tables(runs, lim) + cache_table(runs, lim) + soak_table(runs, lim)
    checks = targets(runs, lim)
    md += ["#### Targets", ""]
    for c in checks:
        tag = " [noisy]" if c.get("noisy") else ""
        md.append(f"- **{c['status']}**{tag} {c['target']}: {c.get('detail', 'no run')}")
    text = "\n".join(md) + "\n"
    print(text)
    if args.markdown:
        args.markdown.write_text(text, encoding="utf-8")
    doc = {"runs": {"-".join(map(str, k)): v for k, v in runs.items()}, "targets": checks}
    json_out = args.json_out or args.out / "compare.json"
    json_out.write_text(json.dumps(doc, indent=2) + "\n", encoding="utf-8")
    return 1 if args.strict and any(c["status"] == "MISS" for c in checks) else 0


if __name__ == "__main__":
    sys.exit(main())
