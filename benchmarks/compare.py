"""Score and tabulate a benchmark run directory (see benchmarks/run_all.sh).

    .venv/bin/python benchmarks/compare.py OUT_DIR [--baseline rapidocr] [--markdown FILE]

Reads every `<system>-<dataset>-t<N>.summary.json` and its `.predictions.jsonl` in OUT_DIR,
scores each predictions file with `models.eval` against the first n_images records of
`<datasets-dir>/<dataset>/labels.jsonl` (the runners take the first N records in file order; a
dataset named `<folder>-<split>`, as `--dataset folder:split` runs are named, is the first N
records of that split),
and prints markdown: (a) accuracy per dataset at the lowest thread count, (b) speed per dataset
and thread count with ratios to the baseline, (c) the load average of every run, then the target
checks as PASS / MISS lines. Everything also goes to OUT_DIR/compare.json (or --json FILE).
"""

from __future__ import annotations

import argparse
import json
import math
import re
import sys
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

REPO_ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO_ROOT))

from models.eval.bench import read_jsonl  # noqa: E402
from models.eval.datasets import load_dataset  # noqa: E402
from models.eval.report import Report, index_predictions, score  # noqa: E402

SUMMARY_RE = re.compile(r"^(?P<system>[^-]+)-(?P<dataset>.+)-t(?P<threads>\d+)\.summary\.json$")

OURS = "ours"
TARGET_PEER = "rapidocr"  # the targets are stated against rapidocr, whatever --baseline is
LATENCY_TARGET = 0.8  # ours median latency <= 0.8 x the target peer's
RSS_TARGET_MB = 400.0

# Headline metrics per dataset kind: (metric key, column header, higher is better).
HEADLINE: dict[str, tuple[tuple[str, str, bool], ...]] = {
    "page": (
        ("det_precision", "det_P", True),
        ("det_recall", "det_R", True),
        ("det_f1", "det_F1", True),
        ("char_accuracy", "char_acc", True),
        ("line_exact", "line_exact", True),
        ("bow_f1", "bow_F1", True),
    ),
    "crop": (("word_accuracy", "word_acc", True), ("cer", "CER", False)),
    "angle": (("angle_accuracy", "angle_acc", True),),
}
# Metrics on which ours must be >= the target peer.
TARGET_METRICS: dict[str, tuple[str, ...]] = {
    "page": ("line_exact", "char_accuracy", "det_f1"),
    "crop": ("word_accuracy",),
    "angle": ("angle_accuracy",),
}


@dataclass
class Run:
    """One `<system>-<dataset>-t<N>` run: its summary, predictions and their score."""

    system: str
    dataset: str
    threads: int
    summary_path: Path
    summary: dict[str, Any]
    predictions: list[dict[str, Any]] | None = None
    report: Report | None = None
    problems: list[str] = field(default_factory=list)

    @property
    def key(self) -> str:
        return f"{self.system}-{self.dataset}-t{self.threads}"

    @property
    def n_pred(self) -> int:
        return len(self.predictions or [])

    @property
    def errors(self) -> int:
        return sum("error" in r for r in self.predictions or [])

    def figure(self, *path: str) -> float | None:
        """A number from the summary (nested keys), or None."""
        value: Any = self.summary
        for key in path:
            if not isinstance(value, Mapping) or key not in value:
                return None
            value = value[key]
        if isinstance(value, bool) or not isinstance(value, int | float):
            return None
        return float(value)

    @property
    def load_start(self) -> float | None:
        return self.figure("loadavg_1m", "start")


# --------------------------------------------------------------------------- loading / scoring


def discover(out_dir: Path, warnings: list[str]) -> list[Run]:
    runs = []
    for path in sorted(out_dir.glob("*.summary.json")):
        m = SUMMARY_RE.match(path.name)
        if not m:
            warnings.append(f"{path.name}: name is not <system>-<dataset>-t<N>.summary.json")
            continue
        summary = json.loads(path.read_text(encoding="utf-8"))
        run = Run(m["system"], m["dataset"], int(m["threads"]), path, summary)
        for key, want in (("system", run.system), ("dataset", run.dataset)):
            if summary.get(key) != want:
                run.problems.append(f"summary {key}={summary.get(key)!r}, file name says {want!r}")
        if summary.get("threads") != run.threads:
            got = summary.get("threads")
            run.problems.append(f"summary threads={got!r}, file name says t{run.threads}")
        pred_path = path.with_name(path.name.replace(".summary.json", ".predictions.jsonl"))
        if pred_path.is_file():
            run.predictions = read_jsonl(pred_path)
        else:
            run.problems.append(f"no {pred_path.name}")
        runs.append(run)
    return runs


def dataset_source(
    name: str, datasets_dir: Path, split: str | None = None
) -> tuple[Path, str | None] | None:
    """(folder, split) of a reported dataset name: ``iiit5k_train`` -> (DIR/iiit5k_train, None);
    ``icdar2015_word_train-dev`` (how ``ocr eval/bench`` and peer_runner.py name
    ``icdar2015_word_train:dev``) -> (DIR/icdar2015_word_train, "dev"). A split recorded in
    the run's summary (peer_runner.py writes ``"split"``) wins over the name."""
    if split:
        suffix = f"-{split}"
        folder = name[: -len(suffix)] if name.endswith(suffix) else name
        root = datasets_dir / folder
        return (root, split) if (root / "labels.jsonl").is_file() else None
    root = datasets_dir / name
    if (root / "labels.jsonl").is_file():
        return root, None
    folder, dash, suffix = name.rpartition("-")
    if dash and folder and (datasets_dir / folder / "labels.jsonl").is_file():
        return datasets_dir / folder, suffix
    return None


def score_run(run: Run, datasets_dir: Path, limit: int | None = None) -> Report | None:
    """Score a run's predictions on the first `limit` (default: n predictions) dataset records."""
    if run.predictions is None:
        return None
    source = dataset_source(run.dataset, datasets_dir, run.summary.get("split"))
    if source is None:
        run.problems.append(f"dataset not found: {datasets_dir / run.dataset}")
        return None
    root, split = source
    n = run.n_pred if limit is None else limit
    try:
        dataset = load_dataset(root, limit=n, split=split)
    except ValueError as exc:  # e.g. no record of that split
        run.problems.append(f"dataset {run.dataset}: {exc}")
        return None
    preds = index_predictions(run.predictions)
    if limit is None:
        expected = {s.image for s in dataset.samples}
        if set(preds) != expected:
            extra = len(set(preds) - expected)
            run.problems.append(
                f"predicted images are not the first {n} of labels.jsonl "
                f"({extra} outside them): scores are not comparable"
            )
    if run.summary.get("n_images") not in (None, run.n_pred):
        run.problems.append(
            f"summary n_images={run.summary.get('n_images')} but {run.n_pred} predictions"
        )
    return score(dataset, preds)


def order_systems(systems: Iterable[str], baseline: str) -> list[str]:
    rank = {OURS: 0, baseline: 1}
    return sorted(set(systems), key=lambda s: (rank.get(s, 2), s))


def group(runs: Sequence[Run]) -> dict[str, dict[str, dict[int, Run]]]:
    """runs[dataset][system][threads]."""
    out: dict[str, dict[str, dict[int, Run]]] = {}
    for run in runs:
        out.setdefault(run.dataset, {}).setdefault(run.system, {})[run.threads] = run
    return out


def accuracy_run(by_threads: Mapping[int, Run]) -> Run | None:
    """The run whose accuracy is reported: threads=1, else the lowest thread count scored."""
    scored = [r for _, r in sorted(by_threads.items()) if r.report is not None]
    return scored[0] if scored else None


def _signature(record: Mapping[str, Any]) -> Any:
    if "error" in record:
        return ("error",)
    if "lines" in record:
        return tuple(
            (ln.get("text"), json.dumps(ln.get("points"))) for ln in record.get("lines") or []
        )
    return (record.get("text"), record.get("angle"))


def thread_consistency(by_threads: Mapping[int, Run]) -> list[dict[str, Any]]:
    """Per pair (lowest thread count, other), how many images' predictions differ."""
    runs = [r for _, r in sorted(by_threads.items()) if r.predictions is not None]
    out = []
    for other in runs[1:]:
        ref = runs[0]
        a = {r["image"]: _signature(r) for r in ref.predictions or []}
        b = {r["image"]: _signature(r) for r in other.predictions or []}
        common = set(a) & set(b)
        differ = sorted(img for img in common if a[img] != b[img])
        out.append(
            {
                "system": ref.system,
                "dataset": ref.dataset,
                "threads": [ref.threads, other.threads],
                "compared": len(common),
                "differ": len(differ),
                "examples": differ[:5],
            }
        )
    return out


# --------------------------------------------------------------------------- formatting


def md_table(header: Sequence[str], rows: Sequence[Sequence[str]], left: int = 1) -> str:
    """A markdown table; the first `left` columns left-aligned, the rest right-aligned."""
    align = [":---" if i < left else "---:" for i in range(len(header))]
    lines = [header, align, *rows]
    return "\n".join("| " + " | ".join(str(c) for c in line) + " |" for line in lines)


def fmt(value: float | None, digits: int = 1) -> str:
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "-"
    return f"{value:.{digits}f}"


def ratio(value: float | None, base: float | None) -> float | None:
    if value is None or base is None or base <= 0:
        return None
    return value / base


def fmt_ratio(value: float | None) -> str:
    return "-" if value is None else f"{value:.2f}×"


def kind_of(by_system: Mapping[str, Mapping[int, Run]]) -> str | None:
    for by_threads in by_system.values():
        for run in by_threads.values():
            if run.report is not None:
                return run.report.kind
    return None


def headline(kind: str, reports: Iterable[Report]) -> list[tuple[str, str, bool]]:
    """The kind's headline metrics that at least one report has (detection-only sets: det_*)."""
    have = {k for r in reports for k in r.metrics}
    return [c for c in HEADLINE.get(kind, ()) if c[0] in have]


def accuracy_section(
    grouped: Mapping[str, Mapping[str, Mapping[int, Run]]], baseline: str
) -> list[str]:
    out = ["## (a) Accuracy (lowest thread count run; accuracy does not depend on threads)", ""]
    for dataset, by_system in sorted(grouped.items()):
        kind = kind_of(by_system) or "?"
        chosen = {s: accuracy_run(t) for s, t in by_system.items()}
        reports = [r.report for r in chosen.values() if r is not None and r.report is not None]
        cols = headline(kind, reports)
        rows = []
        for system in order_systems(by_system, baseline):
            run = chosen.get(system)
            if run is None or run.report is None:
                rows.append([system, "-", "-", "-", *("-" for _ in cols)])
                continue
            cells = [fmt(run.report.metrics.get(k), 4) for k, _, _ in cols]
            rows.append([system, f"t{run.threads}", str(run.report.n), str(run.errors), *cells])
        header = ["system", "run", "n", "errors", *(h for _, h, _ in cols)]
        out += [f"### {dataset} ({kind})", "", md_table(header, rows), ""]
    return out


def speed_section(
    grouped: Mapping[str, Mapping[str, Mapping[int, Run]]], baseline: str, noisy_load: float
) -> list[str]:
    out = [
        "## (b) Speed",
        "",
        f"Ratios are vs `{baseline}` at the same thread count (< 1× is faster / smaller). "
        f"`!` marks a run that started with a 1-minute load average > {noisy_load:g}.",
        "",
    ]
    header = [
        "system",
        "threads",
        "n",
        "median ms",
        "p95 ms",
        "images/s",
        "peak RSS MB",
        "cold start s",
        "load s",
        f"median vs {baseline}",
        f"RSS vs {baseline}",
        "load1m",
    ]
    for dataset, by_system in sorted(grouped.items()):
        threads = sorted({t for by_t in by_system.values() for t in by_t})
        rows = []
        for t in threads:
            base = by_system.get(baseline, {}).get(t)
            for system in order_systems(by_system, baseline):
                run = by_system[system].get(t)
                if run is None:
                    continue
                med = run.figure("latency_ms", "median")
                rss = run.figure("peak_rss_mb")
                base_med = base.figure("latency_ms", "median") if base else None
                base_rss = base.figure("peak_rss_mb") if base else None
                load = run.load_start
                noisy = load is not None and load > noisy_load
                rows.append(
                    [
                        system,
                        str(t),
                        str(run.summary.get("n_images", "-")),
                        fmt(med),
                        fmt(run.figure("latency_ms", "p95")),
                        fmt(run.figure("images_per_s"), 2),
                        fmt(rss, 0),
                        fmt(run.figure("cold_start_s"), 2),
                        fmt(run.figure("load_s"), 2),
                        fmt_ratio(ratio(med, base_med)),
                        fmt_ratio(ratio(rss, base_rss)),
                        fmt(load, 2) + (" !" if noisy else ""),
                    ]
                )
        out += [f"### {dataset}", "", md_table(header, rows, left=1), ""]
    return out


def load_section(runs: Sequence[Run], noisy_load: float) -> list[str]:
    rows = []
    # in the order the runs finished (summary files are written at the end of a run)
    for run in sorted(runs, key=lambda r: r.summary_path.stat().st_mtime):
        start, end = run.load_start, run.figure("loadavg_1m", "end")
        noisy = start is not None and start > noisy_load
        rows.append(
            [
                run.system,
                run.dataset,
                str(run.threads),
                fmt(start, 2),
                fmt(end, 2),
                "NOISY" if noisy else "ok",
            ]
        )
    header = ["system", "dataset", "threads", "load1m start", "load1m end", "quiet?"]
    n_noisy = sum(r[-1] == "NOISY" for r in rows)
    note = (
        f"{n_noisy} of {len(rows)} runs started with a 1-minute load > {noisy_load:g}: "
        "their timings are not trustworthy on this 2-core box."
        if n_noisy
        else "Every run started on a quiet machine."
    )
    return ["## (c) Load average during the runs", "", note, "", md_table(header, rows, 3), ""]


# --------------------------------------------------------------------------- targets


@dataclass
class Check:
    status: str  # PASS | MISS | N/A
    what: str
    detail: str

    def line(self) -> str:
        return f"{self.status:<4}  {self.what}: {self.detail}"


def _noisy_note(runs: Iterable[Run | None], noisy_load: float) -> str:
    loads = [r.load_start for r in runs if r is not None and r.load_start is not None]
    worst = max(loads, default=0.0)
    return f" [noisy: load1m {worst:.2f}]" if worst > noisy_load else ""


def accuracy_checks(
    dataset: str,
    by_system: Mapping[str, Mapping[int, Run]],
    datasets_dir: Path,
) -> list[Check]:
    ours = accuracy_run(by_system.get(OURS, {}))
    peer = accuracy_run(by_system.get(TARGET_PEER, {}))
    if ours is None or peer is None or ours.report is None or peer.report is None:
        missing = OURS if ours is None else TARGET_PEER
        return [Check("N/A", f"accuracy {dataset}", f"no scored {missing} run")]
    r_ours, r_peer, note = ours.report, peer.report, ""
    if r_ours.n != r_peer.n:  # compare on the common prefix of labels.jsonl
        n = min(r_ours.n, r_peer.n)
        r_ours = score_run(ours, datasets_dir, n) or r_ours
        r_peer = score_run(peer, datasets_dir, n) or r_peer
        note = f" (on the first {n} images both ran)"
    checks = []
    for key in TARGET_METRICS.get(r_ours.kind, ()):
        a, b = r_ours.metrics.get(key), r_peer.metrics.get(key)
        if a is None or b is None:
            continue  # e.g. text metrics of a detection-only set
        status = "PASS" if a >= b else "MISS"
        checks.append(
            Check(
                status,
                f"accuracy {dataset} {key}",
                f"ours {a:.4f} {'>=' if a >= b else '<'} {TARGET_PEER} {b:.4f} "
                f"(Δ {a - b:+.4f}){note}",
            )
        )
    return checks


def latency_checks(
    dataset: str, by_system: Mapping[str, Mapping[int, Run]], noisy_load: float
) -> list[Check]:
    checks = []
    threads = sorted(set(by_system.get(OURS, {})) | set(by_system.get(TARGET_PEER, {})))
    for t in threads:
        ours = by_system.get(OURS, {}).get(t)
        peer = by_system.get(TARGET_PEER, {}).get(t)
        what = f"latency {dataset} t{t}"
        a = ours.figure("latency_ms", "median") if ours else None
        b = peer.figure("latency_ms", "median") if peer else None
        if a is None or b is None:
            missing = OURS if a is None else TARGET_PEER
            checks.append(Check("N/A", what, f"no {missing} median latency"))
            continue
        r = a / b
        status = "PASS" if r <= LATENCY_TARGET else "MISS"
        checks.append(
            Check(
                status,
                what,
                f"ours {a:.1f} ms = {r:.2f}× {TARGET_PEER} {b:.1f} ms "
                f"(target <= {LATENCY_TARGET:.2f}×)" + _noisy_note([ours, peer], noisy_load),
            )
        )
    return checks


def rss_checks(dataset: str, by_system: Mapping[str, Mapping[int, Run]]) -> list[Check]:
    checks = []
    for t, run in sorted(by_system.get(OURS, {}).items()):
        rss = run.figure("peak_rss_mb")
        what = f"peak RSS {dataset} t{t}"
        if rss is None:
            checks.append(Check("N/A", what, "no peak_rss_mb in the summary"))
            continue
        status = "PASS" if rss <= RSS_TARGET_MB else "MISS"
        checks.append(Check(status, what, f"ours {rss:.0f} MB (target <= {RSS_TARGET_MB:.0f} MB)"))
    return checks


# --------------------------------------------------------------------------- main


def run_json(run: Run, noisy_load: float) -> dict[str, Any]:
    load = run.load_start
    return {
        "system": run.system,
        "dataset": run.dataset,
        "threads": run.threads,
        "summary_file": run.summary_path.name,
        "n_predictions": run.n_pred if run.predictions is not None else None,
        "prediction_errors": run.errors,
        "noisy": load is not None and load > noisy_load,
        "problems": run.problems,
        "accuracy": run.report.to_dict() if run.report else None,
        "summary": run.summary,
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("out_dir", type=Path, help="a directory written by run_all.sh")
    parser.add_argument("--baseline", default="rapidocr", help="system the ratios compare to")
    parser.add_argument("--markdown", type=Path, help="also write the markdown to this file")
    parser.add_argument("--json", type=Path, help="default: OUT_DIR/compare.json")
    parser.add_argument(
        "--datasets-dir", type=Path, default=REPO_ROOT.parent / "shared" / "datasets"
    )
    parser.add_argument(
        "--noisy-load",
        type=float,
        default=1.5,
        help="flag runs starting above this 1-minute load; runs are back to back, so the "
        "previous single-threaded run alone leaves ~1.0 behind",
    )
    parser.add_argument("--strict", action="store_true", help="exit 1 if any target is missed")
    args = parser.parse_args(argv)

    warnings: list[str] = []
    runs = discover(args.out_dir, warnings)
    if not runs:
        print(f"no *.summary.json in {args.out_dir}", file=sys.stderr)
        return 2
    for run in runs:
        run.report = score_run(run, args.datasets_dir)
    grouped = group(runs)

    consistency = []
    for by_system in grouped.values():
        for by_threads in by_system.values():
            consistency += thread_consistency(by_threads)
    for c in consistency:
        if c["differ"]:
            warnings.append(
                f"{c['system']} {c['dataset']}: t{c['threads'][0]} and t{c['threads'][1]} "
                f"predictions differ on {c['differ']}/{c['compared']} images "
                f"(e.g. {', '.join(c['examples'][:3])})"
            )
    for run in runs:
        warnings += [f"{run.key}: {p}" for p in run.problems]
        if run.errors:
            warnings.append(f"{run.key}: {run.errors} image(s) failed (scored as empty output)")

    checks: list[Check] = []
    for dataset, by_system in sorted(grouped.items()):
        checks += accuracy_checks(dataset, by_system, args.datasets_dir)
    for dataset, by_system in sorted(grouped.items()):
        checks += latency_checks(dataset, by_system, args.noisy_load)
    for dataset, by_system in sorted(grouped.items()):
        checks += rss_checks(dataset, by_system)

    md = [f"# Benchmark comparison: `{args.out_dir}`", ""]
    md += accuracy_section(grouped, args.baseline)
    md += speed_section(grouped, args.baseline, args.noisy_load)
    md += load_section(runs, args.noisy_load)
    md += ["## Targets (ours vs rapidocr)", "", "```text", *(c.line() for c in checks), "```", ""]
    if warnings:
        md += ["## Warnings", "", *(f"- {w}" for w in warnings), ""]
    text = "\n".join(md)
    print(text)
    if args.markdown:
        args.markdown.parent.mkdir(parents=True, exist_ok=True)
        args.markdown.write_text(text + "\n", encoding="utf-8")

    json_path = args.json or args.out_dir / "compare.json"
    everything = {
        "out_dir": str(args.out_dir),
        "baseline": args.baseline,
        "target_peer": TARGET_PEER,
        "noisy_load": args.noisy_load,
        "runs": [run_json(r, args.noisy_load) for r in runs],
        "thread_consistency": consistency,
        "targets": [c.__dict__ for c in checks],
        "warnings": warnings,
    }
    json_path.write_text(json.dumps(everything, indent=2, ensure_ascii=False) + "\n", "utf-8")
    print(f"wrote {json_path}", file=sys.stderr)
    missed = any(c.status == "MISS" for c in checks)
    return 1 if args.strict and missed else 0


if __name__ == "__main__":
    sys.exit(main())
