"""The default PDF render DPI, chosen by measurement (issue 12).

Each dev-set page becomes a one-page PDF at its true physical size (in memory, never written):
the scan is embedded losslessly (a JPEG as DCT, as scanners write it; anything else as Flate
pixels) on a page of ``width / scan_dpi`` inches. The physical size is an assumption per set:

- ``sroie_train_dev``: the receipt's image width is an 80 mm thermal-paper roll;
- ``funsd_train``: the form's image height is a US Letter page (11 in; RVL-CDIP scans).

The PDF is then read through the PDF path of ``ocr predict file.pdf``
(``service.documents.reading.read_document``: PDFium render at the DPI, then the reading flow)
and scored with ``models/eval`` against the GT scaled to the rendered pixels
(``dpi / scan_dpi``). Per DPI: median GT line height in rendered px, char accuracy over matched
lines, exact-line rate, detection F1, and wall time per page (render + read). The first
``--tune`` pages of each set choose; the next ``--report`` pages are reported on.

    PYTHONPATH=. .venv/bin/python benchmarks/pdf_dpi.py --threads 1 \
        --dataset sroie_train_dev --dataset funsd_train --tune 20 --report 20 \
        --dpi 100,150,200,250,300 [--json var/bench/pdf/dpi.json]
    .venv/bin/python benchmarks/pdf_dpi.py --from A.json B.json   # sets run side by side
"""

from __future__ import annotations

import argparse
import dataclasses
import io
import json
import statistics
import time
import zlib
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import pikepdf
from PIL import Image as PILImage

from models.eval.bench import set_thread_env
from models.eval.datasets import Dataset, GtLine, Sample
from models.eval.report import score
from service.cli.common import open_dataset, open_pipeline, settings_with
from service.documents.options import PdfOptions
from service.documents.reading import read_document
from service.ocr.pipeline import OcrPipeline

MM_PER_INCH = 25.4
RECEIPT_WIDTH_MM = 80.0  # the common thermal roll
LETTER_HEIGHT_IN = 11.0
METRICS = ("char_accuracy", "line_exact", "det_f1")


def scan_dpi(dataset: str, width: int, height: int) -> float:
    """The scan's resolution under the set's physical-size assumption (module docstring)."""
    if dataset.startswith("sroie"):
        return width / (RECEIPT_WIDTH_MM / MM_PER_INCH)
    if dataset.startswith("funsd"):
        return height / LETTER_HEIGHT_IN
    raise ValueError(f"no physical page size assumed for {dataset}")


def _image_stream(pdf: pikepdf.Pdf, data: bytes, im: PILImage.Image) -> pikepdf.Stream:
    """The scan as a PDF image, lossless: a JPEG's own bytes, other formats' pixels deflated."""
    grey = im.mode in ("L", "1", "LA", "I;16")
    colour = pikepdf.Name.DeviceGray if grey else pikepdf.Name.DeviceRGB
    if im.format == "JPEG" and im.mode in ("L", "RGB"):
        body, filt = data, pikepdf.Name.DCTDecode
    else:
        body = zlib.compress(im.convert("L" if grey else "RGB").tobytes(), 1)
        filt = pikepdf.Name.FlateDecode
    return pikepdf.Stream(
        pdf,
        body,
        Type=pikepdf.Name.XObject,
        Subtype=pikepdf.Name.Image,
        Width=im.width,
        Height=im.height,
        ColorSpace=colour,
        BitsPerComponent=8,
        Filter=filt,
    )


def scans_pdf(scans: Sequence[tuple[bytes, float]]) -> bytes:
    """A PDF with one page per scan ``(data, dpi)``, each at its physical size."""
    pdf = pikepdf.new()
    for data, dpi in scans:
        with PILImage.open(io.BytesIO(data)) as im:
            image = _image_stream(pdf, data, im)
            w, h = im.width * 72 / dpi, im.height * 72 / dpi
        page = pikepdf.Dictionary(
            Type=pikepdf.Name.Page,
            MediaBox=[0, 0, w, h],
            Resources=pikepdf.Dictionary(XObject=pikepdf.Dictionary(Im0=image)),
            Contents=pikepdf.Stream(pdf, f"q {w} 0 0 {h} 0 0 cm /Im0 Do Q".encode()),
        )
        pdf.pages.append(pikepdf.Page(page))
    out = io.BytesIO()
    pdf.save(out)
    return out.getvalue()


def _scaled(sample: Sample, factor: float) -> Sample:
    """The sample's GT in the rendered page's pixels."""
    lines = tuple(
        dataclasses.replace(ln, points=tuple((x * factor, y * factor) for x, y in ln.points))
        for ln in sample.lines
    )
    return dataclasses.replace(sample, lines=lines)


def line_height(line: GtLine) -> float:
    ys = [y for _, y in line.points]
    return max(ys) - min(ys)


@dataclasses.dataclass(frozen=True)
class Page:
    sample: Sample
    pdf: bytes
    scan_dpi: float


def scan(dataset: Dataset, sample: Sample) -> tuple[bytes, float]:
    """A sample's image bytes and its scan DPI under the set's size assumption."""
    width, height = int(sample.record["width"]), int(sample.record["height"])
    return dataset.image_path(sample).read_bytes(), scan_dpi(dataset.name, width, height)


def load_pages(dataset: Dataset) -> list[Page]:
    pages = []
    for sample in dataset.samples:
        data, dpi = scan(dataset, sample)
        pages.append(Page(sample, scans_pdf([(data, dpi)]), dpi))
    return pages


Reader = Callable[[bytes, int], dict[str, Any]]


def pdf_reader(pipeline: OcrPipeline) -> Reader:
    """PDF bytes + dpi -> the one page's prediction record (``points`` for ``models/eval``)."""
    s = settings_with(None)
    opts, limits = s.ocr_options(), s.pdf_limits()

    def read(pdf: bytes, dpi: int) -> dict[str, Any]:
        doc = read_document(pipeline, pdf, opts, PdfOptions(dpi=dpi), limits)
        (page,) = doc["pages"]
        lines = [{"points": ln["polygon"], "text": ln["text"]} for ln in page["lines"]]
        return {"lines": lines}

    return read


def run_part(
    dataset: Dataset, pages: Sequence[Page], dpis: Sequence[int], read: Reader
) -> list[dict[str, Any]]:
    """Every DPI over some pages (each page at every DPI in turn, so that the machine's noise
    falls on all DPIs alike): the models/eval metrics, median line height, seconds per page."""
    runs: dict[int, dict[str, list[Any]]] = {d: {"s": [], "r": [], "h": [], "t": []} for d in dpis}
    for page in pages:
        for dpi in dpis:
            sample = _scaled(page.sample, dpi / page.scan_dpi)
            start = time.perf_counter()
            record = read(page.pdf, dpi)
            run = runs[dpi]
            run["t"].append(time.perf_counter() - start)
            run["r"].append({**record, "image": sample.image})
            run["s"].append(sample)
            run["h"] += [line_height(ln) for ln in sample.lines if not ln.ignore]
    return [_summary(dataset, dpi, runs[dpi]) for dpi in dpis]


def _summary(dataset: Dataset, dpi: int, run: dict[str, list[Any]]) -> dict[str, Any]:
    report = score(dataclasses.replace(dataset, samples=tuple(run["s"])), run["r"])
    return {
        "dpi": dpi,
        "pages": len(run["s"]),
        "median_line_px": statistics.median(run["h"]),
        **{m: report.metrics[m] for m in METRICS},
        "s_per_page": statistics.mean(run["t"]),
    }


def table(title: str, rows: Sequence[dict[str, Any]]) -> str:
    head = "| dpi | median line height px | char_acc | line_exact | det_F1 | s/page |"
    out = ["", f"#### {title}", "", head, "|---:|---:|---:|---:|---:|---:|"]
    for r in rows:
        out.append(
            f"| {r['dpi']} | {r['median_line_px']:.1f} | {r['char_accuracy']:.4f} | "
            f"{r['line_exact']:.4f} | {r['det_f1']:.4f} | {r['s_per_page']:.2f} |"
        )
    return "\n".join(out)


def choose(tuning: dict[str, list[dict[str, Any]]], tolerance: float) -> int:
    """The lowest DPI whose exact-line rate on every set's tuning pages is within
    ``tolerance`` of that set's best: more pixels cost time and memory, so take the fewest
    that read as well."""
    dpis = [r["dpi"] for r in next(iter(tuning.values()))]
    best = {name: max(r["line_exact"] for r in rows) for name, rows in tuning.items()}
    for i, dpi in enumerate(sorted(dpis)):
        if all(rows[i]["line_exact"] >= best[n] - tolerance for n, rows in tuning.items()):
            return dpi
    return max(dpis)


Results = dict[str, dict[str, list[dict[str, Any]]]]  # part -> set -> one row per DPI


def measure(args: argparse.Namespace) -> Results:
    dpis = sorted(int(d) for d in args.dpi.split(","))
    set_thread_env(args.threads)
    read = pdf_reader(open_pipeline(settings_with(args.threads), None))
    results: Results = {"tune": {}, "report": {}}
    for name in args.dataset:
        for part, offset, limit in (("tune", 0, args.tune), ("report", args.tune, args.report)):
            ds = open_dataset(name, limit=limit, offset=offset)
            rows = run_part(ds, load_pages(ds), dpis, read)
            results[part][ds.name] = rows
            print(table(f"{ds.name}, {part} pages {offset}-{offset + limit - 1}", rows), flush=True)
    return results


def merged(paths: Sequence[Path]) -> Results:
    """The results of earlier runs (``--json`` files, e.g. one per set run side by side)."""
    results: Results = {"tune": {}, "report": {}}
    for path in paths:
        saved = json.loads(path.read_text())
        for part in results:
            results[part].update(saved[part])
    for part, sets in results.items():
        for name, rows in sets.items():
            print(table(f"{name}, {part} pages", rows))
    return results


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--dataset", action="append", default=[])
    ap.add_argument("--dpi", default="100,150,200,250,300")
    ap.add_argument("--tune", type=int, default=20, help="first N pages of each set: choose")
    ap.add_argument("--report", type=int, default=20, help="next N pages: report")
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--tolerance", type=float, default=0.01, help="exact-line rate, absolute")
    ap.add_argument("--json", type=Path)
    ap.add_argument("--from", dest="saved", type=Path, nargs="+", help="tabulate --json files")
    args = ap.parse_args(argv)
    if not args.saved and not args.dataset:
        ap.error("give --dataset (measure) or --from (tabulate earlier runs)")
    results = merged(args.saved) if args.saved else measure(args)
    chosen = choose(results["tune"], args.tolerance)
    print(f"chosen dpi (tuning pages, exact lines within {args.tolerance} of best): {chosen}")
    if args.json and not args.saved:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps({"chosen": chosen, **results}, indent=2))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
