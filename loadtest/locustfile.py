"""Locust load test of POST /v1/ocr, with an SLO gate. How to run: loadtest/README.md.

    .venv/bin/locust -f loadtest/locustfile.py --headless -u 8 -r 2 -t 3m \
        --host http://127.0.0.1:8000 [--cache-bust] [--mix receipts=4,forms=2,scene=2,crops=2] \
        [--sizes small=1,medium=1,large=1] [--slo-max-fail-ratio 0.01] [--slo-p95-ms 15000]

Each user is a client uploading one image per request (multipart ``file`` + ``options``),
chosen by scenario and size weight from the corpus (loadtest/corpus.py: real datasets, or the
bundled fallback). Requests are named ``/v1/ocr <scenario>/<size>`` in the statistics.

Failures: a transport error, any non-200 answer, or a 200 whose body is not a valid answer.
Refusals under load (429 ``OVERLOADED``) count as failures for the SLO, labelled apart from
server errors (5xx) and other client errors in the failure table and the verdict.

SLO gate: when locust quits, the run fails (exit code 1) if no request was made, the failure
ratio is over ``--slo-max-fail-ratio``, the p95 latency (all requests, as locust's "Aggregated"
row) is over ``--slo-p95-ms``, or the locustfile itself raised; one ``SLO PASS`` / ``SLO FAIL``
line says why.
"""

from __future__ import annotations

import contextlib
import json
import logging
import sys
import urllib.request
import uuid
from collections import Counter
from pathlib import Path
from typing import Any

from locust import FastHttpUser, events, task
from locust.env import Environment
from locust.runners import MasterRunner, WorkerRunner

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from loadtest.corpus import (
    DEFAULT_MIX,
    DEFAULT_SIZES,
    SCENARIO_OPTIONS,
    SCENARIOS,
    SIZES,
    Corpus,
    Picker,
    Sample,
    bust,
    load_corpus,
    parse_weights,
)

log = logging.getLogger("loadtest")

PICKER: Picker | None = None
BUST = False
ANSWERS: Counter[str] = Counter()  # this process's 200s: cached / fresh (JSON answers only)


@events.init_command_line_parser.add_listener
def _add_arguments(parser: Any) -> None:
    group = parser.add_argument_group("OCR load test (loadtest/locustfile.py)")
    group.add_argument(
        "--cache-bust",
        action="store_true",
        default=False,
        env_var="OCR_LOADTEST_CACHE_BUST",
        help="Make every upload's bytes unique (same pixels): every request misses the cache.",
    )
    group.add_argument(
        "--corpus",
        choices=("auto", "datasets", "bundled"),
        default="auto",
        env_var="OCR_LOADTEST_CORPUS",
        help="Images: ../shared/datasets when present (auto), required (datasets), or the "
        "bundled sample + rendered images (bundled).",
    )
    group.add_argument(
        "--data-dir",
        default="",
        env_var="OCR_LOADTEST_DATA",
        help="Datasets root; default ../shared/datasets beside the repository.",
    )
    group.add_argument(
        "--corpus-limit",
        type=int,
        default=60,
        env_var="OCR_LOADTEST_LIMIT",
        help="Images loaded per dataset folder, spread evenly (0 = all).",
    )
    group.add_argument(
        "--mix",
        default=",".join(f"{k}={v:g}" for k, v in DEFAULT_MIX.items()),
        env_var="OCR_LOADTEST_MIX",
        help="Scenario weights, e.g. receipts=4,forms=2,scene=2,crops=2; 'only:receipts' "
        "sends receipts alone.",
    )
    group.add_argument(
        "--sizes",
        default=",".join(f"{k}={v:g}" for k, v in DEFAULT_SIZES.items()),
        env_var="OCR_LOADTEST_SIZES",
        help="Size-class weights within each scenario, relative to the corpus's own mix "
        "(longest side: small <= 640 px < medium <= 1600 px < large); large=0 drops the big scans.",
    )
    group.add_argument(
        "--think-min-s",
        type=float,
        default=0.0,
        env_var="OCR_LOADTEST_THINK_MIN_S",
        help="Shortest pause between a user's requests (s).",
    )
    group.add_argument(
        "--think-max-s",
        type=float,
        default=0.5,
        env_var="OCR_LOADTEST_THINK_MAX_S",
        help="Longest pause between a user's requests (s).",
    )
    group.add_argument(
        "--seed",
        type=int,
        default=None,
        env_var="OCR_LOADTEST_SEED",
        help="Seed for the image choice (per user: seed + user number).",
    )
    group.add_argument(
        "--slo-max-fail-ratio",
        type=float,
        default=0.01,
        env_var="OCR_SLO_MAX_FAIL_RATIO",
        help="SLO: largest tolerated failure ratio (429 included).",
    )
    group.add_argument(
        "--slo-p95-ms",
        type=float,
        default=15000.0,
        env_var="OCR_SLO_P95_MS",
        help="SLO: largest tolerated p95 latency over all requests (ms).",
    )
    group.add_argument(
        "--slo-min-requests",
        type=int,
        default=1,
        env_var="OCR_SLO_MIN_REQUESTS",
        help="SLO: fewest requests for a run to count (fewer = fail).",
    )


_CORPORA: dict[tuple[str, str, int], Corpus] = {}
_SHOWN: list[object] = [None]  # what was last logged (init and test_start both configure)


def _configure(environment: Environment) -> None:
    """Corpus, picker and cache-bust from the options: at start-up (bad options fail at once)
    and again at each test start (the web UI may have changed them)."""
    global PICKER, BUST
    opts = environment.parsed_options
    if opts is None or isinstance(environment.runner, MasterRunner):
        return  # the master sends nothing: the workers load the corpus
    key = (opts.corpus, opts.data_dir or "", int(opts.corpus_limit))
    if key not in _CORPORA:
        _CORPORA.clear()
        _CORPORA[key] = load_corpus(opts.corpus, opts.data_dir or None, opts.corpus_limit)
    corpus = _CORPORA[key]
    mix = parse_weights(opts.mix, SCENARIOS, DEFAULT_MIX)
    sizes = parse_weights(opts.sizes, SIZES, DEFAULT_SIZES)
    PICKER = Picker(corpus, mix, sizes, _seed(opts))
    BUST = _flag(opts.cache_bust)
    shown = (corpus.summary(), BUST, tuple(mix.items()), tuple(sizes.items()))
    if shown != _SHOWN[0]:
        _SHOWN[0] = shown
        log.info("%s; cache-bust %s", corpus.summary(), "on" if BUST else "off")
        shares = ", ".join(f"{s}/{z} {w:.1%}" for (s, z), w in PICKER.shares())
        log.info("mix %s, sizes %s -> request shares: %s", mix, sizes, shares)


def _seed(opts: Any) -> int | None:
    value = getattr(opts, "seed", None)
    try:
        return None if value is None else int(value)
    except (TypeError, ValueError):  # unset (None, or "" from the web UI)
        return None


def _flag(value: object) -> bool:
    if isinstance(value, str):  # the web UI may hand a checkbox back as text
        return value.strip().lower() in ("1", "true", "yes", "on")
    return bool(value)


@events.init.add_listener
def _on_init(environment: Environment, **_: Any) -> None:
    _configure(environment)


@events.test_start.add_listener
def _on_test_start(environment: Environment, **_: Any) -> None:
    _configure(environment)
    if isinstance(environment.runner, WorkerRunner) or not environment.host:
        return
    try:
        with urllib.request.urlopen(f"{environment.host.rstrip('/')}/readyz", timeout=5) as r:
            status = r.status
    except Exception as exc:  # only a warning: the run itself shows what happens
        log.warning("GET /readyz failed (%s): is the server up and warmed?", exc)
        return
    if status != 200:
        log.warning("GET /readyz answered %s: the server is not ready", status)


def _multipart(sample: Sample, boundary: str, data: bytes) -> bytes:
    options = json.dumps(SCENARIO_OPTIONS.get(sample.scenario, {}))
    return b"".join(
        [
            f"--{boundary}\r\n".encode(),
            b'Content-Disposition: form-data; name="options"\r\n\r\n',
            options.encode(),
            f"\r\n--{boundary}\r\n".encode(),
            f'Content-Disposition: form-data; name="file"; filename="{sample.name}"\r\n'.encode(),
            f"Content-Type: {sample.content_type}\r\n\r\n".encode(),
            data,
            f"\r\n--{boundary}--\r\n".encode(),
        ]
    )


def failure_label(status: int, body: bytes, error: object = None) -> str:
    """A stable failure message (no request ids): it keys locust's failure table."""
    code = ""
    with contextlib.suppress(ValueError, KeyError, TypeError):
        code = str(json.loads(body)["error"]["code"])
    if status == 0:
        what = type(error).__name__ if error is not None else "no HTTP answer"
        return f"transport error: {what}"
    if status == 429:
        return f"429 {code or 'OVERLOADED'} (shed: refused under load)"
    if status >= 500:
        return f"{status} {code or 'server error'} (server error)"
    return f"{status} {code or 'client error'} (client error)"


class OcrUser(FastHttpUser):
    """One client: picks an image (scenario x size weights), uploads it, checks the answer."""

    network_timeout = 120.0
    connection_timeout = 10.0
    _n = 0
    _backoff = 0.0  # seconds: a 429's Retry-After, honoured before the next request

    def wait_time(self) -> float:
        opts = self.environment.parsed_options
        lo = getattr(opts, "think_min_s", 0.0)
        hi = max(lo, getattr(opts, "think_max_s", 0.0))
        backoff, self._backoff = self._backoff, 0.0
        return max(backoff, float(self._rng.uniform(lo, hi)))

    def on_start(self) -> None:
        OcrUser._n += 1
        seed = _seed(self.environment.parsed_options)
        assert PICKER is not None, "corpus not loaded (events.init did not run)"
        self._picker = PICKER.fork(None if seed is None else seed + OcrUser._n)
        self._rng = self._picker.rng

    @task
    def ocr(self) -> None:
        sample = self._picker.next()
        data = bust(sample.data) if BUST else sample.data
        boundary = uuid.uuid4().hex
        body = _multipart(sample, boundary, data)
        headers = {"Content-Type": f"multipart/form-data; boundary={boundary}"}
        name = f"/v1/ocr {sample.scenario}/{sample.size}"
        with self.client.post(
            "/v1/ocr",
            data=body,  # type: ignore[arg-type]  # bytes are sent as they are
            headers=headers,
            name=name,
            catch_response=True,
        ) as resp:
            status = resp.status_code or 0
            content = resp.content or b""
            if status != 200:
                if status in (429, 503):
                    self._backoff = _retry_after(resp.headers.get("retry-after"))
                resp.failure(failure_label(status, content, getattr(resp, "error", None)))
                return
            problem = _check_answer(sample, resp.headers.get("content-type", ""), content)
            if problem:
                resp.failure(f"200 with a bad body: {problem}")
            else:
                resp.success()


def _retry_after(value: str | None) -> float:
    """A polite client waits as told (capped at 5 s, 1 s when the header is missing)."""
    try:
        return min(5.0, max(0.0, float(value))) if value else 1.0
    except ValueError:
        return 1.0


def _check_answer(sample: Sample, ctype: str, content: bytes) -> str:
    fmt = SCENARIO_OPTIONS.get(sample.scenario, {}).get("format", "json")
    if fmt == "text":
        if not ctype.startswith("text/plain"):
            return f"content type {ctype!r}, expected text/plain"
        ANSWERS["text"] += 1
        return ""
    try:
        doc = json.loads(content)
    except ValueError:
        return "not JSON"
    if not isinstance(doc, dict) or not isinstance(doc.get("lines"), list):
        return "no 'lines' list"
    if not isinstance(doc.get("text"), str):
        return "no 'text'"
    ANSWERS["cached" if doc.get("cached") else "fresh"] += 1
    return ""


# -- the SLO gate ------------------------------------------------------------------------------


def slo_verdict(environment: Environment) -> tuple[bool, str]:
    opts = environment.parsed_options
    total = environment.stats.total
    n, fails = total.num_requests, total.num_failures
    ratio = total.fail_ratio
    p95 = total.get_response_time_percentile(0.95) if n else 0.0
    kinds: Counter[str] = Counter()
    for err in environment.stats.errors.values():
        msg = str(err.error)
        kind = (
            "shed 429"
            if msg.startswith("429")
            else "5xx"
            if msg[:1] == "5"
            else "4xx"
            if msg[:1] == "4"
            else "bad body"
            if msg.startswith("200")
            else "transport"
        )
        kinds[kind] += err.occurrences
    max_ratio = getattr(opts, "slo_max_fail_ratio", 0.01)
    max_p95 = getattr(opts, "slo_p95_ms", 15000.0)
    min_n = getattr(opts, "slo_min_requests", 1)
    breaches = []
    if n < min_n:
        breaches.append(f"{n} requests < {min_n}")
    if ratio > max_ratio:
        breaches.append(f"failure ratio {ratio:.4f} > {max_ratio:g}")
    if n and p95 > max_p95:
        breaches.append(f"p95 {p95:.0f} ms > {max_p95:g} ms")
    exceptions = getattr(environment.runner, "exceptions", {}) if environment.runner else {}
    if exceptions:
        breaches.append(f"{len(exceptions)} exception(s) in the locustfile")
    failures = ", ".join(f"{k} {v}" for k, v in sorted(kinds.items())) or "none"
    rps = total.total_rps
    facts = (
        f"{n} requests, {fails} failed (ratio {ratio:.4f}; {failures}), "
        f"p50 {total.median_response_time:.0f} ms, p95 {p95:.0f} ms, {rps:.2f} req/s; "
        f"limits: failure ratio <= {max_ratio:g}, p95 <= {max_p95:g} ms"
    )
    if ANSWERS:
        facts += f"; answers here: {dict(sorted(ANSWERS.items()))}"
    if breaches:
        return False, f"SLO FAIL: {'; '.join(breaches)} -- {facts}"
    return True, f"SLO PASS: {facts}"


@events.quitting.add_listener
def _slo_gate(environment: Environment, **_: Any) -> None:
    if isinstance(environment.runner, WorkerRunner):
        return  # the master (or a local run) judges the aggregated statistics
    ok, line = slo_verdict(environment)
    print(line, flush=True)
    environment.process_exit_code = 0 if ok else 1
