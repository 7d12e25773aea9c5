"""Closed-loop HTTP load generator for POST /v1/ocr (ours or benchmarks/naive_server.py).

N clients, each sending its next request as soon as its previous answer arrives (a closed
loop: offered load = what the server sustains at that concurrency). Images cycle through the
given set in order; every body is a multipart ``file`` upload built once, before the run, so
the client spends its CPU on HTTP only. Run with the project venv (stdlib + httpx + psutil):

    .venv/bin/python benchmarks/http_load.py --url http://127.0.0.1:18080/v1/ocr \
        --dataset sroie_train_dev --limit 20 --clients 8 --requests 64 --warmup 8 \
        [--pid SERVER_PID] [--metrics] [--label NAME] [--json OUT.json]

Byte-identical image files are sent once (the first of each; then ``--limit``). No two
requests in flight carry the same image while there are more images than clients
(the next image in cycle order that is not in flight is sent), so the server's result cache
and request coalescing (single flight) cannot share work between them.

Phases: ``--warmup K`` requests at the same concurrency (not measured; RSS sampled after
them), then the measured phase: ``--requests M`` requests, or ``--duration S`` seconds (no new
request starts after S; those in flight finish). Reported for the measured phase:
throughput (successful requests / wall time from its first send to its last answer),
latency p50/p95/p99/mean/max of successful requests (ms, send -> full body read; linear
interpolation between order statistics, as numpy), counts by HTTP status and exception type,
and how many answers said ``"cached": true``; CPU seconds used by the server, by this
process and by everything else on the machine ("foreign" CPU: other jobs, a noisy run).
``--pid`` samples the server's RSS (psutil) before warm-up, after warm-up, every
``--rss-every`` seconds and at the end. ``--metrics``
scrapes ``GET /metrics`` (ours only) before and after the measured phase and reports the
per-stage ``ocr_batch_size`` mean (delta sum / delta count) and the server-side latency
histogram delta of ``/v1/ocr``.

Our cache keys on image bytes + options: throughput runs disable it on the server
(``OCR_CACHE_MEMORY_BYTES=0``); a cache-hit run sends one image over and over (``--limit 1``).
"""

from __future__ import annotations

import argparse
import asyncio
import glob
import hashlib
import json
import os
import platform
import re
import sys
import time
import uuid
from collections import Counter
from pathlib import Path
from typing import Any

import httpx

REPO_ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO_ROOT))

from models.eval.bench import percentile  # noqa: E402

DATASETS_DIR = Path(os.environ.get("DATASETS_DIR", REPO_ROOT.parent / "shared" / "datasets"))
IMAGE_EXT = (".jpg", ".jpeg", ".png", ".bmp", ".tif", ".tiff", ".webp")
CTYPE = {".jpg": "image/jpeg", ".jpeg": "image/jpeg", ".png": "image/png"}


# -- inputs ------------------------------------------------------------------------------------


def resolve_images(images: str | None, dataset: str | None, limit: int | None) -> list[Path]:
    if dataset:
        root = Path(dataset) if Path(dataset).is_dir() else DATASETS_DIR / dataset
        labels = root / "labels.jsonl"
        if not labels.is_file():
            raise SystemExit(f"no labels.jsonl in {root}")
        with labels.open(encoding="utf-8") as fh:
            paths = [root / json.loads(line)["image"] for line in fh if line.strip()]
    elif images:
        p = Path(images)
        if p.is_dir():
            paths = sorted(q for q in p.iterdir() if q.suffix.lower() in IMAGE_EXT)
        else:
            paths = sorted(Path(q) for q in glob.glob(images))
    else:
        raise SystemExit("give --images or --dataset")
    # Byte-identical files (sroie_train_dev has one pair: 016 = 018) would share one cache
    # entry / single flight on our server: keep the first of each, then take the first K.
    seen: set[str] = set()
    unique = []
    for p in paths:
        digest = hashlib.sha256(p.read_bytes()).hexdigest()
        if digest not in seen:
            seen.add(digest)
            unique.append(p)
    paths = unique[:limit] if limit else unique
    if not paths:
        raise SystemExit("no images")
    return paths


def multipart(path: Path) -> tuple[bytes, str]:
    """(body, content type) of a multipart/form-data upload of ``path`` as field ``file``."""
    boundary = uuid.uuid4().hex
    ctype = CTYPE.get(path.suffix.lower(), "application/octet-stream")
    head = (
        f"--{boundary}\r\n"
        f'Content-Disposition: form-data; name="file"; filename="{path.name}"\r\n'
        f"Content-Type: {ctype}\r\n\r\n"
    ).encode()
    body = head + path.read_bytes() + f"\r\n--{boundary}--\r\n".encode()
    return body, f"multipart/form-data; boundary={boundary}"


# -- server-side probes ------------------------------------------------------------------------


def cpu_busy_s() -> float | None:
    """Busy CPU seconds of the whole machine so far (/proc/stat: all but idle and iowait)."""
    try:
        with open("/proc/stat", encoding="ascii") as fh:
            fields = [int(x) for x in fh.readline().split()[1:]]
    except OSError:
        return None
    return (sum(fields[:8]) - fields[3] - fields[4]) / os.sysconf("SC_CLK_TCK")


def proc_cpu_s(pid: int | None) -> float | None:
    """User + system CPU seconds of a process (with its reaped children)."""
    import psutil

    try:
        t = psutil.Process(pid).cpu_times() if pid else psutil.Process().cpu_times()
    except psutil.Error:
        return None
    return t.user + t.system + t.children_user + t.children_system


class CpuProbe:
    """CPU used during a phase by the server, by this load generator and by everything else
    on the machine ("foreign": other jobs; it inflates every latency)."""

    def __init__(self, pid: int | None) -> None:
        self.pid = pid
        self.start = (cpu_busy_s(), proc_cpu_s(pid) if pid else None, proc_cpu_s(None))

    def stop(self, wall_s: float, ok: int) -> dict[str, Any]:
        end = (cpu_busy_s(), proc_cpu_s(self.pid) if self.pid else None, proc_cpu_s(None))
        d = [
            None if a is None or b is None else b - a for a, b in zip(self.start, end, strict=True)
        ]
        busy, server, me = d
        ncpu = os.cpu_count() or 1
        out: dict[str, Any] = {"machine_busy_pct": _pct(busy, wall_s * ncpu)}
        out["loadgen_cpu_s"] = None if me is None else round(me, 2)
        if server is not None:
            out["server_cpu_s"] = round(server, 2)
            out["server_cpu_ms_per_ok"] = round(1000 * server / ok, 2) if ok else None
            if busy is not None and me is not None:
                foreign = max(0.0, busy - server - me)
                out["foreign_cpu_s"] = round(foreign, 2)
                out["foreign_cpu_pct"] = _pct(foreign, wall_s * ncpu)
        return out


def _pct(part: float | None, whole: float) -> float | None:
    return None if part is None or whole <= 0 else round(100 * part / whole, 1)


def rss_mb(pid: int | None) -> float | None:
    if not pid:
        return None
    import psutil

    try:
        return round(psutil.Process(pid).memory_info().rss / 2**20, 1)
    except psutil.Error:
        return None


_SAMPLE = re.compile(r"^([a-zA-Z_:][a-zA-Z0-9_:]*)(\{([^}]*)\})?\s+(\S+)$")


def parse_metrics(text: str, names: tuple[str, ...]) -> dict[str, float]:
    """Prometheus text -> {'name{labels}': value} for the given metric names."""
    out: dict[str, float] = {}
    for line in text.splitlines():
        m = _SAMPLE.match(line)
        if m and m.group(1) in names:
            out[f"{m.group(1)}{{{m.group(3) or ''}}}"] = float(m.group(4))
    return out


METRIC_NAMES = (
    "ocr_batch_size_sum",
    "ocr_batch_size_count",
    "ocr_http_request_duration_seconds_bucket",
    "ocr_http_request_duration_seconds_sum",
    "ocr_http_request_duration_seconds_count",
    "ocr_cache_requests_total",
    "ocr_errors_total",
    "ocr_batch_retries_total",
    "ocr_batch_dropped_items_total",
    "ocr_singleflight_shared_total",
)


async def scrape(client: httpx.AsyncClient, url: str) -> dict[str, float] | None:
    try:
        resp = await client.get(url, timeout=10)
        resp.raise_for_status()
    except httpx.HTTPError as exc:
        print(f"metrics scrape failed: {exc}", file=sys.stderr)
        return None
    return parse_metrics(resp.text, METRIC_NAMES)


def _label(key: str, name: str) -> str | None:
    m = re.search(name + r'="([^"]*)"', key)
    return m.group(1) if m else None


def metrics_delta(before: dict[str, float], after: dict[str, float]) -> dict[str, Any]:
    delta = {k: after[k] - before.get(k, 0.0) for k in after}
    batch: dict[str, dict[str, float]] = {}
    for key, value in delta.items():
        stage = _label(key, "stage")
        if stage and key.startswith("ocr_batch_size_"):
            kind = "sum" if key.startswith("ocr_batch_size_sum") else "count"
            batch.setdefault(stage, {})[kind] = value
    for b in batch.values():
        b["mean"] = round(b["sum"] / b["count"], 3) if b.get("count") else 0.0
    # server-side latency of POST /v1/ocr 200s: histogram buckets -> bucket-level quantiles
    buckets = sorted(
        (float(_label(k, "le") or "inf"), v)
        for k, v in delta.items()
        if k.startswith("ocr_http_request_duration_seconds_bucket")
        and _label(k, "route") == "/v1/ocr"
        and _label(k, "status") == "200"
    )
    server: dict[str, Any] = {}
    if buckets and buckets[-1][1] > 0:
        total = buckets[-1][1]
        server["count"] = total
        for q in (0.5, 0.95, 0.99):
            le = next(b for b, c in buckets if c >= q * total)
            server[f"p{round(q * 100)}_le_ms"] = le * 1000
        server["cumulative"] = {
            ("inf" if b == float("inf") else f"{b * 1000:g}ms"): c for b, c in buckets
        }
    other = {
        k: v
        for k, v in delta.items()
        if v and not k.startswith(("ocr_batch_size_", "ocr_http_request_duration_seconds"))
    }
    return {"batch_size": batch, "server_latency_200": server, "counters": other}


# -- the load ----------------------------------------------------------------------------------


class Phase:
    def __init__(self) -> None:
        self.latencies: list[float] = []  # ms, successful requests
        self.status: Counter[str] = Counter()
        self.cached: Counter[str] = Counter()
        self.start = 0.0
        self.end = 0.0
        self.error_samples: list[str] = []
        self.sent: Counter[int] = Counter()  # requests per image index
        self.skipped = 0  # cycle positions skipped because that image was in flight

    def record(self, status: str, ms: float, body: bytes | None) -> None:
        self.status[status] += 1
        self.end = max(self.end, time.perf_counter())
        if status == "200":
            self.latencies.append(ms)
            if body is not None:
                self.cached[_cached(body)] += 1
        elif len(self.error_samples) < 5:
            text = body.decode("utf-8", "replace")[:300] if body else ""
            self.error_samples.append(f"{status}: {text}")

    def summary(self) -> dict[str, Any]:
        lat = self.latencies
        wall = max(self.end - self.start, 1e-9)
        ok = len(lat)
        out: dict[str, Any] = {
            "requests": sum(self.status.values()),
            "ok": ok,
            "errors": sum(v for k, v in self.status.items() if k != "200"),
            "status": dict(self.status),
            "cached": dict(self.cached),
            "wall_s": round(wall, 3),
            "throughput_rps": round(ok / wall, 3),
            "per_image_sent": {
                "min": min(self.sent.values(), default=0),
                "max": max(self.sent.values(), default=0),
            },
            "skipped_in_flight": self.skipped,
        }
        if lat:
            out["latency_ms"] = {
                "p50": round(percentile(lat, 50), 2),
                "p95": round(percentile(lat, 95), 2),
                "p99": round(percentile(lat, 99), 2),
                "mean": round(sum(lat) / ok, 2),
                "min": round(min(lat), 2),
                "max": round(max(lat), 2),
            }
        if self.error_samples:
            out["error_samples"] = self.error_samples
        return out


def _cached(body: bytes) -> str:
    try:
        return str(json.loads(body).get("cached")).lower()
    except (ValueError, AttributeError):
        return "unparsed"


async def run_phase(
    client: httpx.AsyncClient,
    url: str,
    bodies: list[tuple[bytes, str]],
    clients: int,
    requests: int | None,
    duration: float | None,
    cursor: list[int],
) -> Phase:
    phase = Phase()
    issued = 0
    phase.start = time.perf_counter()
    deadline = phase.start + duration if duration else None

    in_flight: Counter[int] = Counter()
    n = len(bodies)

    def take() -> int | None:
        """The next image in cycle order that is not in flight already (so neither a cache
        nor request coalescing on the server can share work between two requests); with
        more clients than images, duplicates are unavoidable and allowed."""
        nonlocal issued
        if requests is not None and issued >= requests:
            return None
        if deadline is not None and time.perf_counter() >= deadline:
            return None
        issued += 1
        i = cursor[0]
        for step in range(n):
            if not in_flight[(cursor[0] + step) % n]:
                i = (cursor[0] + step) % n
                phase.skipped += step
                break
        cursor[0] = (i + 1) % n
        in_flight[i] += 1
        phase.sent[i] += 1
        return i

    async def worker() -> None:
        while (i := take()) is not None:
            body, ctype = bodies[i]
            t0 = time.perf_counter()
            try:
                resp = await client.post(url, content=body, headers={"content-type": ctype})
                data = resp.content
                status = str(resp.status_code)
            except httpx.HTTPError as exc:
                data, status = str(exc).encode(), type(exc).__name__
            finally:
                in_flight[i] -= 1
            phase.record(status, (time.perf_counter() - t0) * 1000, data)

    await asyncio.gather(*(worker() for _ in range(clients)))
    return phase


async def sample_rss(pid: int, every: float, out: list[tuple[float, float]], t0: float) -> None:
    while True:
        await asyncio.sleep(every)
        mb = rss_mb(pid)
        if mb is not None:
            out.append((round(time.perf_counter() - t0, 1), mb))


async def main_async(args: argparse.Namespace) -> dict[str, Any]:
    paths = resolve_images(args.images, args.dataset, args.limit)
    bodies = [multipart(p) for p in paths]
    base = args.url.split("/v1/")[0]
    limits = httpx.Limits(max_connections=args.clients + 2, max_keepalive_connections=args.clients)
    timeout = httpx.Timeout(args.timeout, connect=10)
    result: dict[str, Any] = {
        "label": args.label,
        "url": args.url,
        "images": {
            "source": args.dataset or args.images,
            "n": len(paths),
            "bytes_mean": round(sum(len(b) for b, _ in bodies) / len(bodies)),
            "first": paths[0].name,
        },
        "clients": args.clients,
        "requests": args.requests,
        "duration_s": args.duration,
        "warmup": args.warmup,
        "started_at": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
        "machine": {"cpus": os.cpu_count(), "platform": platform.platform()},
        "loadavg_1m_start": os.getloadavg()[0],
    }
    rss: dict[str, Any] = {"start_mb": rss_mb(args.pid)}
    cursor = [0]
    async with httpx.AsyncClient(limits=limits, timeout=timeout) as client:
        if args.warmup:
            warm = await run_phase(
                client, args.url, bodies, args.clients, args.warmup, None, cursor
            )
            result["warmup_phase"] = warm.summary()
        rss["after_warmup_mb"] = rss_mb(args.pid)
        before = await scrape(client, base + "/metrics") if args.metrics else None
        timeline: list[tuple[float, float]] = []
        sampler = None
        if args.pid:
            t0 = time.perf_counter()
            sampler = asyncio.create_task(sample_rss(args.pid, args.rss_every, timeline, t0))
        probe = CpuProbe(args.pid)
        measured = await run_phase(  # from the first image again: same mix for every system
            client, args.url, bodies, args.clients, args.requests, args.duration, [0]
        )
        if sampler:
            sampler.cancel()
        result["cpu"] = probe.stop(measured.end - measured.start, len(measured.latencies))
        rss["end_mb"] = rss_mb(args.pid)
        if args.metrics:
            after = await scrape(client, base + "/metrics")
            if before is not None and after is not None:
                result["server_metrics"] = metrics_delta(before, after)
    result |= measured.summary()
    result["loadavg_1m_end"] = os.getloadavg()[0]
    if args.pid:
        samples = [mb for _, mb in timeline]
        rss["peak_sampled_mb"] = max([*samples, rss["end_mb"] or 0, rss["after_warmup_mb"] or 0])
        if rss["after_warmup_mb"] and rss["end_mb"]:
            rss["growth_pct"] = round(100 * (rss["end_mb"] / rss["after_warmup_mb"] - 1), 2)
        rss["timeline"] = timeline
        result["rss"] = rss
    return result


def report(r: dict[str, Any]) -> str:
    lat = r.get("latency_ms", {})
    parts = [
        f"{r['label'] or r['url']}: clients={r['clients']} ok={r['ok']}/{r['requests']}",
        f"{r['throughput_rps']:.2f} img/s",
        "p50/p95/p99 = {} / {} / {} ms".format(lat.get("p50"), lat.get("p95"), lat.get("p99")),
    ]
    if r["errors"]:
        parts.append(f"ERRORS {r['status']}")
    cpu = r.get("cpu", {})
    if cpu.get("server_cpu_ms_per_ok") is not None:
        parts.append(f"server CPU {cpu['server_cpu_ms_per_ok']} ms/img")
    if cpu.get("foreign_cpu_pct") is not None:
        parts.append(f"foreign CPU {cpu['foreign_cpu_pct']} %")
    if r.get("cached"):
        parts.append(f"cached={r['cached']}")
    if "rss" in r:
        x = r["rss"]
        parts.append(
            f"RSS MB start/warm/end/peak = {x['start_mb']}/{x['after_warmup_mb']}/"
            f"{x['end_mb']}/{x['peak_sampled_mb']} ({x.get('growth_pct')} %)"
        )
    lines = [" | ".join(parts)]
    for stage, b in r.get("server_metrics", {}).get("batch_size", {}).items():
        lines.append(
            f"  batch {stage}: {b.get('count', 0):.0f} calls, {b.get('sum', 0):.0f} items, "
            f"mean {b['mean']}"
        )
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--url", required=True, help="e.g. http://127.0.0.1:18080/v1/ocr")
    src = ap.add_mutually_exclusive_group(required=True)
    src.add_argument("--images", help="a folder of images or a glob")
    src.add_argument("--dataset", help="dataset folder or name under ../shared/datasets")
    ap.add_argument("--limit", type=int, default=None, help="first K images only")
    ap.add_argument("--clients", type=int, default=1)
    stop = ap.add_mutually_exclusive_group()
    stop.add_argument("--requests", type=int, default=None, help="measured requests")
    stop.add_argument("--duration", type=float, default=None, help="measured seconds")
    ap.add_argument("--warmup", type=int, default=0, help="unmeasured requests first")
    ap.add_argument("--timeout", type=float, default=300.0, help="per request, seconds")
    ap.add_argument("--pid", type=int, default=None, help="server PID: sample its RSS")
    ap.add_argument("--rss-every", type=float, default=5.0, help="RSS sampling period, s")
    ap.add_argument("--metrics", action="store_true", help="scrape /metrics before/after")
    ap.add_argument("--label", default="", help="name of this run in the JSON")
    ap.add_argument("--json", dest="json_out", default=None, help="write the result here")
    args = ap.parse_args(argv)
    if args.requests is None and args.duration is None:
        args.requests = 100
    result = asyncio.run(main_async(args))
    print(report(result), flush=True)
    if args.json_out:
        Path(args.json_out).parent.mkdir(parents=True, exist_ok=True)
        Path(args.json_out).write_text(json.dumps(result, indent=2) + "\n", encoding="utf-8")
    return 1 if result["errors"] or not result["ok"] else 0


if __name__ == "__main__":
    sys.exit(main())
