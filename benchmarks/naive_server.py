"""The naive HTTP peer: RapidOCR 3.10 behind a minimal FastAPI app, one request at a time.

This is how a typical OCR wrapper is written: one engine built at start, each request decoded
in a worker thread (``run_in_threadpool``) and run through the engine under a
``threading.Lock``, no batching, no cache. Used by benchmarks/http_bench.sh as the baseline
for ``ocr serve``. Runs INSIDE the rapidocr peer venv (benchmarks/setup_peers.sh rapidocr, plus
``pip install fastapi uvicorn python-multipart``):

    .peers/rapidocr/bin/python benchmarks/naive_server.py --port 18081 --threads 2

Engine configuration = benchmarks/peer_runner.py's RapidOcrPeer (the ONNX files inside the
wheel: PP-OCRv6 small det/rec + mobile cls, the same files as our default set;
``intra_op_num_threads=N``, ``inter_op_num_threads=1``, thread env vars via
``bench.set_thread_env``), plus the detector's side limit set to ours
(``OCR_DET_LIMIT_SIDE_LEN`` / ``OCR_DET_LIMIT_TYPE``, default 1280 / max) so both servers
detect at the same resolution; ``--det-limit-side-len 736 --det-limit-type min`` restores
RapidOCR's own default. Everything else is RapidOCR's default.

Routes: ``POST /v1/ocr`` (multipart ``file``) -> ``{"lines": [{"points", "text", "score"}],
"cached": false}``; ``GET /readyz`` -> 200 once the engine is built.
"""

from __future__ import annotations

import argparse
import os
import sys
import threading
from pathlib import Path
from typing import Any

REPO_ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO_ROOT))

from fastapi import FastAPI, File, HTTPException, UploadFile  # noqa: E402
from starlette.concurrency import run_in_threadpool  # noqa: E402

from models.eval import bench  # noqa: E402  (stdlib + psutil only: safe before thread setup)

Line = dict[str, Any]


def build_engine(threads: int, det_limit_side_len: int, det_limit_type: str) -> Any:
    """RapidOCR as in peer_runner.RapidOcrPeer (page mode), with our detector side limit."""
    import rapidocr

    models = Path(rapidocr.__file__).parent / "models"
    files = {
        "Det": models / "PP-OCRv6_det_small.onnx",
        "Cls": models / "ch_ppocr_mobile_v2.0_cls_mobile.onnx",
        "Rec": models / "PP-OCRv6_rec_small.onnx",
    }
    params: dict[str, Any] = {
        "Global.log_level": "warning",
        "EngineConfig.onnxruntime.intra_op_num_threads": threads,
        "EngineConfig.onnxruntime.inter_op_num_threads": 1,
        "Det.limit_side_len": det_limit_side_len,
        "Det.limit_type": det_limit_type,
    }
    params.update({f"{task}.model_path": str(path) for task, path in files.items()})
    engine = rapidocr.RapidOCR(params=params)
    # Sessions are created lazily; create them now, before /readyz says yes.
    engine._load_det_model()
    engine._load_cls_model()
    engine._load_rec_model()
    return engine


def create_app(threads: int, det_limit_side_len: int, det_limit_type: str) -> FastAPI:
    import cv2  # after bench.set_thread_env
    import numpy as np

    engine = build_engine(threads, det_limit_side_len, det_limit_type)
    lock = threading.Lock()
    app = FastAPI(title="naive RapidOCR wrapper")

    def predict(data: bytes) -> list[Line]:
        img = cv2.imdecode(np.frombuffer(data, np.uint8), cv2.IMREAD_COLOR)
        if img is None:
            raise HTTPException(status_code=400, detail="not an image")
        with lock:  # one engine, one request at a time
            out = engine(img)
        if out.boxes is None:
            return []
        return [
            {
                "points": [[round(float(x), 1), round(float(y), 1)] for x, y in box],
                "text": text,
                "score": round(float(score), 5),
            }
            for box, text, score in zip(out.boxes, out.txts, out.scores, strict=True)
        ]

    @app.post("/v1/ocr")
    async def ocr(file: UploadFile = File(...)) -> dict[str, Any]:  # noqa: B008
        data = await file.read()
        lines = await run_in_threadpool(predict, data)
        return {"lines": lines, "cached": False}

    @app.get("/readyz")
    async def readyz() -> dict[str, str]:
        return {"status": "ready"}

    return app


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=18081)
    parser.add_argument(
        "--threads",
        type=int,
        default=int(os.environ.get("OCR_INTRA_OP_THREADS") or 2),
        help="ONNX Runtime intra-op threads (default: OCR_INTRA_OP_THREADS or 2)",
    )
    parser.add_argument(
        "--det-limit-side-len",
        type=int,
        default=int(os.environ.get("OCR_DET_LIMIT_SIDE_LEN") or 1280),
    )
    parser.add_argument(
        "--det-limit-type",
        choices=("max", "min"),
        default=os.environ.get("OCR_DET_LIMIT_TYPE") or "max",
    )
    args = parser.parse_args(argv)
    bench.set_thread_env(args.threads)  # before onnxruntime / cv2 are imported

    import uvicorn

    app = create_app(args.threads, args.det_limit_side_len, args.det_limit_type)
    print(
        f"naive rapidocr server: threads={args.threads} det={args.det_limit_side_len}/"
        f"{args.det_limit_type} on {args.host}:{args.port}",
        flush=True,
    )
    uvicorn.run(app, host=args.host, port=args.port, access_log=False, log_level="warning")


if __name__ == "__main__":
    main()
