"""Ours vs RapidOCR 3.10 (same PP-OCRv6 small rec weights) on the recognition crop sets, one run.

    .venv/bin/python benchmarks/crops_compare.py                 # -> var/bench/crops-YYYYmmdd-HHMM/
    .venv/bin/python benchmarks/crops_compare.py --out var/bench/crops-before \\
        --sets icdar2015_word_train:dev iiit5k_train@500         # NAME[:SPLIT][@FIRST_N]
    .venv/bin/python benchmarks/crops_compare.py --out DIR --rescore   # score DIR again, no runs

For every set, one after the other (never two heavy processes at once):

- ours: ``.venv/bin/ocr eval --dataset PATH[:SPLIT] --threads T --out ours/NAME.report.json
  --save-predictions ours/ --no-progress [--limit N]`` with every ``OCR_*`` variable removed from
  the environment (the service's defaults; the removed ones are listed in the JSON). ``ocr eval``
  reads a crop through recognition only (``OcrPipeline.read_line``).
- RapidOCR: ``.peers/rapidocr/bin/python benchmarks/peer_runner.py --system rapidocr --dataset
  PATH[:SPLIT] --threads T --out-dir rapidocr/ [--limit N]`` (``use_det=False, use_cls=False``:
  recognition only, the ``PP-OCRv6_rec_small.onnx`` inside its wheel = our default set's file).

Both prediction files are then scored here with ``models.eval`` (``load_dataset`` +
``report.score``: each set's own protocol, e.g. IIIT5K / ICDAR-2015 words case-insensitive on
letters and digits, SROIE case-insensitive, plates exact without separators), so the scoring is
identical for both systems. Extra columns: crops with height > width (count, share read
correctly), crops that came back empty (raw text blank, or missing / failed), and how the two
systems' right/wrong answers overlap.

Outputs in OUT: ``ours/NAME.predictions.jsonl`` + ``ours/NAME.report.json``,
``rapidocr/rapidocr-NAME-tT.predictions.jsonl`` + ``.summary.json``, ``logs/*.log``,
``samples/NAME.jsonl`` (one line per crop: image, gt, w, h, both texts, scores, right/wrong),
``crops_compare.md`` (the printed table) and ``crops_compare.json`` (everything, plus the git
HEAD and the state of service/ocr before and after each of our runs; ``ours/service_ocr.diff``
is ``git diff HEAD -- service/ocr`` at the start, when that tree is dirty).

Accuracy only: the machine may be busy; nothing here is a timing.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

REPO_ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO_ROOT))

from models.eval.crops import pred_text  # noqa: E402
from models.eval.datasets import Dataset, load_dataset  # noqa: E402
from models.eval.report import score  # noqa: E402
from models.eval.runner import load_predictions  # noqa: E402

DATASETS_DIR = REPO_ROOT.parent / "shared" / "datasets"
OURS_EXE = REPO_ROOT / ".venv" / "bin" / "ocr"
PEER_PYTHON = REPO_ROOT / ".peers" / "rapidocr" / "bin" / "python"
PEER_RUNNER = REPO_ROOT / "benchmarks" / "peer_runner.py"
SYSTEMS = ("ours", "rapidocr")

# Full sets: icdar dev 1000, iiit5k 2000, sroie line crops 1500, plates 1000 (all cheap crops).
DEFAULT_SETS = (
    "icdar2015_word_train:dev",
    "iiit5k_train",
    "sroie_train_line_crops",
    "cn_license_plate_crops",
)


@dataclass(frozen=True)
class CropSet:
    spec: str  # as given: NAME[:SPLIT][@N]
    root: Path
    split: str | None
    limit: int | None

    @property
    def dataset_arg(self) -> str:
        """What `ocr eval` and peer_runner.py take: PATH or PATH:SPLIT."""
        return f"{self.root}:{self.split}" if self.split else str(self.root)

    @property
    def name(self) -> str:
        """The name both runners report (`icdar2015_word_train-dev`)."""
        return f"{self.root.name}-{self.split}" if self.split else self.root.name

    def load(self) -> Dataset:
        return load_dataset(self.root, limit=self.limit, split=self.split)


def parse_set(spec: str, datasets_dir: Path) -> CropSet:
    body, at, n = spec.partition("@")
    limit = int(n) if at else None
    where, split = body, None
    if not Path(body).exists() and ":" in body:
        where, _, split = body.rpartition(":")
    root = Path(where) if Path(where).is_dir() else datasets_dir / where
    if not (root / "labels.jsonl").is_file():
        raise SystemExit(f"{spec}: no labels.jsonl in {root}")
    return CropSet(spec, root.resolve(), split or None, limit)


# --------------------------------------------------------------------------- provenance


def git(*args: str) -> str:
    """A read-only git query (no index refresh: --no-optional-locks)."""
    out = subprocess.run(
        ["git", "--no-optional-locks", "-C", str(REPO_ROOT), *args],
        capture_output=True,
        text=True,
        check=False,
    )
    return out.stdout.strip()


def tree_fingerprint(folder: Path) -> dict[str, str]:
    """sha256 of every .py file under folder (tracked or not): detects edits during a run."""
    return {
        str(p.relative_to(REPO_ROOT)): hashlib.sha256(p.read_bytes()).hexdigest()[:16]
        for p in sorted(folder.rglob("*.py"))
        if "__pycache__" not in p.parts
    }


def code_state() -> dict[str, Any]:
    return {
        "time": time.strftime("%Y-%m-%d %H:%M:%S"),
        "head": git("rev-parse", "--short", "HEAD"),
        "status_service_ocr": git("status", "--short", "service/ocr").splitlines(),
        "fingerprint": tree_fingerprint(REPO_ROOT / "service" / "ocr"),
    }


def changed_files(before: dict[str, Any], after: dict[str, Any]) -> list[str]:
    a, b = before["fingerprint"], after["fingerprint"]
    return sorted(k for k in set(a) | set(b) if a.get(k) != b.get(k))


# --------------------------------------------------------------------------- runs


def run_logged(cmd: list[str], log: Path, env: dict[str, str] | None = None) -> dict[str, Any]:
    log.parent.mkdir(parents=True, exist_ok=True)
    start = time.monotonic()
    with log.open("w", encoding="utf-8") as f:
        f.write("$ " + " ".join(cmd) + "\n")
        f.flush()
        rc = subprocess.run(
            cmd, cwd=REPO_ROOT, env=env, stdout=f, stderr=subprocess.STDOUT, check=False
        ).returncode
    return {"cmd": cmd, "rc": rc, "seconds": round(time.monotonic() - start, 1), "log": str(log)}


def ours_env() -> tuple[dict[str, str], dict[str, str]]:
    """The environment minus every OCR_* setting (so the service defaults apply)."""
    env = dict(os.environ)
    removed = {k: env.pop(k) for k in list(env) if k.startswith("OCR_")}
    return env, removed


def ours_paths(out: Path, cs: CropSet) -> tuple[Path, Path]:
    return out / "ours" / f"{cs.name}.predictions.jsonl", out / "ours" / f"{cs.name}.report.json"


def rapid_paths(out: Path, cs: CropSet, threads: int) -> tuple[Path, Path]:
    stem = out / "rapidocr" / f"rapidocr-{cs.name}-t{threads}"
    return Path(f"{stem}.predictions.jsonl"), Path(f"{stem}.summary.json")


def run_ours(out: Path, cs: CropSet, threads: int) -> dict[str, Any]:
    preds, report = ours_paths(out, cs)
    cmd = [str(OURS_EXE), "eval", "--dataset", cs.dataset_arg, "--threads", str(threads)]
    cmd += ["--out", str(report), "--save-predictions", str(preds.parent), "--no-progress"]
    if cs.limit is not None:
        cmd += ["--limit", str(cs.limit)]
    env, removed = ours_env()
    before = code_state()
    info = run_logged(cmd, out / "logs" / f"ours-{cs.name}.log", env)
    after = code_state()
    info |= {
        "ocr_env_removed": removed,
        "code_before": before,
        "code_after": after,
        "service_ocr_changed_during_run": changed_files(before, after),
    }
    return info


def run_rapidocr(out: Path, cs: CropSet, threads: int) -> dict[str, Any]:
    cmd = [str(PEER_PYTHON), str(PEER_RUNNER), "--system", "rapidocr"]
    cmd += ["--dataset", cs.dataset_arg, "--threads", str(threads)]
    cmd += ["--out-dir", str(out / "rapidocr")]
    if cs.limit is not None:
        cmd += ["--limit", str(cs.limit)]
    return run_logged(cmd, out / "logs" / f"rapidocr-{cs.name}.log")


# --------------------------------------------------------------------------- scoring


def image_size(path: Path) -> tuple[int, int]:
    from PIL import Image

    with Image.open(path) as img:  # header only
        return img.size  # (w, h)


def score_system(
    ds: Dataset, preds: dict[str, dict[str, Any]], sizes: dict[str, tuple[int, int]]
) -> tuple[dict[str, Any], dict[str, bool]]:
    """models.eval's report for one system + tall-crop and empty-output counts."""
    report = score(ds, preds)
    norm = ds.protocol.normalize
    ok = {s.image: norm(pred_text(preds.get(s.image))) == norm(s.text) for s in ds.samples}
    tall = [s.image for s in ds.samples if sizes[s.image][1] > sizes[s.image][0]]
    records = [preds.get(s.image) for s in ds.samples]
    empty_raw = sum(1 for r in records if not pred_text(r).strip())
    figures = {
        "n": report.n,
        "word_accuracy": report.metrics["word_accuracy"],
        "char_accuracy": report.metrics["char_accuracy"],
        "cer": report.metrics["cer"],
        "n_tall": len(tall),
        "tall_correct": sum(ok[i] for i in tall),
        "tall_accuracy": (sum(ok[i] for i in tall) / len(tall)) if tall else None,
        "empty": empty_raw,  # blank text, no prediction or a failed prediction
        "empty_after_protocol": report.counts.get("empty_pred", 0),
        "missing": report.counts.get("missing_pred", 0),
        "errors": sum(1 for r in records if r is not None and "error" in r),
        "report": report.to_dict(),
    }
    if abs(sum(ok.values()) / max(1, report.n) - report.metrics["word_accuracy"]) > 1e-12:
        raise AssertionError("per-sample correctness disagrees with models.eval's word_accuracy")
    return figures, ok


def read_preds(path: Path) -> dict[str, dict[str, Any]] | None:
    return load_predictions(path) if path.is_file() else None


def score_set(out: Path, cs: CropSet, threads: int) -> dict[str, Any]:
    ds = cs.load()
    sizes = {s.image: image_size(ds.image_path(s)) for s in ds.samples}
    files = {"ours": ours_paths(out, cs)[0], "rapidocr": rapid_paths(out, cs, threads)[0]}
    result: dict[str, Any] = {
        "set": cs.spec,
        "name": cs.name,
        "root": str(cs.root),
        "split": cs.split,
        "limit": cs.limit,
        "n": len(ds),
        "total_in_split": ds.total,
        "protocol": ds.protocol.to_dict(),
        "systems": {},
        "problems": [],
    }
    preds: dict[str, dict[str, dict[str, Any]]] = {}
    oks: dict[str, dict[str, bool]] = {}
    for system, path in files.items():
        got = read_preds(path)
        if got is None:
            result["problems"].append(f"{system}: no predictions file {path}")
            continue
        extra = set(got) - {s.image for s in ds.samples}
        if extra:
            result["problems"].append(f"{system}: {len(extra)} predictions outside the set")
        preds[system] = got
        figures, oks[system] = score_system(ds, got, sizes)
        result["systems"][system] = figures | {"predictions": str(path)}
    if len(oks) == 2:
        a, b = oks["ours"], oks["rapidocr"]
        same = sum(
            pred_text(preds["ours"].get(s.image)) == pred_text(preds["rapidocr"].get(s.image))
            for s in ds.samples
        )
        result["agreement"] = {
            "both_right": sum(a[i] and b[i] for i in a),
            "ours_only": sum(a[i] and not b[i] for i in a),
            "rapidocr_only": sum(b[i] and not a[i] for i in a),
            "both_wrong": sum(not a[i] and not b[i] for i in a),
            "identical_raw_text": same,
        }
    samples_path = out / "samples" / f"{cs.name}.jsonl"
    samples_path.parent.mkdir(parents=True, exist_ok=True)
    with samples_path.open("w", encoding="utf-8") as f:
        for s in ds.samples:
            w, h = sizes[s.image]
            row: dict[str, Any] = {"image": s.image, "gt": s.text, "w": w, "h": h}
            for system, got in preds.items():
                rec = got.get(s.image)
                row[system] = pred_text(rec)
                row[f"{system}_score"] = rec.get("score") if rec else None
                row[f"{system}_ok"] = oks[system][s.image]
                if rec and "error" in rec:
                    row[f"{system}_error"] = rec["error"]
            f.write(json.dumps(row, ensure_ascii=False) + "\n")
    result["samples"] = str(samples_path)
    return result


# --------------------------------------------------------------------------- table


def pct(x: float | None) -> str:
    return "-" if x is None else f"{100 * x:.2f}"


def md_table(header: list[str], rows: list[list[str]]) -> list[str]:
    align = [":---", ":---", *["---:"] * (len(header) - 2)]
    return ["| " + " | ".join(r) + " |" for r in (header, align, *rows)]


def render(results: list[dict[str, Any]], meta: dict[str, Any]) -> str:
    ours = meta.get("ours_model_set") or {}
    ours_rec = (ours.get("versions") or {}).get("rec", "?")
    lines = [
        "# Crop sets: ours vs RapidOCR, one run (recognition only)",
        "",
        f"RapidOCR {meta.get('rapidocr_version') or '?'}; ours {ours.get('name', '?')} "
        f"rec {ours_rec}. git HEAD {meta['head']}; `git status --short service/ocr` at the "
        "start: "
        + (", ".join(f"`{x}`" for x in meta["status_service_ocr_start"]) or "clean")
        + f"; threads {meta['threads']}. Both scored with models/eval (each set's protocol); "
        "empty = blank text, missing or failed.",
        "",
    ]
    header = [
        "set (n)",
        "system",
        "word acc %",
        "char acc %",
        "CER %",
        "tall (h>w) n",
        "tall acc %",
        "empty",
        "errors",
    ]
    rows = []
    for r in results:
        for system in SYSTEMS:
            f = r["systems"].get(system)
            if f is None:
                rows.append([f"{r['name']} ({r['n']})", system, *["-"] * 7])
                continue
            rows.append(
                [
                    f"{r['name']} ({r['n']})",
                    system,
                    pct(f["word_accuracy"]),
                    pct(f["char_accuracy"]),
                    pct(f["cer"]),
                    str(f["n_tall"]),
                    pct(f["tall_accuracy"]) + (f" ({f['tall_correct']})" if f["n_tall"] else ""),
                    str(f["empty"]),
                    str(f["errors"]),
                ]
            )
    lines += [*md_table(header, rows), ""]
    agree = [r for r in results if "agreement" in r]
    if agree:
        lines += ["Right/wrong overlap (word level):", ""]
        rows = [
            [
                r["name"],
                str(r["n"]),
                str(r["agreement"]["both_right"]),
                str(r["agreement"]["ours_only"]),
                str(r["agreement"]["rapidocr_only"]),
                str(r["agreement"]["both_wrong"]),
                str(r["agreement"]["identical_raw_text"]),
            ]
            for r in agree
        ]
        header = ["set", "n", "both right", "ours only", "rapidocr only", "both wrong", "same text"]
        lines += [*md_table(header, rows), ""]
    notes = [p for r in results for p in (f"{r['name']}: {x}" for x in r["problems"])]
    notes += meta.get("warnings", [])
    if notes:
        lines += ["Warnings:", "", *(f"- {n}" for n in notes), ""]
    return "\n".join(lines)


# --------------------------------------------------------------------------- main


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--sets",
        nargs="+",
        default=list(DEFAULT_SETS),
        help="NAME[:SPLIT][@FIRST_N] (a name under --datasets-dir or a folder); "
        f"default: {' '.join(DEFAULT_SETS)}",
    )
    parser.add_argument("--out", type=Path, help="default: var/bench/crops-YYYYmmdd-HHMM")
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--systems", default="ours,rapidocr", help="which to run (comma list)")
    parser.add_argument(
        "--rescore", action="store_true", help="run nothing: score the files already in --out"
    )
    parser.add_argument("--datasets-dir", type=Path, default=DATASETS_DIR)
    args = parser.parse_args(argv)

    sets = [parse_set(s, args.datasets_dir) for s in args.sets]
    out: Path = args.out or REPO_ROOT / "var" / "bench" / f"crops-{time.strftime('%Y%m%d-%H%M')}"
    out.mkdir(parents=True, exist_ok=True)
    systems = [s.strip() for s in args.systems.split(",") if s.strip()]
    unknown = set(systems) - set(SYSTEMS)
    if unknown:
        raise SystemExit(f"unknown systems: {sorted(unknown)} (have {SYSTEMS})")

    json_path = out / "crops_compare.json"
    previous = json.loads(json_path.read_text("utf-8")) if json_path.is_file() else {}
    runs: dict[str, Any] = previous.get("runs", {}) if args.rescore else {}
    start_state = previous.get("code_start") if args.rescore else None
    warnings: list[str] = []
    if not args.rescore:
        if "rapidocr" in systems and not PEER_PYTHON.is_file():
            raise SystemExit(f"{PEER_PYTHON} missing: bash benchmarks/setup_peers.sh rapidocr")
        start_state = code_state()
        if start_state["status_service_ocr"]:
            diff = git("diff", "HEAD", "--", "service/ocr")
            (out / "ours").mkdir(parents=True, exist_ok=True)
            (out / "ours" / "service_ocr.diff").write_text(diff + "\n", encoding="utf-8")
        for cs in sets:
            for system in systems:
                print(f"{time.strftime('%H:%M:%S')} {system} {cs.name} ...", file=sys.stderr)
                if system == "ours":
                    info = run_ours(out, cs, args.threads)
                else:
                    info = run_rapidocr(out, cs, args.threads)
                runs[f"{system}/{cs.name}"] = info
                print(
                    f"{time.strftime('%H:%M:%S')}   rc={info['rc']} {info['seconds']}s "
                    f"(log {info['log']})",
                    file=sys.stderr,
                )
    for key, info in runs.items():
        if info.get("rc"):
            warnings.append(f"{key}: exit status {info['rc']} (see {info['log']})")
        if info.get("service_ocr_changed_during_run"):
            changed = ", ".join(info["service_ocr_changed_during_run"])
            warnings.append(f"{key}: service/ocr changed during the run: {changed}")
        if info.get("ocr_env_removed"):
            warnings.append(f"{key}: removed OCR_* settings {sorted(info['ocr_env_removed'])}")

    results = [score_set(out, cs, args.threads) for cs in sets]
    rapid_version = None
    summaries = sorted((out / "rapidocr").glob("rapidocr-*.summary.json"))
    if summaries:
        cfg = json.loads(summaries[0].read_text("utf-8")).get("config", {})
        rapid_version = cfg.get("rapidocr")
        rec = cfg.get("models", {}).get("Rec", {})
        if rec:
            rapid_version = f"{rapid_version}, rec {rec.get('file')} sha256 {rec['sha256'][:12]}"
    ours_model = None
    for cs in sets:
        report_path = ours_paths(out, cs)[1]
        if report_path.is_file():
            ours_model = json.loads(report_path.read_text("utf-8")).get("model_set")
            break
    state = start_state or {"head": "?", "status_service_ocr": []}
    meta = {
        "head": state["head"],
        "status_service_ocr_start": state["status_service_ocr"],
        "threads": args.threads,
        "rapidocr_version": rapid_version,
        "ours_model_set": ours_model,
        "warnings": warnings,
    }
    text = render(results, meta)
    print(text)
    (out / "crops_compare.md").write_text(text + "\n", encoding="utf-8")
    doc = {
        "out": str(out),
        "sets": [cs.spec for cs in sets],
        "threads": args.threads,
        "code_start": start_state,
        "runs": runs,
        "results": results,
        "meta": meta,
    }
    json_path.write_text(json.dumps(doc, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
    print(f"wrote {out / 'crops_compare.md'} and {json_path}", file=sys.stderr)
    failed = any(info.get("rc") for info in runs.values())
    missing = any(len(r["systems"]) < len(SYSTEMS) for r in results)
    return 1 if failed or missing else 0


if __name__ == "__main__":
    sys.exit(main())
